#include "sources/dirty_ring_program.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <limits>

#include "common/installed_docs.hpp"
#include "dirty_ring.skel.h"
#include "common/libbpf_log.hpp"

namespace dtrack {

namespace {

constexpr DirtyRingHook all_hooks[] = {DirtyRingHook::push, DirtyRingHook::full_exit, DirtyRingHook::reset,
                                       DirtyRingHook::user_fault};

bpf_program* program_of(const dirty_ring_bpf* s, DirtyRingHook hook, HookFamily family) {
    const bool raw = family == HookFamily::raw_tracepoint;
    switch (hook) {
        case DirtyRingHook::push: return raw ? s->progs.dirty_ring_push_raw : s->progs.dirty_ring_push_tp;
        case DirtyRingHook::full_exit: return raw ? s->progs.dirty_ring_exit_raw : s->progs.dirty_ring_exit_tp;
        case DirtyRingHook::reset: return raw ? s->progs.dirty_ring_reset_raw : s->progs.dirty_ring_reset_tp;
        case DirtyRingHook::user_fault: return raw ? s->progs.page_fault_user_raw : s->progs.page_fault_user_tp;
    }
    return nullptr;
}

// The programs update these concurrently. (Templated: the maps hold __u64,
// which is unsigned long long, not uint64_t's unsigned long.)
template <typename T>
T load_relaxed(const T& v) {
    return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

}  // namespace

const char* tracepoint_name(DirtyRingHook hook) {
    switch (hook) {
        case DirtyRingHook::push: return "kvm:kvm_dirty_ring_push";
        case DirtyRingHook::full_exit: return "kvm:kvm_dirty_ring_exit";
        case DirtyRingHook::reset: return "kvm:kvm_dirty_ring_reset";
        case DirtyRingHook::user_fault: return "exceptions:page_fault_user";
    }
    return "?";
}

uint32_t DirtyRingLayout::bitmap_slots() const {
    uint32_t n = 0;
    for (uint32_t id = 0; id < capacity.size(); ++id)
        if (capacity[id]) n = id + 1;
    return n;
}

// A mapped map: unmapped with the program.
struct DirtyRingProgram::Mapping {
    void* base = nullptr;
    size_t bytes = 0;
    ~Mapping() {
        if (base) ::munmap(base, bytes);
    }
};

Result<std::unique_ptr<DirtyRingProgram>> DirtyRingProgram::open() {
    LibbpfLogCapture log;
    std::unique_ptr<DirtyRingProgram> p(new DirtyRingProgram);
    p->skeleton_ = dirty_ring_bpf__open();
    if (!p->skeleton_) {
        const int err = errno;
        return Error{err, with_libbpf_words(errno_error("opening the dirty_ring BPF object", err).what, log), {}};
    }
    return p;
}

DirtyRingProgram::~DirtyRingProgram() {
    // Detach first, so nothing writes into the maps as they go away.
    for (bpf_link* link : links_) bpf_link__destroy(link);
    mappings_.clear();
    if (skeleton_) dirty_ring_bpf__destroy(skeleton_);
}

Status DirtyRingProgram::configure(const DirtyRingLayout& layout, HookFamily family) {
    const uint32_t bitmap_slots = layout.bitmap_slots();
    if (bitmap_slots == 0)
        return Error{EINVAL, "no memslot to track (every slot capacity is 0)", "give at least one slot a capacity"};
    if (layout.capacity.size() > 65536)
        return Error{EINVAL, "memslot ids go up to 65535", "watch at most 65536 slot ids"};
    for (uint64_t c : layout.capacity)
        if (c > uint64_t(layout.words_per_slot) * DTRACK_BITS_PER_WORD)
            return Error{EINVAL,
                         "a slot capacity of " + std::to_string(c) + " pages exceeds " +
                             std::to_string(layout.words_per_slot) + " words per slot",
                         {}};
    const uint64_t words = uint64_t(bitmap_slots) * layout.words_per_slot;
    if (words > std::numeric_limits<uint32_t>::max() / sizeof(uint64_t) || layout.max_vcpus == 0)
        return Error{EINVAL,
                     "BPF map sizes out of range: " + std::to_string(words) + " bitmap words, " +
                         std::to_string(layout.max_vcpus) + " vCPUs",
                     "track fewer or smaller slots"};
    layout_ = layout;
    family_ = family;

    skeleton_->rodata->target_tgid = static_cast<__u32>(layout.target_tgid);
    skeleton_->rodata->words_per_slot = layout.words_per_slot;
    struct Size {
        bpf_map* map;
        uint64_t entries;
    };
    for (Size s : {Size{skeleton_->maps.dirty_words, words}, Size{skeleton_->maps.slots, layout.capacity.size()},
                   Size{skeleton_->maps.vcpus, layout.max_vcpus}}) {
        if (int rc = bpf_map__set_max_entries(s.map, static_cast<__u32>(s.entries)); rc != 0)
            return Error{-rc, errno_error(std::string("sizing BPF map ") + bpf_map__name(s.map), -rc).what, {}};
    }
    // Only this family's entry points load; the user-fault hook is optional.
    for (HookFamily f : {HookFamily::raw_tracepoint, HookFamily::tracepoint})
        for (DirtyRingHook hook : all_hooks) {
            const bool wanted = f == family && (hook != DirtyRingHook::user_fault || layout.user_faults);
            bpf_program__set_autoload(program_of(skeleton_, hook, f), wanted);
        }
    return Ok{};
}

Result<void*> DirtyRingProgram::map_array(const char* what, int map_fd, size_t bytes) {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    auto m = std::make_unique<Mapping>();
    m->bytes = (bytes + page - 1) / page * page;
    void* p = ::mmap(nullptr, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (p == MAP_FAILED) return Error{errno, errno_error(std::string("mmap of BPF map ") + what, errno).what, {}};
    m->base = p;
    mappings_.push_back(std::move(m));
    return p;
}

Status DirtyRingProgram::load() {
    LibbpfLogCapture log;
    if (int rc = dirty_ring_bpf__load(skeleton_); rc != 0)
        return load_refused("the dirty_ring BPF programs", family_, -rc, log);
    loaded_ = true;

    const uint32_t words = layout_.bitmap_slots() * layout_.words_per_slot;
    auto w = map_array("dirty_words", bpf_map__fd(skeleton_->maps.dirty_words), words * sizeof(uint64_t));
    if (!w) return w.error();
    auto s = map_array("slots", bpf_map__fd(skeleton_->maps.slots), layout_.capacity.size() * sizeof(dtrack_slot));
    if (!s) return s.error();
    auto v = map_array("vcpus", bpf_map__fd(skeleton_->maps.vcpus), layout_.max_vcpus * sizeof(dtrack_vcpu_counters));
    if (!v) return v.error();
    words_ = static_cast<uint64_t*>(*w);
    slots_ = static_cast<dtrack_slot*>(*s);
    vcpus_ = static_cast<dtrack_vcpu_counters*>(*v);
    // Not attached yet: nothing reads these concurrently.
    for (uint32_t id = 0; id < layout_.capacity.size(); ++id) slots_[id].capacity = layout_.capacity[id];
    return Ok{};
}

Result<std::vector<HookStatus>> DirtyRingProgram::attach() {
    std::vector<HookStatus> statuses;
    for (DirtyRingHook hook : all_hooks) {
        bpf_program* program = program_of(skeleton_, hook, family_);
        if (!bpf_program__autoload(program)) continue;
        LibbpfLogCapture log;
        bpf_link* link = bpf_program__attach(program);
        if (link) {
            links_.push_back(link);
            statuses.push_back({hook, true, {}});
            continue;
        }
        const int err = errno;
        std::string why = with_libbpf_words(
            errno_error(std::string("attaching to ") + tracepoint_name(hook) + " as a " + hook_family_name(family_),
                        err)
                .what,
            log);
        if (err == ENOENT)
            why += hook == DirtyRingHook::user_fault ? ": no such tracepoint (it exists on x86 only)"
                                                     : ": no such tracepoint (KVM not loaded?)";
        if (hook != DirtyRingHook::push) {
            statuses.push_back({hook, false, why});
            continue;
        }
        // Without the push hook there is nothing to track.
        for (bpf_link* l : links_) bpf_link__destroy(l);
        links_.clear();
        const std::string fix =
            err == ENOENT ? "load KVM (modprobe kvm_intel or kvm_amd; the tracepoints come with the dirty ring, "
                            "Linux >= 5.11); see " +
                                installed_doc("kconfig-notes/kvm-tracepoints.md")
                          : std::string("see ") + hook_family_note(family_);
        return Error{err, why, fix};
    }
    return statuses;
}

std::span<uint64_t> DirtyRingProgram::slot_words(uint32_t id) {
    if (!words_ || id >= layout_.bitmap_slots()) return {};
    return {words_ + uint64_t(id) * layout_.words_per_slot, layout_.words_per_slot};
}

uint64_t DirtyRingProgram::seen_end(uint32_t id) const {
    if (!slots_ || id >= layout_.capacity.size()) return 0;
    return load_relaxed(slots_[id].seen_end);
}

dtrack_vcpu_counters DirtyRingProgram::vcpu(uint32_t index) const {
    if (!vcpus_ || index >= layout_.max_vcpus) return {};
    const dtrack_vcpu_counters& c = vcpus_[index];
    return {load_relaxed(c.pushes), load_relaxed(c.full_exits), load_relaxed(c.resets),
            load_relaxed(c.full_pending_since_ns), load_relaxed(c.full_exits_before_pending)};
}

dtrack_dirty_ring_totals DirtyRingProgram::totals() const {
    if (!loaded_) return {};
    const dtrack_dirty_ring_totals& t = skeleton_->bss->totals;
    return {load_relaxed(t.lost_address_space), load_relaxed(t.lost_slot),   load_relaxed(t.lost_offset),
            load_relaxed(t.unknown_vcpu),       load_relaxed(t.user_faults), load_relaxed(t.user_write_faults)};
}

int DirtyRingProgram::program_fd(DirtyRingHook hook) const {
    if (!loaded_) return -1;
    bpf_program* program = program_of(skeleton_, hook, family_);
    return bpf_program__autoload(program) ? bpf_program__fd(program) : -1;
}

}  // namespace dtrack
