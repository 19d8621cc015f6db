// BpfSource: the dirty pages of a running VMM, seen from the kernel through
// eBPF, without touching the VMM.
//
// KVM fires the tracepoint kvm:kvm_dirty_ring_push once for every page a
// vCPU pushes into its dirty ring, in whichever VMM runs the VM (QEMU too),
// as long as the VMM uses the dirty ring. A BPF program (bpf/dirty_ring.bpf.c)
// filtered on the VMM's process sets the page's bit in a per-slot bitmap kept
// in the kernel; harvest() takes the words through a shared mapping (an
// atomic exchange per non-zero word, no syscall) and ORs them into the
// tracker's bitmaps. Nothing is queued per page, so nothing can overflow.
//
//   dtrack::Tracker tracker;
//   dtrack::add_slot_regions(tracker, 8, 1 << 20);   // or one Region per known memslot
//   auto bpf = dtrack::BpfSource::attach(pid, tracker);
//   if (!bpf) { puts(bpf.error().message().c_str()); ... }
//   dtrack::BpfSource& source = *bpf.value();
//   tracker.add_source(std::move(bpf.value()));
//   ... tracker.sync(); source.slot_usage(); source.companion_counters(); ...
//
// What it reports, per harvest:
//   pages           distinct pages dirtied since the last harvest (bits taken)
//   pages_per_vcpu  ring entries each vCPU pushed (a page re-dirtied after
//                   the VMM's ring reset counts again), index = vCPU id
//   lost            pushes that set no bit: pages outside every tracked slot
//                   (an untracked slot id, beyond a slot's capacity, or
//                   address space 1 = x86 SMM). The tracked regions stay exact;
//                   slot_usage() tells how big the slots really are.
// It is an observer: the VMM harvests and resets its own rings, and that
// reset is what re-arms KVM's write tracking (invariant 2 is the VMM's).
//
// Hooks: raw tracepoints first (by name; no tracefs); when the kernel
// refuses them, classic tracepoints, mounting tracefs at /sys/kernel/tracing
// if nothing is mounted (notes() says so). Needs root or CAP_BPF+CAP_PERFMON.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dtrack/bpf_hooks.hpp"
#include "dtrack/source.hpp"
#include "dtrack/stuck_vcpus.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

class DTRACK_INTERNAL DirtyRingProgram;  // internal to the library

struct BpfSourceOptions {
    BpfHooks hooks = BpfHooks::automatic;
    uint32_t max_vcpus = 1024;        // per-vCPU counters for vCPU ids below this
    uint32_t watched_slot_ids = 512;  // slot ids whose size is learnt (slot_usage), tracked or not
    bool count_user_faults = true;    // hook exceptions:page_fault_user (x86) for the process's own writes
};

// The events around the dirty ring. Counters only grow.
struct BpfCompanionCounters {
    std::vector<uint64_t> full_exits_per_vcpu;  // kvm_dirty_ring_exit: KVM_EXIT_DIRTY_RING_FULL
    std::vector<uint64_t> resets_per_ring;      // kvm_dirty_ring_reset: a KVM_RESET_DIRTY_RINGS pass over the ring
    uint64_t unknown_vcpu_events = 0;           // events of a vCPU id >= max_vcpus (or unreadable)
    // exceptions:page_fault_user of the process: an ESTIMATE of its own
    // (host-side) writes: it counts write faults (the first write to a page
    // that is not writable yet), not writes or pages.
    bool user_faults_hooked = false;
    uint64_t user_faults = 0;
    uint64_t user_write_faults = 0;
};

// Pushes that set no bit, by cause. Only grow.
struct BpfLostCounters {
    uint64_t address_space = 0;  // address space id != 0
    uint64_t slot = 0;           // a memslot id the tracker has no region for
    uint64_t offset = 0;         // beyond the region's page count

    uint64_t total() const { return address_space + slot + offset; }
};

// One memslot id that has a region or had pushes.
struct BpfSlotUsage {
    uint32_t slot = 0;
    bool tracked = false;   // the tracker has a region for it
    RegionId region = 0;    // when tracked
    uint64_t capacity = 0;  // the region's pages
    uint64_t seen_end = 0;  // highest page offset pushed + 1: a lower bound of the slot's real size
};

class BpfSource : public Source {
public:
    // Loads and attaches the BPF programs for process `pid`. `tracker` must
    // hold a guest_physical Region per KVM memslot to track (Region::slot =
    // the slot id, address space 0; page_count = its pages); regions added
    // later are not seen. Changes nothing and loads nothing when the PID does
    // not exist or this process may not load BPF.
    static Result<std::unique_ptr<BpfSource>> attach(pid_t pid, Tracker& tracker, BpfSourceOptions options = {});
    ~BpfSource() override;

    std::string name() const override { return "bpf"; }
    Result<HarvestReport> harvest(Tracker& tracker) override;

    // The accessors below read the programs' counters live, from any thread.
    pid_t pid() const { return pid_; }
    // "raw tracepoints" or "tracepoints".
    std::string hooked_with() const;
    // What a user should know about the attach: hooks that did not attach and
    // why, the fallback taken, a tracefs mount.
    const std::vector<std::string>& notes() const { return notes_; }

    BpfCompanionCounters companion_counters() const;
    BpfLostCounters lost_counters() const;
    // Tracked slots and every watched slot id that had pushes, by slot id.
    std::vector<BpfSlotUsage> slot_usage() const;
    // vCPUs whose ring-full exit has waited at least `threshold`, now, for
    // the VMM to reset their ring (stuck_vcpus.hpp), by vCPU id. Needs the
    // kvm_dirty_ring_exit and _reset hooks (notes() says when one is missing).
    std::vector<StuckVcpu> stuck_vcpus(std::chrono::nanoseconds threshold = default_stuck_vcpu_threshold) const;

private:
    struct TrackedSlot {
        RegionId region;
        uint32_t slot;
        uint64_t words;  // of the region: pages rounded up to 64
    };
    BpfSource(pid_t pid, std::unique_ptr<DirtyRingProgram> program, std::vector<TrackedSlot> slots,
              std::vector<std::string> notes);

    pid_t pid_;
    std::unique_ptr<DirtyRingProgram> program_;
    std::vector<TrackedSlot> slots_;
    std::vector<std::string> notes_;
    bool user_faults_hooked_ = false;
    // What the previous harvest saw, for deltas.
    std::vector<uint64_t> last_pushes_;  // index = vCPU id
    uint64_t last_lost_ = 0;
};

// Adds guest_physical regions "slot 0".."slot N-1" of `pages_per_slot` pages
// each (base 0: the guest-physical addresses are unknown), for when the VMM's
// memslots are not known: BpfSource::slot_usage() then tells their real
// sizes. Returns the first region's id; refuses more slots than KVM has
// (Tracker::max_slot_ids) and then adds none.
Result<RegionId> add_slot_regions(Tracker& tracker, uint32_t slots, uint64_t pages_per_slot);

}  // namespace dtrack

DTRACK_PUBLIC_END
