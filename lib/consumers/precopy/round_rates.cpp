#include "consumers/precopy/round_rates.hpp"

#include <algorithm>

namespace dtrack::precopy {

namespace {
double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

double RoundRates::bandwidth() const {
    const Sent& w = window();
    if (w.time.count() <= 0) return 0;
    const double bw = w.wire_bytes / seconds(w.time);
    return cap_ ? std::min(bw, static_cast<double>(cap_)) : bw;
}

double RoundRates::memory_rate() const {
    const double rate = memory_rate_of(window());
    const bool previous_counts = rounds_ >= 3 && previous_round_.time >= min_measured_round;  // not round 1
    if (last_round_.time < min_measured_round || !previous_counts) return rate;
    return std::min(rate, memory_rate_of(previous_round_));
}

double RoundRates::memory_rate_of(const Sent& w) const {
    if (w.time.count() <= 0) return 0;
    const uint64_t pages = w.pages > w.zero_pages ? w.pages - w.zero_pages : w.pages;
    const double rate = pages * static_cast<double>(page_size_) / seconds(w.time);
    // Uncompressed contents cannot outrun the cap.
    return cap_ && !compress_ ? std::min(rate, static_cast<double>(cap_)) : rate;
}

std::chrono::nanoseconds RoundRates::estimated_downtime(uint64_t remaining_pages) const {
    if (remaining_pages == 0) return switchover_cost_;
    const double rate = memory_rate();
    if (rate <= 0) return std::chrono::nanoseconds::max();
    const double s = remaining_pages * static_cast<double>(page_size_) / rate;
    return std::chrono::nanoseconds(static_cast<int64_t>(std::min(s, 1e9) * 1e9)) + switchover_cost_;
}

}  // namespace dtrack::precopy
