// DirtyRingReader: the ring protocol of KVM_CAP_DIRTY_LOG_RING, from the
// reading side, over any DirtyRingKernel (the real rings or a model).
//
// Each drain reads every ring in order (a full exit's may read its own
// only: FullExitReap::own_ring) (load-acquire of the flags), stages
// the pages, flags the entries for reset (store-release), calls the kernel's
// reset, which write-protects the pages again, and only then marks them in
// the bitmaps, where a consumer may take them (invariant 2: a page taken
// while still writable could be written again unseen). Staging gathers the
// pages by memslot and 64-page word (StagedPages), so marking costs one
// atomic OR per word, not per entry.
//
// A ring can jam: KVM's instruction emulator can push past the ring's end
// and overwrite entries not yet read (docs/ARCHITECTURE.md §6), or a reset can be cut short
// and leave pages writable. The reader detects it (a pass that fills the
// whole ring, a reset count that disagrees, a full exit with nothing read
// from that ring since its previous full exit), counts it, re-synchronizes
// with the kernel's ring, calls the VMM's `rearm` to write-protect all
// memory again and marks every slot wholly dirty.
// Without a `rearm`, every later harvest marks every slot dirty (never lose,
// at the price of precision).
//
// Threads: every call takes one lock; a reaper, the vCPU threads (full exits)
// and the tracker's sync may call at once.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "dtrack/kvm_ring_source.hpp"
#include "sources/dirty_ring_kernel.hpp"
#include "sources/staged_pages.hpp"

namespace dtrack {

class DirtyRingReader {
public:
    // `tracker` must already hold a region per memslot (Region::slot). Of
    // `options`, the reader uses `rearm` and `before_reset`.
    DirtyRingReader(DirtyRingKernel& kernel, Tracker& tracker, KvmRingOptions options);

    // A vCPU's ring, read from its first entry on. Once per vCPU.
    void add_ring(DirtyRingMemory ring);

    // Drains every ring, resets, publishes; reports everything published
    // since the last harvest (full exits and reaper passes included).
    Result<HarvestReport> harvest();

    // After KVM_EXIT_DIRTY_RING_FULL on vCPU `vcpu`: empties the rings (every
    // one, or its own: FullExitReap) so it can run again. Its pages are
    // counted by the next harvest().
    Status on_ring_full(uint32_t vcpu, FullExitReap reap = FullExitReap::every_ring);

    // One pass of a reaper: drains like harvest() but keeps the report for
    // the next harvest() (an error too, see unreported_error_). Returns the
    // most entries read from one ring, for the reaper's pace.
    uint32_t reap();

    KvmRingCounters counters() const;

private:
    struct Ring {
        DirtyRingMemory memory;
        uint32_t fetch = 0;    // next entry to read (free-running)
        uint32_t flagged = 0;  // entries flagged for reset since the last reset
        // After an overflow the kernel pushes on from past our fetch index
        // (the entries it pushed past the ring's end were read in the lap
        // and are reset); until a push shows up where we read, look for it.
        bool behind = false;
        // `fetch` when the last full exit of this ring's vCPU was handled. A
        // full exit that reads nothing is a jam only if `fetch` still equals
        // it: otherwise a reaper pass read the ring in between (the vCPU
        // cannot push while it waits in on_ring_full).
        uint32_t fetch_at_full_exit = 0;
    };
    // Drains every ring (or, after a full exit with FullExitReap::own_ring,
    // the full one) and resets; adds to `pending_`. Caller holds mutex_.
    struct FullExit {
        uint32_t vcpu;
        FullExitReap reap;
    };
    Status drain_locked(std::optional<FullExit> full_exit);
    uint32_t drain_ring(Ring& ring);  // reads and stages entries; returns how many
    void publish_staged();            // marks the staged pages (after the reset)
    bool resync_ring(Ring& ring);     // true when the ring was out of step
    // The kernel's reset for the entries flagged so far: in step when it
    // reset exactly those in one call; out of step when it reset a different
    // number or was cut short; or the ioctl's error.
    enum class ResetOutcome { in_step, out_of_step };
    Result<ResetOutcome> reset_rings();
    void keep_unreported(Error error);   // unless an earlier one waits already
    uint64_t flagged_not_reset() const;  // flagged entries the kernel has not reset yet
    void mark_everything_dirty();

    DirtyRingKernel& kernel_;
    KvmRingOptions options_;

    mutable std::mutex mutex_;  // one drain at a time
    std::vector<Ring> rings_;
    HarvestReport pending_;  // published but not yet reported
    StagedPages staged_;     // read but not yet published (see drain_locked)
    // A failed reaper pass or re-arm, reported by the next harvest(): no one
    // else would see it (the tracker then keeps it for a round sync).
    std::optional<Error> unreported_error_;
    KvmRingCounters counters_;
};

}  // namespace dtrack
