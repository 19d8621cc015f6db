// KvmRingSource: harvests KVM's per-vCPU dirty rings (KVM_CAP_DIRTY_LOG_RING).
//
// Life cycle, as the VMM sees it:
//   auto ring = KvmRingSource::enable(vm_fd, tracker, {.entries = 4096});  // before any vCPU
//   ring->add_vcpu(vcpu_fd, 0); ...                                        // after KVM_CREATE_VCPU
//   tracker.add_source(std::move(ring));
//   vCPU thread, on KVM_EXIT_DIRTY_RING_FULL:  ring.on_ring_full(index);
//   ring.start_reaper();   // harvests while the vCPUs run
//
// Each harvest reads every ring in order (load-acquire of the flags), stages
// the pages, flags the entries for reset (store-release), calls
// KVM_RESET_DIRTY_RINGS, which write-protects the pages again, and only then
// marks them in the bitmaps, where a consumer may take them (invariant 2: a
// page taken while still writable could be written again unseen).
//
// A ring can overflow when a vCPU runs under KVM's instruction emulator
// (DESIGN.md): entries are overwritten and the ring jams. The source detects
// it (a pass that fills the whole ring, a reset count that disagrees, a full
// exit with nothing to harvest), counts the event, re-synchronizes with the
// kernel's ring, and marks every slot wholly dirty. The pages of the lost
// entries were never write-protected again, so later writes to them would go
// unseen: the VMM's `rearm` callback write-protects all memory again (turn
// KVM_MEM_LOG_DIRTY_PAGES off and on per slot); without one, every later
// harvest marks every slot dirty too (never lose, at the price of precision).
//
// KVM_RESET_DIRTY_RINGS runs with the calling thread's catchable signals
// held back: newer kernels stop a reset when a signal is pending and leave up
// to 64 of the pages just reset writable. A reset cut short all the same
// (SIGSTOP) is finished and then handled as a jam.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "dtrack/source.hpp"
#include "dtrack/tracker.hpp"

struct kvm_dirty_gfn;

namespace dtrack {

struct KvmRingOptions {
    uint32_t entries = 4096;         // per vCPU; a power of two >= 256, at most the kernel's maximum
    bool acq_rel = true;             // prefer KVM_CAP_DIRTY_LOG_RING_ACQ_REL, fall back to _RING
    // The reaper aims to harvest a ring when it is about this full.
    double reaper_target_fill = 0.25;
    std::chrono::microseconds reaper_min_period{500};
    std::chrono::microseconds reaper_max_period{200'000};
    // Write-protects all tracked memory again (the VMM owns the memslots).
    std::function<Status()> rearm;
    // Runs after the rings were read and before KVM_RESET_DIRTY_RINGS, with
    // the source's lock held; for tests of the publish order (invariant 2).
    std::function<void()> before_reset;
};

struct KvmRingCounters {
    uint64_t full_exits = 0;     // KVM_EXIT_DIRTY_RING_FULL handled
    uint64_t resets = 0;         // KVM_RESET_DIRTY_RINGS calls
    uint64_t short_resets = 0;   // calls that left flagged entries behind (SIGSTOP on newer kernels; out of step)
    uint64_t entries_reset = 0;  // what those calls reported
    uint64_t jams = 0;           // overflows/jams detected and recovered
    uint64_t rearms = 0;         // memory write-protected again after a jam
    bool blind = false;          // a jam without a way to re-arm: every harvest now marks everything
    uint64_t reaper_passes = 0;
};

class KvmRingSource : public Source {
public:
    // Enables the dirty ring on `vm_fd`; must run before the first KVM_CREATE_VCPU.
    // `tracker` must already hold a region per memslot (Region::slot).
    static Result<std::unique_ptr<KvmRingSource>> enable(int vm_fd, Tracker& tracker, KvmRingOptions options = {});
    ~KvmRingSource() override;

    // Maps the ring of vCPU `index` (its KVM vcpu id). Once per vCPU.
    Status add_vcpu(int vcpu_fd, uint32_t index);

    std::string name() const override { return "kvm-ring"; }
    Result<HarvestReport> harvest(Tracker& tracker) override;

    // For the vCPU thread after KVM_EXIT_DIRTY_RING_FULL: empties the rings so
    // the next KVM_RUN can go on. The pages land in the bitmaps at once; their
    // counts are reported by the next harvest().
    Status on_ring_full(uint32_t index);

    // A thread that harvests while the vCPUs run, more often as rings fill faster.
    void start_reaper();
    void stop_reaper();

    uint32_t entries() const { return entries_; }
    bool acq_rel() const { return acq_rel_; }
    KvmRingCounters ring_counters() const;

private:
    struct Ring {
        uint32_t index = 0;          // vCPU id
        kvm_dirty_gfn* gfns = nullptr;
        uint32_t fetch = 0;          // next entry to read (free-running)
        uint32_t flagged = 0;        // entries flagged for reset since the last KVM_RESET_DIRTY_RINGS
    };

    KvmRingSource(int vm_fd, Tracker& tracker, uint32_t entries, bool acq_rel, KvmRingOptions options);

    // Drains every ring and resets; adds to `pending_`. Caller holds mutex_.
    Status drain_locked(bool after_full_exit, uint32_t full_index);
    // An entry read from a ring, waiting for KVM_RESET_DIRTY_RINGS.
    struct Staged {
        uint32_t slot;
        uint64_t offset;
        uint32_t vcpu;
    };
    uint32_t drain_ring(Ring& ring);  // reads and stages entries; returns how many
    void publish_staged();            // marks the staged pages (after the reset)
    void publish(const Staged& entry);
    bool resync_ring(Ring& ring);              // true when the ring was out of step
    // KVM_RESET_DIRTY_RINGS for the entries flagged so far: 0 in step,
    // 1 when the kernel reset a different number or was cut short, -errno
    // on failure.
    int reset_rings();
    uint64_t flagged_not_reset() const;  // flagged entries the kernel has not reset yet
    void mark_everything_dirty();
    void reaper_loop();

    int vm_fd_;
    Tracker& tracker_;
    uint32_t entries_;
    bool acq_rel_;
    KvmRingOptions options_;
    std::vector<RegionId> slot_to_region_;  // by memslot id; ~0u = unknown

    mutable std::mutex mutex_;  // one drain at a time: reaper, vCPU threads, sync
    std::vector<std::unique_ptr<Ring>> rings_;
    HarvestReport pending_;     // harvested but not yet reported
    std::vector<Staged> staged_;  // read but not yet published (see drain_locked)
    bool unplaceable_ = false;    // staged entries included one outside every region
    std::optional<Error> reaper_error_;  // a failed reaper pass, reported by the next harvest()
    KvmRingCounters counters_;

    std::thread reaper_;
    std::mutex reaper_mutex_;
    std::condition_variable reaper_wake_;
    bool reaper_stop_ = false;
};

}  // namespace dtrack
