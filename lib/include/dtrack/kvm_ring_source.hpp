// KvmRingSource: harvests KVM's per-vCPU dirty rings (KVM_CAP_DIRTY_LOG_RING).
//
// Life cycle, as the VMM sees it:
//   auto ring = KvmRingSource::enable(vm_fd, tracker, {.entries = 4096});  // before any vCPU
//   ring->add_vcpu(vcpu_fd, 0); ...                                        // after KVM_CREATE_VCPU
//   tracker.add_source(std::move(ring));
//   vCPU thread, on KVM_EXIT_DIRTY_RING_FULL:  ring.on_ring_full(index);
//     (or on_ring_full(index, FullExitReap::own_ring) where vCPUs sleep at full exits)
//   ring.start_reaper();   // harvests while the vCPUs run
//
// A thin shell: KvmDirtyRings (lib/sources) owns the ioctls and mappings,
// DirtyRingReader the protocol, which a model of the kernel tests without
// /dev/kvm (tests/ring_model). In short: each harvest reads every ring,
// flags the entries for reset, calls KVM_RESET_DIRTY_RINGS (which
// write-protects the pages again) with catchable signals held back, and only
// then marks the pages in the bitmaps (invariant 2). A ring that jams (an
// overflow under KVM's instruction emulator, docs/ARCHITECTURE.md §6, or a reset cut short)
// is detected, counted and re-synchronized; the VMM's `rearm` callback
// write-protects all memory again (turn KVM_MEM_LOG_DIRTY_PAGES off and on
// per slot) and every slot is marked wholly dirty; without one, every later
// harvest marks every slot dirty too (never lose, at the price of precision).
//
// Hot-page deferral (Tracker::take_keeping) cannot spare the guest faults
// here: the reset re-protects every page whose entry was harvested, whether
// or not the consumer then takes it, so each rewrite of a kept page faults
// and pushes a ring entry again (prepare_take_keeping is the default: a
// no-op, as the re-protection already happened).
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
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

class DTRACK_INTERNAL DirtyRingReader;  // internal to the library
class DTRACK_INTERNAL KvmDirtyRings;    // internal to the library

struct KvmRingOptions {
    uint32_t entries = 4096;  // per vCPU; a power of two >= 256, at most the kernel's maximum
    bool acq_rel = true;      // prefer KVM_CAP_DIRTY_LOG_RING_ACQ_REL, fall back to _RING
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

// What a full exit empties. every_ring: every vCPU's ring (the others'
// entries are read early; nothing is lost either way). own_ring: only the
// exiting vCPU's, as QEMU does while its dirty limit is in service: a vCPU
// that sleeps at its own full exits must reach them, and emptying its ring
// at another vCPU's exit would spare it its sleep (and re-protect pages it
// would otherwise rewrite without a fault).
enum class FullExitReap { every_ring, own_ring };

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
    // The same, emptying only the rings `reap` names (FullExitReap).
    Status on_ring_full(uint32_t index, FullExitReap reap);

    // A thread that harvests while the vCPUs run, more often as rings fill faster.
    void start_reaper();
    void stop_reaper();

    uint32_t entries() const;
    bool acq_rel() const;
    KvmRingCounters ring_counters() const;

private:
    KvmRingSource(std::unique_ptr<KvmDirtyRings> rings, Tracker& tracker, KvmRingOptions options);
    void reaper_loop();

    std::unique_ptr<KvmDirtyRings> rings_;  // before reader_: the reader reads its mappings
    std::unique_ptr<DirtyRingReader> reader_;
    KvmRingOptions options_;

    std::thread reaper_;
    std::mutex reaper_mutex_;
    std::condition_variable reaper_wake_;
    bool reaper_stop_ = false;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
