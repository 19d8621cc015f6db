#include "report_analysis.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>

#include "dtrack/units.hpp"
#include "report_page_history.hpp"

namespace dtrack::cli {

namespace {

using recording::Interval;
using recording::PageRun;

double interval_pages(const Interval& in) { return in.estimated() ? in.estimated_pages : double(in.dirty_pages()); }

// How many pages each recorded page stands for: 1 when exact; for a
// sampling method, which records the sampled pages only, the interval's
// estimate over its recorded pages. That ratio is the whole interval's: a
// small range holds more or fewer sampled pages than its share, so a scaled
// figure for a range can come out above its pages, and is capped there.
double page_weight(const Interval& in) {
    const uint64_t recorded = in.dirty_pages();
    return in.estimated() && recorded > 0 ? in.estimated_pages / double(recorded) : 1.0;
}

constexpr const char* raise_memory = "give a larger --max-memory, on a machine that has the memory";

Error over_budget(const std::string& what, uint64_t limit) {
    return Error{EFBIG, what + ", more than the " + format_bytes(double(limit)) + " the analysis may hold",
                 raise_memory};
}

// Which pages the heatmap's axis shows: per region, page 0 up to the last
// page ever dirtied (pass 1 finds it).
struct Extent {
    std::vector<bool> active;
    std::vector<uint64_t> last_page;
};

// Seconds from the first interval's start (0 for a time before it, which only a hostile file has).
double since_origin(const Analysis& a, uint64_t ns) { return ns > a.origin_ns ? double(ns - a.origin_ns) / 1e9 : 0; }

RatePoint rate_point(const Analysis& a, const Interval& in) {
    RatePoint p;
    p.t = since_origin(a, in.end_ns);
    p.seconds = double(in.end_ns - in.start_ns) / 1e9;
    p.dropped = in.dropped;
    p.pages = interval_pages(in);
    p.bound = in.bound_pages;
    p.reads_low = in.logging && in.logging->reads_low;
    for (uint64_t v : in.vcpu_pages) p.vcpu_pages_per_s.push_back(p.seconds > 0 ? double(v) / p.seconds : 0);
    return p;
}

// The whole recording's counts, interval by interval; `lengths`: the sum of their lengths.
void tally(Analysis& a, const Interval& in, double& lengths) {
    if (a.rate.empty()) a.origin_ns = in.start_ns;
    lengths += double(in.end_ns - in.start_ns) / 1e9;
    a.dropped += in.dropped;
    a.estimated = a.estimated || in.estimated();
    a.lost += in.lost;
    a.overapproximated += in.overapproximated;
    if (in.logging) {
        ++a.logging_known;
        a.logging_on += in.logging->at_start != DirtyLogging::off && in.logging->at_end != DirtyLogging::off;
        a.reads_low += in.logging->reads_low;
    }
    a.duration_s = std::max(a.duration_s, since_origin(a, in.end_ns));
}

// Pass 1: the figures of every interval, and the heatmap's extent; `held`:
// what the figures take.
Status read_figures(recording::Reader& reader, const AnalysisOptions& o, Analysis& a, Extent& extent, uint64_t& held) {
    extent.active.assign(a.header.regions.size(), false);
    extent.last_page.assign(a.header.regions.size(), 0);
    uint64_t vcpu_bytes = 0;
    double lengths = 0;
    while (auto in = reader.next()) {
        tally(a, *in, lengths);
        for (const PageRun& r : in->dirty) {
            extent.active[r.region] = true;
            extent.last_page[r.region] = std::max(extent.last_page[r.region], r.first + r.count - 1);
        }
        a.rate.push_back(rate_point(a, *in));
        vcpu_bytes += a.rate.back().vcpu_pages_per_s.capacity() * sizeof(double);
        held = a.rate.capacity() * sizeof(RatePoint) + vcpu_bytes;
        if (held > o.max_bytes)
            return over_budget(
                "the figures of " + std::to_string(a.rate.size()) + " intervals take " + format_bytes(double(held)),
                o.max_bytes);
    }
    a.end = reader.end();
    a.intervals = a.rate.size();
    a.mean_interval_s = a.intervals ? lengths / double(a.intervals) : 0;
    if (a.end.kind == recording::ReadEnd::Kind::too_large) return Error{EFBIG, a.end.describe(), raise_memory};
    return Ok{};
}

// Distinct pages dirtied within the windows of one length, the open one counting.
struct WindowCount {
    WorkingSet ws;
    WindowCutter cut;
    bool open = false;
    uint64_t k = 0;      // the open window's number
    uint64_t first = 0;  // its first interval
    Window now;          // its figures so far
    double estimated = 0, recorded = 0;
};

// Pass 2: everything that follows pages through the recording.
class PagePass {
public:
    PagePass(Analysis& a, const AnalysisOptions& o, const Extent& extent)
        : a_(a), o_(o), ranges_(a.header.regions, a.range_bytes, o.max_ranges), per_region_(a.header.regions.size()) {
        a_.range_bytes = ranges_.range_bytes();
        open_windows();
        open_heatmap(extent);
    }

    Status add(const Interval& in, uint64_t i) {
        const double w = page_weight(in);
        for (WindowCount& c : windows_) enter_window(c, in, i);
        const uint32_t column = uint32_t(i * a_.heatmap.columns / std::max<uint64_t>(a_.intervals, 1));
        if (a_.heatmap.columns && !in.dropped) ++column_intervals_[column];
        for (const PageRun& r : in.dirty) {
            per_region_[r.region] += double(r.count) * w;
            ranges_.add(r.region, r.first, r.count, w);
            history_.dirty(r.region, r.first, r.count, i,
                           [&](uint64_t pages, uint64_t last) { dirtied_again(pages, last, i, w); });
            heat(r, column, w);
            if (Status s = within_budget(i); !s) return s;
        }
        if (a_.heatmap.columns) a_.heatmap.column_end_s[column] = since_origin(a_, in.end_ns);
        return Ok{};
    }

    void finish();
    void held_figures(uint64_t bytes) { held_figures_ = bytes; }

private:
    // `pages` dirtied in interval i, last dirtied in interval `last` (or never).
    void dirtied_again(uint64_t pages, uint64_t last, uint64_t i, double w) {
        if (last != PageHistory::never) {
            const size_t bucket = size_t(std::bit_width(i - last) - 1);
            if (redirty_.size() <= bucket) redirty_.resize(bucket + 1);
            redirty_[bucket] += double(pages) * w;
        }
        for (WindowCount& c : windows_)
            if (last == PageHistory::never || last < c.first) c.now.pages += pages;
    }
    Status within_budget(uint64_t i) const {
        const uint64_t held = history_.bytes() + fixed_bytes_ + held_figures_ + window_bytes_;
        if (held <= o_.max_bytes) return Ok{};
        return over_budget("at interval " + std::to_string(i) + " the history of the pages holds " +
                               std::to_string(history_.runs()) + " runs of pages dirtied at different times (" +
                               format_bytes(double(held)) + " with the figures and counters)",
                           o_.max_bytes);
    }
    void open_windows();
    void enter_window(WindowCount& c, const Interval& in, uint64_t i);
    void close_window(WindowCount& c, bool last);
    void open_heatmap(const Extent& extent);
    void heat(const PageRun& r, uint32_t column, double w);

    Analysis& a_;
    const AnalysisOptions& o_;
    PageHistory history_;
    RangeCounters ranges_;
    std::vector<double> per_region_, redirty_;
    std::vector<WindowCount> windows_;
    std::vector<uint64_t> axis_of_;     // per region: its first page's place on the heatmap's axis
    std::vector<uint64_t> axis_pages_;  // per region: the pages it shows (0: none)
    std::vector<uint64_t> column_intervals_;
    uint64_t axis_ = 0;
    uint64_t fixed_bytes_ = 0;   // the range counters and the heatmap's cells
    uint64_t held_figures_ = 0;  // pass 1's
    uint64_t window_bytes_ = 0;  // the windows closed so far
};

// 1 s and 10 s windows, those the run holds a whole one of, and the whole run.
void PagePass::open_windows() {
    const double mean_ns = a_.mean_interval_s * 1e9;
    for (const uint64_t window_ns : {uint64_t(1'000'000'000), uint64_t(10'000'000'000), WindowCutter::whole_run}) {
        WindowCount c{.ws = {}, .cut = WindowCutter(window_ns, a_.origin_ns)};
        const uint64_t run_ns = a_.origin_ns + uint64_t(std::llround(a_.duration_s * 1e9));
        if (!c.cut.whole_by(0, run_ns, mean_ns)) {
            a_.skipped_windows_s.push_back(double(window_ns) / 1e9);
            continue;
        }
        c.ws.whole_run = window_ns == WindowCutter::whole_run;
        c.ws.seconds = c.ws.whole_run ? a_.duration_s : double(window_ns) / 1e9;
        windows_.push_back(c);
    }
}

// Interval i, before its pages: it may close the open window and open the next.
void PagePass::enter_window(WindowCount& c, const Interval& in, uint64_t i) {
    const uint64_t k = c.cut.window_of(in);
    if (c.open && k != c.k) close_window(c, false);
    if (!c.open) {
        c.open = true, c.k = k, c.first = i;
        c.now = Window{.start_s = since_origin(a_, in.start_ns)};
    }
    ++c.now.intervals;
    c.now.end_s = since_origin(a_, in.end_ns);
    c.estimated += interval_pages(in);
    c.recorded += double(in.dirty_pages());
}

// A sampling method records the sampled pages only: each stands for
// estimated / recorded pages of its interval, and the window's union scales
// by the same ratio over its intervals (1 when exact). Only the last window
// can be cut short: every other one ends because the next interval is past it.
void PagePass::close_window(WindowCount& c, bool last) {
    const double scale = c.recorded > 0 ? c.estimated / c.recorded : 1;
    c.now.pages = uint64_t(std::llround(double(c.now.pages) * scale));
    c.now.whole = !last || c.cut.whole_by(c.k, a_.origin_ns + uint64_t(std::llround(c.now.end_s * 1e9)),
                                          a_.mean_interval_s * 1e9);
    c.ws.windows.push_back(c.now);
    window_bytes_ += sizeof(Window);
    c.open = false;
    c.estimated = c.recorded = 0;
}

void PagePass::open_heatmap(const Extent& extent) {
    Heatmap& h = a_.heatmap;
    axis_of_.assign(extent.active.size(), 0);
    axis_pages_.assign(extent.active.size(), 0);
    for (RegionId r = 0; r < extent.active.size(); ++r)
        if (extent.active[r]) {
            h.segments.push_back({r, extent.last_page[r] + 1, axis_});
            axis_of_[r] = axis_;
            axis_pages_[r] = extent.last_page[r] + 1;
            axis_ += extent.last_page[r] + 1;
        }
    if (axis_ > 0 && a_.intervals > 0) {
        h.rows = uint32_t(std::min<uint64_t>(o_.heat_rows, axis_));
        h.pages_per_row = (axis_ + h.rows - 1) / h.rows;
        h.rows = uint32_t((axis_ + h.pages_per_row - 1) / h.pages_per_row);
        h.columns = uint32_t(std::min<uint64_t>(o_.heat_columns, a_.intervals));
        h.cells.assign(size_t(h.rows) * h.columns, 0);
        h.column_end_s.assign(h.columns, 0);
        column_intervals_.assign(h.columns, 0);
    }
    fixed_bytes_ = ranges_.bytes() + h.cells.size() * sizeof(double);
}

void PagePass::heat(const PageRun& r, uint32_t column, double w) {
    Heatmap& h = a_.heatmap;
    if (!h.columns || r.region >= axis_pages_.size()) return;
    // Pass 2 shows what pass 1 measured, should the file have changed in between.
    if (r.first >= axis_pages_[r.region]) return;
    uint64_t p = axis_of_[r.region] + r.first;
    const uint64_t end = p + std::min(r.count, axis_pages_[r.region] - r.first);
    while (p < end) {
        const uint64_t row = p / h.pages_per_row;
        const uint64_t n = std::min(end, (row + 1) * h.pages_per_row) - p;
        h.cells[row * h.columns + column] += double(n) * w;
        p += n;
    }
}

void PagePass::finish() {
    for (WindowCount& c : windows_) {
        if (c.open) close_window(c, true);
        double sum = 0;
        for (const Window& w : c.ws.windows)
            if (w.whole) {
                c.ws.max_pages = std::max(c.ws.max_pages, w.pages);
                sum += double(w.pages);
                ++c.ws.whole_windows;
            }
        c.ws.mean_pages = c.ws.whole_windows ? sum / double(c.ws.whole_windows) : 0;
        a_.working_sets.push_back(std::move(c.ws));
    }
    for (double n : redirty_) a_.redirty.push_back(uint64_t(std::llround(n)));
    const double recorded = double(a_.intervals - a_.dropped);
    for (RegionId r = 0; r < per_region_.size(); ++r)
        if (per_region_[r])
            a_.regions.push_back({r, 0, a_.header.regions[r].page_count, per_region_[r],
                                  per_region_[r] / (double(a_.header.regions[r].page_count) * recorded)});
    std::sort(a_.regions.begin(), a_.regions.end(), [](const HotRange& x, const HotRange& y) {
        return x.dirtyings != y.dirtyings ? x.dirtyings > y.dirtyings : x.region < y.region;
    });
    a_.hottest = ranges_.hottest(o_.hottest, recorded);
    Heatmap& h = a_.heatmap;
    for (uint32_t row = 0; row < h.rows; ++row) {
        const uint64_t row_pages = std::min(h.pages_per_row, axis_ - uint64_t(row) * h.pages_per_row);
        for (uint32_t c = 0; c < h.columns; ++c) {
            double& cell = h.cells[size_t(row) * h.columns + c];
            cell = column_intervals_[c] ? std::min(cell / (double(row_pages) * double(column_intervals_[c])), 1.0) : 0;
            h.max_share = std::max(h.max_share, cell);
        }
    }
}

}  // namespace

std::string seconds_text(double s) {
    char b[32];
    if (s < 1) std::snprintf(b, sizeof b, "%.0f ms", s * 1000);
    else std::snprintf(b, sizeof b, "%.3g s", s);
    return b;
}

std::string region_offset(const recording::Header& header, RegionId region, uint64_t page) {
    const Region& r = header.regions.at(region);
    const uint64_t offset = page * r.page_size;
    return r.name + " " + (offset == 0 ? "+0" : "+" + format_bytes(double(offset)));
}

std::string page_address(const recording::Header& header, RegionId region, uint64_t page) {
    const Region& r = header.regions.at(region);
    if (r.space == AddressSpace::guest_physical) {
        char b[64];
        std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(r.base + page * r.page_size));
        return std::string(b) + " (" + region_offset(header, region, page) + ")";
    }
    return region_offset(header, region, page);
}

Result<Analysis> analyze(recording::Reader& reader, const AnalysisOptions& o) {
    Analysis a;
    a.header = reader.header();
    Extent extent;
    uint64_t figures = 0;
    if (Status s = read_figures(reader, o, a, extent, figures); !s) return s.error();
    PagePass pages(a, o, extent);
    pages.held_figures(figures);
    reader.rewind();
    for (uint64_t seen = 0; seen < a.intervals; ++seen) {
        auto in = reader.next();
        if (!in) break;  // a shorter pass 2: the file changed in between
        if (Status s = pages.add(*in, seen); !s) return s.error();
    }
    pages.finish();
    return a;
}

}  // namespace dtrack::cli
