#include "dtrack/bpf_source.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <limits>

#include "dtrack/target_process.hpp"
#include "common/host_files.hpp"
#include "sources/dirty_ring_program.hpp"
#include "sources/take_mapped_words.hpp"
#include "sources/tracepoint_hooks.hpp"

namespace dtrack {

namespace {

constexpr uint32_t max_slot_id = 0xffff;  // the low 16 bits of KVM's slot: address space 0

// One rung of the attach ladder: open, configure, load, attach. Hooks other
// than the push that did not attach are added to `notes`.
Result<std::unique_ptr<DirtyRingProgram>> hook_with(HookFamily family, const DirtyRingLayout& layout,
                                                    std::vector<std::string>& notes, bool& user_faults_hooked) {
    auto program = DirtyRingProgram::open();
    if (!program) return program.error();
    if (Status s = program.value()->configure(layout, family); !s) return s.error();
    if (Status s = program.value()->load(); !s) return s.error();
    auto hooks = program.value()->attach();
    if (!hooks) return hooks.error();
    user_faults_hooked = false;
    for (const HookStatus& h : hooks.value()) {
        if (h.hook == DirtyRingHook::user_fault) user_faults_hooked = h.attached;
        if (!h.attached) notes.push_back(h.why_not + ": its counter stays 0");
    }
    return std::move(program.value());
}

}  // namespace

Result<std::unique_ptr<BpfSource>> BpfSource::attach(pid_t pid, Tracker& tracker, BpfSourceOptions options) {
    // --- checks that change nothing -------------------------------------------
    const std::string pid_text = std::to_string(pid);
    if (Status s = may_watch_with_bpf(pid, "sample pages instead (SampleSource), which works in any namespace"); !s)
        return s.error();

    // --- the BPF layout from the tracker's memslot regions ------------------------
    std::vector<TrackedSlot> slots;
    uint64_t words_per_slot = 0;
    uint32_t slot_ids = options.watched_slot_ids;
    for (RegionId id = 0; id < tracker.region_count(); ++id) {
        const Region& r = tracker.region(id);
        if (r.space != AddressSpace::guest_physical || r.page_count == 0) continue;
        if (r.slot > max_slot_id)
            return Error{EINVAL,
                         "region '" + r.name + "' is memslot " + std::to_string(r.slot & max_slot_id) +
                             " of address space " + std::to_string(r.slot >> 16) +
                             ": BpfSource tracks address space 0 only",
                         "leave that region out of the tracker"};
        for (const TrackedSlot& t : slots)
            if (t.slot == r.slot)
                return Error{EINVAL, "two regions for memslot " + std::to_string(r.slot), "one region per memslot"};
        const uint64_t words = (r.page_count + DTRACK_BITS_PER_WORD - 1) / DTRACK_BITS_PER_WORD;
        slots.push_back({id, r.slot, words});
        words_per_slot = std::max(words_per_slot, words);
        slot_ids = std::max(slot_ids, r.slot + 1);
    }
    if (slots.empty())
        return Error{EINVAL, "the tracker has no guest-physical region for BpfSource to fill",
                     "add one Region per KVM memslot first, or call add_slot_regions() when the memslots are unknown"};
    if (words_per_slot > std::numeric_limits<uint32_t>::max())
        return Error{EINVAL, "a region of " + std::to_string(words_per_slot * 64) + " pages is too large for BPF",
                     "split it into smaller slots"};

    DirtyRingLayout layout{.target_tgid = pid,
                           .capacity = std::vector<uint64_t>(slot_ids, 0),
                           .words_per_slot = static_cast<uint32_t>(words_per_slot),
                           .max_vcpus = options.max_vcpus,
                           .user_faults = options.count_user_faults};
    for (const TrackedSlot& t : slots) layout.capacity[t.slot] = tracker.region(t.region).page_count;

    // --- the ladder: raw tracepoints, then tracepoints -------------------------
    HookLadder ladder;
    for (HookFamily family : hook_rungs(options.hooks)) {
        std::vector<std::string> notes;
        if (!ladder.prepare(family, notes)) continue;
        bool user_faults_hooked = false;
        auto program = hook_with(family, layout, notes, user_faults_hooked);
        if (!program) {
            ladder.failed(family, program.error(), notes);
            continue;
        }
        ladder.note_fallback(family, notes);
        std::unique_ptr<BpfSource> source(
            new BpfSource(pid, std::move(program.value()), std::move(slots), std::move(notes)));
        source->user_faults_hooked_ = user_faults_hooked;
        return source;
    }
    return ladder.error("cannot hook kvm:kvm_dirty_ring_push for process " + pid_text);
}

BpfSource::BpfSource(pid_t pid, std::unique_ptr<DirtyRingProgram> program, std::vector<TrackedSlot> slots,
                     std::vector<std::string> notes)
    : pid_(pid),
      program_(std::move(program)),
      slots_(std::move(slots)),
      notes_(std::move(notes)),
      last_pushes_(program_->layout().max_vcpus, 0) {}

BpfSource::~BpfSource() = default;

std::string BpfSource::hooked_with() const {
    return program_->family() == HookFamily::raw_tracepoint ? "raw tracepoints" : "tracepoints";
}

Result<HarvestReport> BpfSource::harvest(Tracker& tracker) {
    const auto start = std::chrono::steady_clock::now();
    HarvestReport report;

    // The bitmaps, through the shared mapping (take_mapped_words.hpp).
    for (const TrackedSlot& t : slots_) {
        const TakenWords taken =
            take_mapped_words(program_->slot_words(t.slot).data(), t.words, tracker.bitmap(t.region));
        report.new_dirty += taken.new_dirty;
        if (taken.pages) {
            report.pages += taken.pages;
            report.add_region(t.region, taken.pages);
        }
    }

    // Per-vCPU pushes and lost pushes: deltas of the programs' counters.
    for (uint32_t v = 0; v < last_pushes_.size(); ++v) {
        const uint64_t pushes = program_->vcpu(v).pushes;
        if (pushes != last_pushes_[v]) report.add_vcpu(v, pushes - last_pushes_[v]);
        last_pushes_[v] = pushes;
    }
    const uint64_t lost = lost_counters().total();
    report.lost = lost - last_lost_;
    last_lost_ = lost;

    report.cost = std::chrono::steady_clock::now() - start;
    return report;
}

BpfCompanionCounters BpfSource::companion_counters() const {
    BpfCompanionCounters c;
    for (uint32_t v = 0; v < program_->layout().max_vcpus; ++v) {
        const dtrack_vcpu_counters counters = program_->vcpu(v);
        if (!counters.pushes && !counters.full_exits && !counters.resets) continue;
        c.full_exits_per_vcpu.resize(v + 1, 0);
        c.resets_per_ring.resize(v + 1, 0);
        c.full_exits_per_vcpu[v] = counters.full_exits;
        c.resets_per_ring[v] = counters.resets;
    }
    const dtrack_dirty_ring_totals totals = program_->totals();
    c.unknown_vcpu_events = totals.unknown_vcpu;
    c.user_faults_hooked = user_faults_hooked_;
    c.user_faults = totals.user_faults;
    c.user_write_faults = totals.user_write_faults;
    return c;
}

BpfLostCounters BpfSource::lost_counters() const {
    const dtrack_dirty_ring_totals totals = program_->totals();
    return {totals.lost_address_space, totals.lost_slot, totals.lost_offset};
}

std::vector<BpfSlotUsage> BpfSource::slot_usage() const {
    std::vector<BpfSlotUsage> usage;
    const std::vector<uint64_t>& capacity = program_->layout().capacity;
    for (uint32_t id = 0; id < capacity.size(); ++id) {
        BpfSlotUsage u{
            .slot = id, .tracked = capacity[id] > 0, .capacity = capacity[id], .seen_end = program_->seen_end(id)};
        if (!u.tracked && !u.seen_end) continue;
        for (const TrackedSlot& t : slots_)
            if (t.slot == id) u.region = t.region;
        usage.push_back(u);
    }
    return usage;
}

std::vector<StuckVcpu> BpfSource::stuck_vcpus(std::chrono::nanoseconds threshold) const {
    std::vector<VcpuRingState> pending;
    for (uint32_t v = 0; v < program_->layout().max_vcpus; ++v) {
        const dtrack_vcpu_counters c = program_->vcpu(v);
        if (c.full_pending_since_ns)
            pending.push_back({.vcpu = v,
                               .full_exits = c.full_exits,
                               .full_pending_since = std::chrono::nanoseconds(c.full_pending_since_ns),
                               .full_exits_before_pending = c.full_exits_before_pending});
    }
    // bpf_ktime_get_ns is CLOCK_MONOTONIC, which steady_clock reads on Linux.
    return find_stuck_vcpus(pending, std::chrono::steady_clock::now().time_since_epoch(), threshold);
}

Result<RegionId> add_slot_regions(Tracker& tracker, uint32_t slots, uint64_t pages_per_slot) {
    if (slots > Tracker::max_slot_ids)
        return Error{EINVAL,
                     std::to_string(slots) + " memslots asked for; KVM has at most " +
                         std::to_string(Tracker::max_slot_ids) + " per address space",
                     "ask for at most " + std::to_string(Tracker::max_slot_ids) + " slots"};
    const RegionId first = static_cast<RegionId>(tracker.region_count());
    for (uint32_t s = 0; s < slots; ++s) {
        auto added = tracker.add_region(Region{.name = "slot " + std::to_string(s),
                                               .space = AddressSpace::guest_physical,
                                               .slot = s,
                                               .base = 0,
                                               .page_size = 4096,
                                               .page_count = pages_per_slot});
        if (!added) return added.error();  // not reached: the ids were checked above
    }
    return first;
}

}  // namespace dtrack
