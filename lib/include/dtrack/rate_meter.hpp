// RateMeter: dirty rates from a Tracker, interval by interval.
//
// Each sample() harvests every source (a sync of kind background: rates are
// not transfer rounds), takes every dirty bit, and reports the distinct pages
// dirtied since the previous sample, per vCPU where the sources know vCPUs,
// and the working set: the distinct pages dirtied at least once since start().
// Figures from an estimating source (sampling) carry its bound.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "dtrack/clock.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct RateSample {
    double seconds = 0;         // the interval's real length
    double distinct_pages = 0;  // dirtied during the interval (the estimate, if estimated)
    double bytes_per_s = 0;
    std::vector<double> vcpu_pages_per_s;  // pages the kernel reported per vCPU (empty: no vCPU view)
    uint64_t working_set_pages = 0;        // distinct pages dirtied since start()
    bool estimate = false;
    double bound_pages = 0;  // half-width of the 95% interval of distinct_pages, when estimated
    uint64_t lost = 0;       // events the sources know they lost in the interval
};

class RateMeter {
public:
    explicit RateMeter(Tracker& tracker, const Clock& clock = SteadyClock::instance());

    // Harvests once and forgets what was dirty before: the first interval starts now.
    Status start();
    // Ends the current interval.
    Result<RateSample> sample();
    // The same, and hands each word of the interval's dirty pages to
    // `each_taken` as it is taken: the region, the word's index in the
    // region's bitmap and its bits (bit b = page word * 64 + b). For
    // consumers that keep their own windows of pages (the sidecar's working
    // sets); for an estimating source these are its sampled pages only.
    using TakenWords = std::function<void(RegionId region, uint64_t word, uint64_t bits)>;
    Result<RateSample> sample(const TakenWords& each_taken);

private:
    Tracker& tracker_;
    const Clock& clock_;
    Clock::time_point last_{};
    std::vector<DirtyBitmap> seen_;     // per region: dirtied at least once since start()
    std::vector<uint64_t> vcpu_pages_;  // cumulative, from the tracker's counters
    uint64_t lost_ = 0;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
