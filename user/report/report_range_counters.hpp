// Dirtyings per fixed-size range of each region, for `dtrack report`'s
// hottest ranges. A run adds to the ranges it covers in constant time (the
// whole ranges inside it through a difference array), so a run of 2^40
// pages costs what a run of one does; and the ranges grow (2 MiB, 4 MiB,
// ...) until every region fits in a fixed number of counters, so a header
// that declares petabytes cannot make them take more.
#pragma once

#include <cstdint>
#include <vector>

#include "dtrack/region.hpp"

namespace dtrack::cli {

// A stretch of one region's pages and how often they were dirtied.
struct HotRange {
    RegionId region = 0;
    uint64_t first_page = 0, pages = 0;
    double dirtyings = 0;  // page-intervals: a page dirtied in 3 intervals counts 3 (scaled from a sample)
    double share = 0;      // dirtyings / (pages * intervals recorded): how much of it is dirtied per interval
};

class RangeCounters {
public:
    // Ranges of `range_bytes`, doubled until the regions need at most `max_ranges`.
    RangeCounters(const std::vector<Region>& regions, uint64_t range_bytes, uint64_t max_ranges);

    uint64_t range_bytes() const { return range_bytes_; }
    uint64_t bytes() const { return (direct_.size() + steps_.size()) * sizeof(double); }

    // Pages [first, first + count) of `region` dirtied, each counting `weight`.
    void add(RegionId region, uint64_t first, uint64_t count, double weight);

    // The `n` ranges dirtied most, most first (ties: the lower address first);
    // `intervals` recorded, for the share (which a sample's scaling cannot push past 1).
    std::vector<HotRange> hottest(size_t n, double intervals) const;

private:
    struct Span {
        uint64_t first_range = 0;  // its first range's index in the counters
        uint64_t range_pages = 1;
        uint64_t pages = 0;
    };
    std::vector<Span> regions_;
    uint64_t range_bytes_ = 0;
    std::vector<double> direct_;  // per range: what runs that end in it add
    std::vector<double> steps_;   // per range: what whole ranges add from here on (a difference array)
};

}  // namespace dtrack::cli
