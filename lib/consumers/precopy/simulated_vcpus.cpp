#include "dtrack/precopy/simulated_vcpus.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dtrack::precopy {

void SimulatedVcpus::limit(uint32_t n) {
    share_.assign(n, 0);
    wrote_.assign(n, 0);
    reported_.assign(n, 0);
}

void SimulatedVcpus::set_share(uint32_t v, double share) {
    if (v < share_.size()) share_[v] = std::clamp(share, 0.0, 1.0);
}

void SimulatedVcpus::wrote(uint32_t v, double amount) {
    if (v < wrote_.size() && amount > 0) wrote_[v] += amount;
}

void SimulatedVcpus::harvested(double distinct) {
    const double all = std::accumulate(wrote_.begin(), wrote_.end(), 0.0);
    if (all > 0 && distinct > 0)
        for (size_t v = 0; v < wrote_.size(); ++v) reported_[v] += distinct * wrote_[v] / all;
    std::fill(wrote_.begin(), wrote_.end(), 0.0);
}

void SimulatedVcpus::reported(uint32_t v, double pages) {
    if (v < reported_.size() && pages > 0) reported_[v] += pages;
}

std::vector<uint64_t> SimulatedVcpus::take_reported() {
    std::vector<uint64_t> whole(reported_.size());
    for (size_t v = 0; v < reported_.size(); ++v) {
        whole[v] = uint64_t(std::floor(reported_[v]));
        reported_[v] -= double(whole[v]);
    }
    return whole;
}

}  // namespace dtrack::precopy
