// What `dtrack report` computes from a recording: the dirty rate over time,
// working sets over windows, how soon pages are dirtied again, the hottest
// regions and address ranges, and the heatmap's grid.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/recording.hpp"
#include "report_range_counters.hpp"
#include "report_windows.hpp"

namespace dtrack::cli {

struct RatePoint {
    double t = 0;            // the interval's end, seconds since the first interval's start
    double seconds = 0;      // its length
    bool dropped = false;    // nothing is known of it
    double pages = 0;        // distinct pages dirtied (the estimate, for sampling)
    double bound = 0;        // half-width of the 95% interval, when estimated
    bool reads_low = false;  // the kernel's record missed part of it (the VM did not log all along)
    std::vector<double> vcpu_pages_per_s;
    double pages_per_s() const { return seconds > 0 ? pages / seconds : 0; }
};

// Distinct pages dirtied within windows of `seconds` (report_windows.hpp).
struct WorkingSet {
    double seconds = 0;           // the window; for the whole run, its length
    bool whole_run = false;       // one window: the whole run
    std::vector<Window> windows;  // in time order; only the last may be cut short (not whole)
    uint64_t whole_windows = 0;
    uint64_t max_pages = 0;  // over the whole windows
    double mean_pages = 0;   // likewise
};

// The heatmap: rows are bands of the active address space (low addresses at
// row 0), columns spans of intervals; each cell the share of its band's pages
// dirtied per interval. A sampling method's figures here are scaled from its
// sample: each sampled page stands for estimate / sampled pages of its interval.
struct HeatSegment {
    RegionId region = 0;
    uint64_t pages = 0;           // shown: page 0 up to the last page ever dirtied
    uint64_t first_row_page = 0;  // its first page's position on the axis
};
struct Heatmap {
    uint32_t rows = 0, columns = 0;
    uint64_t pages_per_row = 1;
    std::vector<HeatSegment> segments;  // in axis order
    std::vector<double> cells;          // rows * columns, row-major
    std::vector<double> column_end_s;   // each column's end time
    double max_share = 0;
    double at(uint32_t row, uint32_t column) const { return cells[size_t(row) * columns + column]; }
};

struct Analysis {
    recording::Header header;
    recording::ReadEnd end;
    uint64_t intervals = 0, dropped = 0;
    // From the recorded times: the first interval's start to the last one's
    // end, and the intervals' mean length (the header's is only what was asked).
    uint64_t origin_ns = 0;  // the first interval's start (times below are from it)
    double duration_s = 0;
    double mean_interval_s = 0;
    bool estimated = false;  // any interval's figure is an estimate
    uint64_t lost = 0, overapproximated = 0;
    // Version 2 recordings: intervals that say the VM's dirty logging, how
    // many of them it logged (at both ends), and how many read low (their
    // page set is the kernel's record, which missed part of the interval).
    uint64_t logging_known = 0, logging_on = 0, reads_low = 0;
    std::vector<RatePoint> rate;
    std::vector<WorkingSet> working_sets;   // 1 s, 10 s (those the run holds whole), the whole run
    std::vector<double> skipped_windows_s;  // window lengths with no whole window in the run
    // Re-dirty intervals: bucket b counts a page dirtied again 2^b .. 2^(b+1)-1
    // intervals after it was last dirtied (scaled from a sample, as above).
    std::vector<uint64_t> redirty;
    std::vector<HotRange> regions;      // per region with dirtyings, hottest first
    std::vector<HotRange> hottest;      // the hottest fixed-size ranges, hottest first
    uint64_t range_bytes = 2ULL << 20;  // the ranges' size (larger where 2 MiB ranges would be too many)
    Heatmap heatmap;
};

struct AnalysisOptions {
    uint32_t heat_rows = 200;
    uint32_t heat_columns = 600;
    size_t hottest = 10;
    // What the analysis may hold besides the interval being read: the
    // per-interval figures, the page history, the range counters, the heatmap.
    uint64_t max_bytes = 384ULL << 20;
    uint64_t max_ranges = 1ULL << 20;  // hottest-range counters (8 bytes each, twice)
};

// Reads every interval the reader yields, twice (the heatmap's axis and
// columns need the whole file first), holding no more than
// options.max_bytes: a recording that needs more, or an interval over the
// reader's limits, is an error (EFBIG) that says which limit.
Result<Analysis> analyze(recording::Reader& reader, const AnalysisOptions& options);

// "118 ms", "10.1 s": a duration, for people.
std::string seconds_text(double seconds);

// "slot 0 +12 MiB": a page of a region by its offset, for people.
std::string region_offset(const recording::Header& header, RegionId region, uint64_t page);
// "0x40c00000 (slot 0 +12 MiB)" (guest-physical) or "heap +12 MiB" (host-virtual): where a page lies, for people.
std::string page_address(const recording::Header& header, RegionId region, uint64_t page);

}  // namespace dtrack::cli
