#include "consumers/precopy/trace_release.hpp"

#include <algorithm>

namespace dtrack::precopy {

namespace {

// A page's moment in its interval, 0 <= m < 1: the same in every replay,
// and spread evenly over the interval whatever the pages' addresses.
double moment(RegionId region, uint64_t page) {
    uint64_t x = (uint64_t(region) << 48) ^ page ^ 0x9e3779b97f4a7c15ULL;  // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return double(x >> 11) * 0x1p-53;
}

}  // namespace

void ReleaseOrder::reset(const std::vector<recording::PageRun>& runs, uint64_t key) {
    const uint64_t before = pages_;
    runs_ = &runs;
    pages_ = 0;
    for (const recording::PageRun& r : runs) pages_ += r.count;
    next_ = 0;
    started_ = false;
    if (key == key_ && pages_ == before && ends_.size() == runs.size()) return;
    key_ = key;
    stretch_ = std::max<uint64_t>(1, pages_ / max_moments + (pages_ % max_moments != 0));
    ends_.clear();
    moments_.clear();
}

void ReleaseOrder::order() {
    if (!moments_.empty() || pages_ == 0) return;  // sorted before, for the same pages
    uint64_t at = 0;
    for (const recording::PageRun& r : *runs_) {
        at += r.count;
        ends_.push_back(at);
    }
    // Each stretch's first page, walking the runs once.
    size_t i = 0;
    for (uint64_t ordinal = 0; ordinal < pages_; ordinal += stretch_) {
        while (ends_[i] <= ordinal) ++i;
        const recording::PageRun& r = (*runs_)[i];
        moments_.push_back({moment(r.region, r.first + (ordinal - (ends_[i] - r.count))), ordinal, i});
    }
    std::sort(moments_.begin(), moments_.end());
}

}  // namespace dtrack::precopy
