// Working-set windows cut at the recorded times, not by counting intervals:
// a recorder's intervals run longer than asked when the machine is busy
// (118 ms for 100 ms), so "1 s" of ten intervals would be 1.18 s. Window k
// of W seconds holds the intervals whose midpoint lies in [k W, (k+1) W)
// from the first interval's start, so its edges fall on the interval ends
// nearest to k W whatever the jitter. The last window is cut short when the
// run ends more than half a mean interval before (k+1) W: it is kept,
// marked, and left out of the maximum and mean.
#pragma once

#include <cstdint>
#include <limits>

#include "dtrack/recording.hpp"

namespace dtrack::cli {

// One window: the intervals it holds, from the first one's start to the last one's end.
struct Window {
    double start_s = 0, end_s = 0;  // since the first interval's start
    uint64_t intervals = 0;
    uint64_t pages = 0;  // distinct pages dirtied in it (scaled from a sample, for sampling)
    bool whole = true;   // false: the run ended before the window's time was up
};

// Where each interval falls, for windows of `window_ns` (the whole run: the largest value).
class WindowCutter {
public:
    static constexpr uint64_t whole_run = std::numeric_limits<uint64_t>::max();

    WindowCutter(uint64_t window_ns, uint64_t origin_ns) : window_ns_(window_ns), origin_ns_(origin_ns) {}

    uint64_t window_of(const recording::Interval& in) const {
        const uint64_t mid = in.start_ns + (in.end_ns - in.start_ns) / 2;
        return mid > origin_ns_ ? (mid - origin_ns_) / window_ns_ : 0;
    }

    // Window k's time is up by `end_ns` (within half an interval of `mean_interval_ns`).
    bool whole_by(uint64_t k, uint64_t end_ns, double mean_interval_ns) const {
        if (window_ns_ == whole_run) return true;
        const double due = double(origin_ns_) + (double(k) + 1) * double(window_ns_);
        return double(end_ns) + mean_interval_ns / 2 >= due;
    }

private:
    uint64_t window_ns_, origin_ns_;
};

}  // namespace dtrack::cli
