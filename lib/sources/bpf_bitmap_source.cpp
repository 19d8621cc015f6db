#include "dtrack/bpf_bitmap_source.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/kvm.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <limits>

#include "common/installed_docs.hpp"
#include "common/host_files.hpp"
#include "common/libbpf_log.hpp"
#include "dtrack/unique_fd.hpp"
#include "kvm_dirty_log.h"  // bpf/: the ioctls and the totals
#include "kvm_dirty_log.skel.h"
#include "sources/take_mapped_words.hpp"
#include "sources/tracepoint_hooks.hpp"

namespace dtrack {

static_assert(DTRACK_KVM_GET_DIRTY_LOG == KVM_GET_DIRTY_LOG, "bpf/kvm_dirty_log.h disagrees with <linux/kvm.h>");
static_assert(DTRACK_KVM_CLEAR_DIRTY_LOG == KVM_CLEAR_DIRTY_LOG, "bpf/kvm_dirty_log.h disagrees with <linux/kvm.h>");

namespace {

const std::string kNote = installed_doc("kconfig-notes/bpf-iterators.md");

Error refused(const std::string& step, int err, const LibbpfLogCapture& log) {
    const std::string what =
        with_libbpf_words("watching the KVM dirty bitmap: " + step + " failed: " + errno_text(err), log);
    if (err == EPERM && !may_load_tracing_bpf())
        return Error{err, what + ": this process lacks CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
                     "run as root, or give the binary CAP_BPF and CAP_PERFMON; see " +
                         installed_doc("kconfig-notes/privileges.md")};
    return Error{err, what,
                 std::string("it needs BPF iterators and raw tracepoints with kernel BTF (Linux 5.17+, "
                             "CONFIG_DEBUG_INFO_BTF=y); see ") +
                     kNote + ", or sample pages instead"};
}

// A BPF array map's values, mapped shared.
struct MappedWords {
    uint64_t* words = nullptr;
    size_t bytes = 0;
    ~MappedWords() {
        if (words) ::munmap(words, bytes);
    }
};

}  // namespace

struct BpfBitmapSource::Program {
    kvm_dirty_log_bpf* skeleton = nullptr;
    std::vector<bpf_link*> links;
    bpf_link* iterator = nullptr;
    MappedWords dirty;
    ~Program() {
        for (bpf_link* l : links) bpf_link__destroy(l);
        if (skeleton) kvm_dirty_log_bpf__destroy(skeleton);
    }
};

Result<std::unique_ptr<BpfBitmapSource>> BpfBitmapSource::attach(pid_t pid, Tracker& tracker) {
    // --- checks that change nothing ---------------------------------------------
    if (Status s = may_watch_with_bpf(pid, "sample pages instead (SampleSource), which works in any namespace"); !s)
        return s.error();
#if !defined(__x86_64__)
    return Error{ENOTSUP, "BpfBitmapSource reads the VMM's ioctl arguments from x86-64 syscall registers",
                 "sample pages instead (SampleSource) on this architecture"};
#endif
    if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return Error{ENOTSUP, "watching the KVM dirty bitmap needs kernel BTF, and this kernel has none",
                     std::string("use a kernel built with CONFIG_DEBUG_INFO_BTF=y (") + kNote + "), or sample pages"};
    std::vector<TrackedSlot> slots;
    uint64_t words_per_slot = 0;
    uint32_t slot_ids = 0;
    for (RegionId id = 0; id < tracker.region_count(); ++id) {
        const Region& r = tracker.region(id);
        if (r.space != AddressSpace::guest_physical || r.page_count == 0) continue;
        if (r.slot >= DTRACK_DIRTY_LOG_MAX_SLOTS)
            return Error{EINVAL,
                         "region '" + r.name + "' is memslot " + std::to_string(r.slot) +
                             ": BpfBitmapSource tracks "
                             "memslot ids below " +
                             std::to_string(DTRACK_DIRTY_LOG_MAX_SLOTS) + " of address space 0",
                         "leave that region out of the tracker"};
        for (const TrackedSlot& t : slots)
            if (t.slot == r.slot)
                return Error{EINVAL, "two regions for memslot " + std::to_string(r.slot), "one region per memslot"};
        const uint64_t words = (r.page_count + 63) / 64;
        slots.push_back({id, r.slot, words});
        words_per_slot = std::max(words_per_slot, words);
        slot_ids = std::max(slot_ids, r.slot + 1);
    }
    if (slots.empty())
        return Error{EINVAL, "the tracker has no guest-physical region for BpfBitmapSource to fill",
                     "add one Region per KVM memslot first, or call add_slot_regions() when the memslots are unknown"};
    if (uint64_t(slot_ids) * words_per_slot > std::numeric_limits<uint32_t>::max())
        return Error{EINVAL, "the memslot regions are too large for a BPF array", "track fewer or smaller slots"};

    // --- open, configure, load, attach ------------------------------------------
    LibbpfLogCapture log;
    auto program = std::make_unique<Program>();
    program->skeleton = kvm_dirty_log_bpf__open();
    if (!program->skeleton) return refused("opening bpf/kvm_dirty_log", errno, log);
    kvm_dirty_log_bpf& s = *program->skeleton;
    s.rodata->target_tgid = static_cast<__u32>(pid);
    s.rodata->tracked_slots = slot_ids;
    s.rodata->words_per_slot = static_cast<__u32>(words_per_slot);
    const uint32_t entries = static_cast<uint32_t>(slot_ids * words_per_slot);
    for (bpf_map* m : {s.maps.dirty_words, s.maps.reported_words})
        if (int rc = bpf_map__set_max_entries(m, entries); rc != 0) return refused("sizing its maps", -rc, log);
    if (int rc = kvm_dirty_log_bpf__load(&s); rc != 0) return refused("loading its programs", -rc, log);

    // The harvest hooks first: a VMM harvest between the first reading and
    // the hooks would otherwise go unseen.
    for (bpf_program* p : {s.progs.clear_dirty_log_enter, s.progs.dirty_log_exit}) {
        bpf_link* link = bpf_program__attach(p);
        if (!link) return refused(std::string("attaching ") + bpf_program__name(p), errno, log);
        program->links.push_back(link);
    }
    union bpf_iter_link_info info = {};
    info.task.pid = static_cast<__u32>(pid);
    LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
    program->iterator = bpf_program__attach_iter(s.progs.observe_bitmaps, &opts);
    if (!program->iterator && errno == EINVAL)
        program->iterator = bpf_program__attach_iter(s.progs.observe_bitmaps, nullptr);
    if (!program->iterator) return refused("attaching its iterator", errno, log);
    program->links.push_back(program->iterator);

    program->dirty.bytes = size_t(entries) * sizeof(uint64_t);
    void* p =
        ::mmap(nullptr, program->dirty.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(s.maps.dirty_words), 0);
    if (p == MAP_FAILED) return errno_error("mmap of BPF map dirty_words", errno);
    program->dirty.words = static_cast<uint64_t*>(p);

    std::unique_ptr<BpfBitmapSource> source(new BpfBitmapSource(pid, std::move(program), std::move(slots)));
    // The first reading: every bitmap already there is the start.
    if (Status st = source->read_bitmaps(); !st) return st.error();
    return source;
}

BpfBitmapSource::BpfBitmapSource(pid_t pid, std::unique_ptr<Program> program, std::vector<TrackedSlot> slots)
    : pid_(pid), program_(std::move(program)), slots_(std::move(slots)) {}

BpfBitmapSource::~BpfBitmapSource() = default;

Status BpfBitmapSource::read_bitmaps() {
    UniqueFd iter(bpf_iter_create(bpf_link__fd(program_->iterator)));
    if (!iter.valid()) return errno_error("bpf_iter_create (reading the KVM dirty bitmaps)", errno);
    char sink[64];
    for (;;) {  // the program writes nothing; reading runs it
        const ssize_t n = ::read(iter.get(), sink, sizeof sink);
        if (n == 0) return Ok{};
        if (n < 0 && errno != EINTR) return errno_error("reading the KVM dirty-bitmap iterator", errno);
    }
}

Result<HarvestReport> BpfBitmapSource::harvest(Tracker& tracker) {
    const auto start = std::chrono::steady_clock::now();
    HarvestReport report;
    if (Status s = read_bitmaps(); !s) return s.error();
    // The pages the programs found new, through the shared mapping.
    const uint64_t words_per_slot = program_->skeleton->rodata->words_per_slot;
    for (const TrackedSlot& t : slots_) {
        const TakenWords taken = take_mapped_words(program_->dirty.words + uint64_t(t.slot) * words_per_slot, t.words,
                                                   tracker.bitmap(t.region));
        report.new_dirty += taken.new_dirty;
        if (taken.pages) {
            report.pages += taken.pages;
            report.add_region(t.region, taken.pages);
        }
    }
    const uint64_t untracked = counters().untracked_pages;
    report.lost = untracked - last_untracked_;
    last_untracked_ = untracked;
    report.cost = std::chrono::steady_clock::now() - start;
    return report;
}

BpfBitmapCounters BpfBitmapSource::counters() const {
    const dtrack_dirty_log_totals& t = program_->skeleton->bss->totals;
    const auto load = [](const __u64& v) { return uint64_t(__atomic_load_n(&v, __ATOMIC_RELAXED)); };
    return {.readings = load(t.observations),
            .vmm_harvests = load(t.vmm_harvests),
            .pages_read = load(t.pages_observed),
            .pages_harvested = load(t.pages_harvested),
            .logging_starts = load(t.seeded_slots),
            .clean_clears = load(t.clean_clears),
            .untracked_pages = load(t.untracked_pages),
            .unreadable = load(t.unreadable)};
}

}  // namespace dtrack
