#include "dtrack/throttle.hpp"

#include <algorithm>

namespace dtrack {

Throttle::Throttle(ThrottleOptions options, Apply apply) : options_(options), apply_(std::move(apply)) {}

bool Throttle::on_period(const Period& period) {
    std::lock_guard lock(mutex_);
    if (!period_open_) {
        // The first sync of a migration opens the first period (QEMU's
        // time_last_bitmap_sync starts at the migration's start).
        period_open_ = true;
        period_start_ = period.at;
        dirtied_ = transferred_ = 0;
        return false;
    }
    dirtied_ += period.bytes_dirtied;
    transferred_ += period.bytes_transferred;
    if (period.at - period_start_ < options_.min_period) return false;  // too short to judge

    const uint64_t dirtied = std::exchange(dirtied_, 0);
    const uint64_t threshold = std::exchange(transferred_, 0) * options_.trigger_pct / 100;
    period_start_ = period.at;
    if (dirtied <= threshold || ++high_periods_ < 2) return false;
    high_periods_ = 0;

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
    high_periods_ = 0;
    period_open_ = false;
    dirtied_ = transferred_ = 0;
    timeline_.clear();
    if (apply_) apply_(0);
}

}  // namespace dtrack
