// When each page of a recording was last dirtied, for `dtrack report`'s
// re-dirty histogram and working sets. Kept as runs of pages last dirtied in
// the same interval, not a map entry per page: a run of 2^40 pages, dirtied
// again and again, is one entry, so the history grows with the stretches a
// recording tells apart, not with the pages they hold.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>

#include "dtrack/region.hpp"

namespace dtrack::cli {

class PageHistory {
public:
    static constexpr uint64_t never = ~0ULL;
    // What one entry costs: a std::map node as malloc rounds it.
    static constexpr uint64_t bytes_per_run = 64;

    // Pages [first, first + count) of `region` were dirtied in interval
    // `index` (no lower than any index before): calls seen(pages, last) for
    // each stretch of them, in page order, with the interval it was last
    // dirtied in (`never`: the first time).
    template <typename Seen>
    void dirty(RegionId region, uint64_t first, uint64_t count, uint64_t index, Seen&& seen);

    uint64_t runs() const { return runs_.size(); }
    uint64_t pages() const { return pages_; }  // every page ever dirtied
    uint64_t bytes() const { return runs() * bytes_per_run; }

private:
    struct Run {
        uint64_t end;   // one past its last page (a key, as below)
        uint64_t last;  // the interval it was last dirtied in
    };
    // By the first page's key: region << 40 | page (a region has at most 2^40 pages).
    static uint64_t key(RegionId region, uint64_t page) { return uint64_t(region) << 40 | page; }

    std::map<uint64_t, Run> runs_;
    uint64_t pages_ = 0;
};

template <typename Seen>
void PageHistory::dirty(RegionId region, uint64_t first, uint64_t count, uint64_t index, Seen&& seen) {
    if (count == 0) return;
    const uint64_t start = key(region, first), end = start + count;
    // The first run that ends after `start`; one that begins before it keeps its head.
    auto it = runs_.upper_bound(start);
    if (it != runs_.begin() && std::prev(it)->second.end > start) --it;
    if (it != runs_.end() && it->first < start) {
        const Run whole = it->second;
        it->second.end = start;
        it = runs_.emplace_hint(std::next(it), start, whole);
    }
    const auto fresh = [&](uint64_t pages) {
        seen(pages, never);
        pages_ += pages;
    };
    uint64_t at = start;
    while (at < end) {
        if (it == runs_.end() || it->first >= end) {
            fresh(end - at);
            break;
        }
        if (it->first > at) fresh(it->first - at);
        at = std::max(at, it->first);
        const Run old = it->second;
        seen(std::min(old.end, end) - at, old.last);
        it = runs_.erase(it);
        if (old.end > end) {  // its tail keeps when it was dirtied
            it = runs_.emplace_hint(it, end, old);
            break;
        }
        at = old.end;
    }
    runs_.emplace_hint(it, start, Run{end, index});
}

}  // namespace dtrack::cli
