// QEMU's dirty-limit actuator in a replayed guest (dtvm --dirty-limit-sleep
// ring-full; dtrack simulate --dirty-limit-sleep ring-full): a limited vCPU
// sleeps only when its KVM dirty ring fills, and then for share / (1 - share)
// of the time since it last woke (dtvm's Pacer::ring_full_wake_time), so
// that over time it runs (1 - share) of it. Rings without a reaper empty at
// syncs (KVM_RESET_DIRTY_RINGS) and at a fill. What differs from sleeping a
// share of every slice: a vCPU whose ring does not fill between two syncs
// never sleeps, whatever its share (a hot/cold guest rewriting pages it
// already dirtied pushes few entries), and one that fills sleeps in long
// stretches.
//
// A ring entry is a write to a page clean in the kernel's view: the replay
// counts the pages written that were not written since the last sync or
// fill (a bit a page of the recording's regions, the third beside the
// replay's two), split over the vCPUs as the replay splits its pages. A
// fill cleans every page in this count, not only the filling vCPU's, since
// the replay does not know which vCPU wrote which page: the others' rewrites
// then count as entries where the kernel's would not, so their rings fill a
// little early. The sleep follows the time since the last wake, not the
// entries, so over time each vCPU still runs (1 - share) of it.
#pragma once

#include <cstdint>
#include <vector>

#include "consumers/precopy/trace_pending.hpp"

namespace dtrack::precopy {

class RingFullSleeps {
public:
    // `vcpus` rings of `entries` each over regions of `region_pages`; the
    // vCPUs have run `since_start_s` when the replay starts (a fill before
    // the limit engages resets that).
    RingFullSleeps(uint32_t vcpus, uint64_t entries, std::vector<uint64_t> region_pages, double since_start_s);

    bool awake(uint32_t v) const { return v < vcpus_.size() && vcpus_[v].asleep_s <= 0; }
    // Seconds until the next sleeping vCPU wakes; +infinity when none sleeps.
    double next_wake_s() const;
    // Seconds until the next awake vCPU's ring fills at the pace of its last
    // step; +infinity when none pushes entries.
    double next_fill_s() const;

    // Pages written: counts those not written since the last sync.
    void wrote(RegionId region, uint64_t first, uint64_t count);
    // `dt_s` passed: the entries counted since the last call go to the vCPUs
    // by `weights` (summing to 1, 0 for a sleeping vCPU), a vCPU whose ring
    // fills sleeps by its `shares`, sleeping vCPUs sleep on. Returns the
    // entries each vCPU pushed (what the kernel reports for it).
    std::vector<double> advance(double dt_s, const std::vector<double>& weights, const std::vector<double>& shares);
    // A sync: every ring is empty and every page clean again.
    void reset();

    uint64_t fills() const { return fills_; }

private:
    void clear_written();

    struct Vcpu {
        double entries = 0;   // in its ring now
        double since_wake_s;  // since it last woke (or started)
        double asleep_s = 0;  // of sleep left
        double pace = 0;      // entries/s over its last step
    };
    double entries_;
    std::vector<Vcpu> vcpus_;
    std::vector<PlainBitmap> written_;  // per region: pages written since the last sync or fill
    double fresh_ = 0;                  // entries not yet given to a vCPU
    uint64_t fills_ = 0;
};

}  // namespace dtrack::precopy
