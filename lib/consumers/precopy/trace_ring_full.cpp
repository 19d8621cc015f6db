// Ring-full sleeps in a replayed guest (trace_ring_full.hpp).
#include "consumers/precopy/trace_ring_full.hpp"

#include <algorithm>
#include <limits>

namespace dtrack::precopy {

RingFullSleeps::RingFullSleeps(uint32_t vcpus, uint64_t entries, std::vector<uint64_t> region_pages,
                               double since_start_s)
    // KVM exits full at the soft limit, KVM_DIRTY_RING_RSVD_ENTRIES (64)
    // short of the size (docs/ARCHITECTURE.md §6; with Intel's PML another 512).
    : full_at_(entries > 128 ? entries - 64 : std::max<uint64_t>(entries, 1)),
      vcpus_(vcpus, Vcpu{.since_wake_s = since_start_s}) {
    for (uint64_t pages : region_pages) in_a_ring_.emplace_back(pages);
}

double RingFullSleeps::next_wake_s() const {
    double next = std::numeric_limits<double>::infinity();
    for (const Vcpu& v : vcpus_)
        if (v.asleep_s > 0) next = std::min(next, v.asleep_s);
    return next;
}

double RingFullSleeps::next_fill_s() const {
    double next = std::numeric_limits<double>::infinity();
    for (const Vcpu& v : vcpus_)
        if (v.asleep_s <= 0 && v.pace > 0)
            next = std::min(next, double(full_at_ - std::min<uint64_t>(v.ring.size(), full_at_)) / v.pace);
    return next;
}

void RingFullSleeps::set_writers(const std::vector<double>& weights) {
    writers_weight_ = 0;
    for (size_t i = 0; i < vcpus_.size(); ++i) {
        vcpus_[i].weight = i < weights.size() ? weights[i] : 0;
        writers_weight_ += vcpus_[i].weight;
    }
}

uint32_t RingFullSleeps::deal() {
    // Weighted round robin: each page adds every vCPU's weight to its
    // credit and goes to the most credit, which pays one page; over n pages
    // each vCPU gets its weight's share, give or take one.
    uint32_t best = 0;
    for (uint32_t i = 0; i < vcpus_.size(); ++i) {
        vcpus_[i].credit += vcpus_[i].weight;
        if (vcpus_[i].credit > vcpus_[best].credit) best = i;
    }
    vcpus_[best].credit -= writers_weight_;
    return best;
}

void RingFullSleeps::wrote(RegionId region, uint64_t first, uint64_t count) {
    if (region >= in_a_ring_.size() || vcpus_.empty()) return;
    in_a_ring_[region].mark_new(first, count, [&](uint64_t page) {
        Vcpu& v = vcpus_[deal()];
        v.ring.emplace_back(region, page);
        ++v.pushed;
    });
}

std::vector<double> RingFullSleeps::advance(double dt_s, const std::vector<double>& shares) {
    std::vector<double> pushed(vcpus_.size(), 0);
    for (size_t i = 0; i < vcpus_.size(); ++i) {
        Vcpu& v = vcpus_[i];
        pushed[i] = double(v.pushed);
        v.pace = dt_s > 0 ? double(v.pushed) / dt_s : 0;
        v.pushed = 0;
        v.since_wake_s += dt_s;
        if (v.asleep_s > 0) {
            v.asleep_s = std::max(0.0, v.asleep_s - dt_s);
            continue;
        }
        if (v.ring.size() < full_at_) continue;
        // Full: the VMM empties its ring (and re-protects its pages), and
        // the vCPU sleeps its share of the time since it last woke (none
        // before the limit engages).
        ++fills_;
        empty(v);
        const double share = i < shares.size() ? std::clamp(shares[i], 0.0, 0.999) : 0;
        v.asleep_s = share > 0 ? v.since_wake_s * share / (1 - share) : 0;
        v.since_wake_s = -v.asleep_s;  // counts again from the wake
    }
    return pushed;
}

void RingFullSleeps::reset() {
    for (Vcpu& v : vcpus_) empty(v);
}

void RingFullSleeps::empty(Vcpu& v) {
    for (const auto& [region, page] : v.ring) in_a_ring_[region].unmark(page);
    v.ring.clear();
}

}  // namespace dtrack::precopy
