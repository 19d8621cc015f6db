#include "dtrack/throttle.hpp"

#include <algorithm>

namespace dtrack {

Throttle::Throttle(ThrottleOptions options, Apply apply)
    : options_(options),
      apply_(std::move(apply)),
      trigger_({.trigger_pct = options.trigger_pct, .min_period = options.min_period}) {}

bool Throttle::on_period(const Period& period) {
    std::lock_guard lock(mutex_);
    const ConvergenceJudgement j = trigger_.on_period(period);
    if (!j.fired) return false;
    const uint64_t dirtied = j.dirtied, threshold = j.threshold;

    int next;
    if (pct_ == 0) {
        next = options_.initial_pct;
    } else if (!options_.tail_slow) {
        next = pct_ + options_.increment_pct;
    } else {
        // Slow down only as much as the dirty ratio asks for, at most one step.
        const double cpu_now = 100 - pct_;
        const double cpu_ideal = cpu_now * (double(threshold) / double(dirtied));
        next = pct_ + int(std::min(cpu_now - cpu_ideal, double(options_.increment_pct)));
    }
    next = std::min(next, options_.max_pct);
    if (next == pct_) return false;
    set_locked(next, period);
    return true;
}

void Throttle::set_locked(int pct, const Period& period) {
    pct_ = pct;
    timeline_.push_back({period.at, pct, period.kind});
    if (apply_) apply_(pct);
}

int Throttle::pct() const {
    std::lock_guard lock(mutex_);
    return pct_;
}

bool Throttle::at_max() const {
    std::lock_guard lock(mutex_);
    return pct_ >= options_.max_pct;
}

std::vector<ThrottleStep> Throttle::timeline() const {
    std::lock_guard lock(mutex_);
    return timeline_;
}

void Throttle::reset() {
    std::lock_guard lock(mutex_);
    pct_ = 0;
    trigger_.reset();
    timeline_.clear();
    if (apply_) apply_(0);
}

}  // namespace dtrack
