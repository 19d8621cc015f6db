#include "dtrack/dirty_limit.hpp"

#include <algorithm>
#include <cmath>

namespace dtrack {

DirtyLimit::DirtyLimit(DirtyLimitOptions options, Apply apply) : options_(options), apply_(std::move(apply)) {}

double DirtyLimit::next_share(const DirtyLimitOptions& o, double rate, double share) {
    const double q = o.quota;
    if (std::abs(rate - q) <= o.tolerance * q) return share;
    // Its rate when running, and the share that would hold that at the quota.
    double target = 0;
    if (rate > 0) target = std::max(0.0, 1 - (1 - share) * q / rate);
    // A vCPU that wrote nothing while held almost all the time tells little:
    // release it a step at a time rather than all at once.
    const bool big = std::abs(rate - q) > o.big_error * q && rate > 0;
    const double next = big ? target : share + o.small_step * (target - share);
    return std::clamp(next, 0.0, o.max_share);
}

bool DirtyLimit::on_counts(Clock::time_point now, std::span<const uint64_t> counts) {
    std::lock_guard lock(mutex_);
    if (counts.size() > vcpus_.size()) vcpus_.resize(counts.size());
    if (!open_) {
        open_ = true;
        period_start_ = now;
        for (size_t v = 0; v < counts.size(); ++v) vcpus_[v].count = counts[v];
        return false;
    }
    const auto elapsed = now - period_start_;
    if (elapsed < options_.period) return false;
    const double seconds = std::chrono::duration<double>(elapsed).count();
    period_start_ = now;
    for (size_t v = 0; v < counts.size(); ++v) {
        Vcpu& c = vcpus_[v];
        // A count that went backwards (a vCPU replaced) restarts its period.
        const uint64_t pages = counts[v] >= c.count ? counts[v] - c.count : 0;
        c.count = counts[v];
        c.rate = double(pages) / seconds;
        const double next = next_share(options_, c.rate, c.share);
        timeline_.push_back({now, uint32_t(v), c.rate, next});
        if (next != c.share) {
            c.share = next;
            if (apply_) apply_(uint32_t(v), next);
        }
    }
    return true;
}

double DirtyLimit::share(uint32_t vcpu) const {
    std::lock_guard lock(mutex_);
    return vcpu < vcpus_.size() ? vcpus_[vcpu].share : 0;
}

double DirtyLimit::rate(uint32_t vcpu) const {
    std::lock_guard lock(mutex_);
    return vcpu < vcpus_.size() ? vcpus_[vcpu].rate : 0;
}

std::vector<DirtyLimitSample> DirtyLimit::timeline() const {
    std::lock_guard lock(mutex_);
    return timeline_;
}

void DirtyLimit::reset() {
    std::lock_guard lock(mutex_);
    for (size_t v = 0; v < vcpus_.size(); ++v)
        if (vcpus_[v].share != 0 && apply_) apply_(uint32_t(v), 0);
    vcpus_.clear();
    timeline_.clear();
    open_ = false;
}

}  // namespace dtrack
