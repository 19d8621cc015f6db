// QEMU's dirty-limit actuator in a replayed guest (dtvm --dirty-limit-sleep
// ring-full; dtrack simulate --dirty-limit-sleep ring-full): a limited vCPU
// sleeps only when its KVM dirty ring fills, and then for share / (1 - share)
// of the time since it last woke (dtvm's Pacer::ring_full_wake_time), so
// that over time it runs (1 - share) of it. What differs from sleeping a
// share of every slice: a vCPU whose ring does not fill between two syncs
// never sleeps, whatever its share (a hot/cold guest rewriting pages it
// already dirtied pushes few entries), and one that fills sleeps in long
// stretches.
//
// The rings as the kernel keeps them: a write to a page that is in no ring
// (write-protected) pushes an entry into the writing vCPU's ring and makes
// the page writable; a write to a page in some ring pushes nothing. A full
// ring is emptied alone, as QEMU's full exit does while its limit is in
// service (FullExitReap::own_ring): its pages are write-protected again,
// the other rings keep theirs. A sync empties every ring. The recording
// does not say which vCPU wrote which page: a page new to the rings goes
// to a writer dealt by the vCPUs' shares of the writing (set_writers), in
// turn, so that each ring gets its share of the entries.
#pragma once

#include <cstdint>
#include <utility>
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

    // Each vCPU's share of the writes from now on (summing to 1; 0 for a
    // sleeping vCPU): who pushes the entries of the pages wrote() names.
    void set_writers(const std::vector<double>& weights);
    // Pages written: each page in no ring goes into a writer's.
    void wrote(RegionId region, uint64_t first, uint64_t count);
    // `dt_s` passed: a vCPU whose ring filled is emptied and sleeps by its
    // `shares`; sleeping vCPUs sleep on. Returns the entries each vCPU
    // pushed since the last call (what the kernel reports for it).
    std::vector<double> advance(double dt_s, const std::vector<double>& shares);
    // A sync: every ring is empty and every page write-protected again.
    void reset();

    uint64_t fills() const { return fills_; }

private:
    struct Vcpu {
        std::vector<std::pair<RegionId, uint64_t>> ring;  // the pages of its entries
        double weight = 0;                                // its share of the writing (set_writers)
        double credit = 0;                                // dealing: the next page goes to the most credit
        uint64_t pushed = 0;                              // entries since the last advance()
        double since_wake_s;                              // since it last woke (or started)
        double asleep_s = 0;                              // of sleep left
        double pace = 0;                                  // entries/s over its last step
    };
    uint32_t deal();  // the vCPU whose ring takes the next new page
    void empty(Vcpu& v);

    uint64_t full_at_;  // entries: the ring's soft limit
    std::vector<Vcpu> vcpus_;
    std::vector<PlainBitmap> in_a_ring_;  // per region: writable pages, each in some vCPU's ring
    double writers_weight_ = 0;           // the weights set_writers() gave, summed: what a dealt page costs
    uint64_t fills_ = 0;
};

}  // namespace dtrack::precopy
