// The working set over sliding windows: the distinct pages dirtied in the
// last 10 s, the last 60 s, ... of harvest intervals.
//
// Each page keeps the number of the last interval that dirtied it, and each
// interval counts the pages whose last dirtying it is. A page dirtied again
// moves from its old interval's count to the new one's, so the distinct
// pages of a window are the sum of the counts of the intervals in it, with
// no set to merge. Memory: 4 bytes per page ever dirtied, in chunks of 256
// pages allocated as pages are first seen (chunks the longest window has
// forgotten are freed again).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>

#include "dtrack/region.hpp"

namespace dtrack::cli::sidecar {

class WorkingSetWindows {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    // Remembers intervals for `longest_window`; longer windows see no more.
    explicit WorkingSetWindows(std::chrono::nanoseconds longest_window);

    // Marks a page dirtied in the interval being recorded.
    void mark(RegionId region, uint64_t page);
    // Ends the interval being recorded at `end` (its harvest); the next
    // marks belong to a new one.
    void close_interval(TimePoint end);
    // Distinct pages dirtied in the intervals that ended within `window` of
    // the last closed one (that one included).
    uint64_t distinct_pages(std::chrono::nanoseconds window) const;
    // The same, counting only the pages `keep` accepts (a sampling source's
    // current sample). It visits every remembered page: for small sets.
    uint64_t distinct_pages_where(std::chrono::nanoseconds window,
                                  const std::function<bool(RegionId, uint64_t page)>& keep) const;

private:
    static constexpr uint64_t pages_per_chunk = 256;
    using Chunk = std::array<uint32_t, pages_per_chunk>;  // per page: last interval's number, 0 = never

    struct Interval {
        TimePoint end;
        uint64_t last_dirtied_here = 0;  // pages whose last dirtying is this interval
    };

    uint32_t& last_interval_of(RegionId region, uint64_t page);
    void forget_chunks_older_than(uint32_t first_kept);
    // The number of the oldest closed interval inside `window` (current_ when none is).
    uint32_t first_interval_in(std::chrono::nanoseconds window) const;

    std::chrono::nanoseconds longest_;
    uint32_t current_ = 1;                                         // the number of the interval being recorded
    uint64_t current_count_ = 0;                                   // its pages so far
    std::deque<Interval> closed_;                                  // numbered current_ - closed_.size() .. current_ - 1
    std::unordered_map<uint64_t, std::unique_ptr<Chunk>> chunks_;  // key: region << 40 | page / pages_per_chunk
    uint64_t cached_key_ = ~0ULL;                                  // the last chunk used: runs of pages share one
    Chunk* cached_chunk_ = nullptr;
};

}  // namespace dtrack::cli::sidecar
