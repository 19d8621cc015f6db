#include "consumers/precopy/simulated_dirty_limit.hpp"

namespace dtrack::precopy {

SimulatedDirtyLimit::SimulatedDirtyLimit(const DirtyLimitOptions& options, SimulatedGuest& guest, Tracker& tracker)
    : guest_(guest),
      tracker_(tracker),
      limit_(options, [&guest](uint32_t vcpu, double share) { guest.vcpus().set_share(vcpu, share); }) {}

void SimulatedDirtyLimit::on_period(const Period& p) {
    if (!engaged_at_) {
        if (!trigger_.on_period(p).fired) return;
        engaged_at_ = p.at;
    }
    std::vector<uint64_t> counts = tracker_.counters().pages_per_vcpu();
    counts.resize(guest_.vcpus().count());  // a vCPU that never dirtied a page has no count yet
    std::vector<double> before(counts.size());
    for (uint32_t v = 0; v < counts.size(); ++v) before[v] = guest_.vcpus().share(v);
    if (!limit_.on_counts(p.at, counts)) return;
    moved_ = false;
    for (uint32_t v = 0; v < counts.size(); ++v) moved_ |= guest_.vcpus().share(v) != before[v];
}

bool SimulatedDirtyLimit::settled() const { return engaged_at_ && !moved_; }

}  // namespace dtrack::precopy
