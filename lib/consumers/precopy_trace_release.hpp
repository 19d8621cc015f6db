// The order in which a replayed interval's pages come out (trace_guest.hpp):
// each page at its own moment in the interval, a hash of the page, the same
// in every replay, so a sync in mid-interval finds the share that came
// before. An interval of more than max_moments pages comes out in
// max_moments equal stretches of its pages instead, each at the moment of
// its first page: replaying an interval then costs its runs and at most
// max_moments moments, however many pages its runs hold (a run of 2^40
// pages is 16 bytes of a file).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "dtrack/recording.hpp"

namespace dtrack::precopy {

class ReleaseOrder {
public:
    static constexpr uint64_t max_moments = 1 << 16;

    // A new interval's pages (kept by the caller until the next reset).
    void reset(const std::vector<recording::PageRun>& runs);
    uint64_t pages() const { return pages_; }

    // Calls mark(run) for the pages whose moments fall before `upto` (0..1]
    // and were not released before: upto 1 releases the rest.
    template <typename Mark> void release(double upto, Mark&& mark);

private:
    void order();  // builds moments_, at the first partial release
    template <typename Mark> void release_stretch(uint64_t ordinal, Mark& mark);

    const std::vector<recording::PageRun>* runs_ = nullptr;
    uint64_t pages_ = 0;
    uint64_t stretch_ = 1;                               // pages that come out together
    std::vector<uint64_t> ends_;                         // the runs' ends, counted in pages of the interval
    std::vector<std::pair<double, uint64_t>> moments_;   // (moment, first page's ordinal), earliest first
    size_t next_ = 0;                                    // into moments_
    bool started_ = false;
};

template <typename Mark> void ReleaseOrder::release(double upto, Mark&& mark) {
    if (!started_ && upto >= 1) {  // the whole interval at once: no moments needed
        for (const recording::PageRun& r : *runs_) mark(r);
        started_ = true;
        next_ = moments_.size();
        return;
    }
    if (!started_) order();
    started_ = true;
    for (; next_ < moments_.size() && (upto >= 1 || moments_[next_].first < upto); ++next_)
        release_stretch(moments_[next_].second, mark);
}

template <typename Mark> void ReleaseOrder::release_stretch(uint64_t ordinal, Mark& mark) {
    const uint64_t end = std::min(pages_, ordinal + stretch_);
    // The run that holds page `ordinal` of the interval, then on to `end`.
    size_t i = size_t(std::upper_bound(ends_.begin(), ends_.end(), ordinal) - ends_.begin());
    for (; ordinal < end && i < runs_->size(); ++i) {
        const recording::PageRun& r = (*runs_)[i];
        const uint64_t run_start = ends_[i] - r.count;
        const uint64_t n = std::min(end, ends_[i]) - ordinal;
        mark(recording::PageRun{r.region, r.first + (ordinal - run_start), n});
        ordinal += n;
    }
}

}  // namespace dtrack::precopy
