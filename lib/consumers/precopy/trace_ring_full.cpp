// Ring-full sleeps in a replayed guest (trace_ring_full.hpp).
#include "consumers/precopy/trace_ring_full.hpp"

#include <algorithm>
#include <limits>

namespace dtrack::precopy {

RingFullSleeps::RingFullSleeps(uint32_t vcpus, uint64_t entries, std::vector<uint64_t> region_pages,
                               double since_start_s)
    : entries_(double(std::max<uint64_t>(entries, 1))), vcpus_(vcpus, Vcpu{.since_wake_s = since_start_s}) {
    for (uint64_t pages : region_pages) written_.emplace_back(pages);
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
        if (v.asleep_s <= 0 && v.pace > 0) next = std::min(next, (entries_ - v.entries) / v.pace);
    return next;
}

void RingFullSleeps::wrote(RegionId region, uint64_t first, uint64_t count) {
    if (region >= written_.size()) return;
    fresh_ += double(written_[region].mark_new(first, count));
}

std::vector<double> RingFullSleeps::advance(double dt_s, const std::vector<double>& weights,
                                            const std::vector<double>& shares) {
    std::vector<double> pushed(vcpus_.size(), 0);
    for (size_t i = 0; i < vcpus_.size(); ++i) {
        Vcpu& v = vcpus_[i];
        v.since_wake_s += dt_s;
        if (v.asleep_s > 0) {
            v.asleep_s = std::max(0.0, v.asleep_s - dt_s);
            continue;
        }
        pushed[i] = i < weights.size() ? fresh_ * weights[i] : 0;
        v.entries += pushed[i];
        v.pace = dt_s > 0 ? pushed[i] / dt_s : 0;
        if (v.entries < entries_) continue;
        // Full: the VMM empties it (and re-protects its pages), and the
        // vCPU sleeps its share of the time since it last woke (none
        // before the limit engages).
        ++fills_;
        v.entries = 0;
        clear_written();
        const double share = i < shares.size() ? std::clamp(shares[i], 0.0, 0.999) : 0;
        v.asleep_s = share > 0 ? v.since_wake_s * share / (1 - share) : 0;
        v.since_wake_s = -v.asleep_s;  // counts again from the wake
    }
    fresh_ = 0;
    return pushed;
}

void RingFullSleeps::reset() {
    for (Vcpu& v : vcpus_) v.entries = 0;
    clear_written();
    fresh_ = 0;
}

void RingFullSleeps::clear_written() {
    for (PlainBitmap& region : written_) region.clear();  // the words marked, and a summary word per 4096
}

}  // namespace dtrack::precopy
