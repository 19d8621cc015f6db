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

    // An interval's pages (kept by the caller until the next reset); `key`
    // names them (the interval's index): the same key again, as when a
    // recording of one interval starts over, keeps the order already sorted.
    void reset(const std::vector<recording::PageRun>& runs, uint64_t key);
    uint64_t pages() const { return pages_; }

    // Calls mark(run) for the pages whose moments fall before `upto` (0..1]
    // and were not released before: upto 1 releases the rest.
    template <typename Mark>
    void release(double upto, Mark&& mark);

private:
    struct Stretch {
        double moment;
        uint64_t ordinal;  // its first page's, counted through the interval's runs
        uint64_t run;      // the run that holds that page
        bool operator<(const Stretch& o) const { return moment != o.moment ? moment < o.moment : ordinal < o.ordinal; }
    };
    void order();  // builds moments_, at the first partial release
    template <typename Mark>
    void release_stretch(const Stretch& s, Mark& mark);

    const std::vector<recording::PageRun>* runs_ = nullptr;
    uint64_t pages_ = 0;
    uint64_t stretch_ = 1;          // pages that come out together
    std::vector<uint64_t> ends_;    // the runs' ends, counted in pages of the interval
    std::vector<Stretch> moments_;  // earliest first
    size_t next_ = 0;               // into moments_
    bool started_ = false;
    uint64_t key_ = ~0ULL;
};

template <typename Mark>
void ReleaseOrder::release(double upto, Mark&& mark) {
    if (!started_ && upto >= 1) {  // the whole interval at once: no moments needed
        for (const recording::PageRun& r : *runs_) mark(r);
        started_ = true;
        next_ = moments_.size();
        return;
    }
    if (!started_) order();
    started_ = true;
    for (; next_ < moments_.size() && (upto >= 1 || moments_[next_].moment < upto); ++next_)
        release_stretch(moments_[next_], mark);
}

template <typename Mark>
void ReleaseOrder::release_stretch(const Stretch& s, Mark& mark) {
    uint64_t ordinal = s.ordinal;
    const uint64_t end = std::min(pages_, ordinal + stretch_);
    for (size_t i = s.run; ordinal < end && i < runs_->size(); ++i) {
        const recording::PageRun& r = (*runs_)[i];
        const uint64_t run_start = ends_[i] - r.count;
        const uint64_t n = std::min(end, ends_[i]) - ordinal;
        mark(recording::PageRun{r.region, r.first + (ordinal - run_start), n});
        ordinal += n;
    }
}

}  // namespace dtrack::precopy
