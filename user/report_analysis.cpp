#include "report_analysis.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "dtrack/units.hpp"

namespace dtrack::cli {

namespace {

using recording::Interval;
using recording::PageRun;

// Keys for pages and 64-page words of any region: region << 40 | index.
uint64_t key(RegionId region, uint64_t index) { return uint64_t(region) << 40 | index; }

// A set of pages, as sparse 64-bit words.
class PageSet {
public:
    void add(const PageRun& r) {
        uint64_t p = r.first;
        const uint64_t end = r.first + r.count;
        while (p < end) {
            const uint64_t bit = p % 64, n = std::min<uint64_t>(64 - bit, end - p);
            words_[key(r.region, p / 64)] |= (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << bit;
            p += n;
        }
    }
    uint64_t count() const {
        uint64_t n = 0;
        for (const auto& [k, bits] : words_) n += std::popcount(bits);
        return n;
    }
    void clear() { words_.clear(); }

private:
    std::unordered_map<uint64_t, uint64_t> words_;
};

double interval_pages(const Interval& in) {
    return in.estimated() ? in.estimated_pages : double(in.dirty_pages());
}

// How many pages each recorded page stands for: 1 when exact; for a
// sampling method, which records the sampled pages only, the interval's
// estimate over its recorded pages. That ratio is the whole interval's: a
// small range holds more or fewer sampled pages than its share, so a scaled
// figure for a range can come out above its pages, and is capped there.
double page_weight(const Interval& in) {
    const uint64_t recorded = in.dirty_pages();
    return in.estimated() && recorded > 0 ? in.estimated_pages / double(recorded) : 1.0;
}

void working_sets(Analysis& a, const std::vector<Interval>& all) {
    double nominal = double(a.header.interval_ns) / 1e9;
    if (nominal <= 0 && !all.empty()) nominal = double(all.back().end_ns) / 1e9 / double(all.size());
    for (const double seconds : {1.0, 10.0, 0.0}) {
        WorkingSet ws;
        ws.seconds = seconds;
        ws.intervals = seconds == 0 || nominal <= 0 ? std::max<uint64_t>(all.size(), 1)
                                                    : std::max<uint64_t>(1, uint64_t(std::llround(seconds / nominal)));
        PageSet set;
        // A sampling method records the sampled pages only: each stands for
        // estimated / recorded pages of its interval, and the window's union
        // scales by the same ratio over its intervals (1 when exact).
        double estimated = 0, recorded = 0;
        for (size_t i = 0; i < all.size(); ++i) {
            for (const PageRun& r : all[i].dirty) set.add(r);
            estimated += interval_pages(all[i]);
            recorded += double(all[i].dirty_pages());
            if ((i + 1) % ws.intervals == 0 || i + 1 == all.size()) {
                const double scale = recorded > 0 ? estimated / recorded : 1;
                ws.windows.push_back({double(all[i].end_ns) / 1e9, uint64_t(std::llround(double(set.count()) * scale))});
                set.clear();
                estimated = recorded = 0;
            }
        }
        double sum = 0;
        for (const auto& [t, pages] : ws.windows) {
            ws.max_pages = std::max(ws.max_pages, pages);
            sum += double(pages);
        }
        ws.mean_pages = ws.windows.empty() ? 0 : sum / double(ws.windows.size());
        a.working_sets.push_back(std::move(ws));
    }
}

void redirty_and_heat(Analysis& a, const std::vector<Interval>& all, const AnalysisOptions& o) {
    std::unordered_map<uint64_t, uint32_t> last;  // page key -> last interval it was dirtied in
    std::unordered_map<uint64_t, double> bands;   // range key -> dirtyings
    std::vector<double> per_region(a.header.regions.size()), redirty;
    std::vector<uint64_t> last_page(a.header.regions.size());
    std::vector<bool> active(a.header.regions.size());
    std::vector<uint64_t> band_pages(a.header.regions.size());
    for (size_t r = 0; r < band_pages.size(); ++r)
        band_pages[r] = std::max<uint64_t>(1, a.range_bytes / a.header.regions[r].page_size);
    for (const Interval& in : all) {
        const double w = page_weight(in);
        for (const PageRun& r : in.dirty) {
            per_region[r.region] += double(r.count) * w;
            active[r.region] = true;
            last_page[r.region] = std::max(last_page[r.region], r.first + r.count - 1);
            for (uint64_t p = r.first; p < r.first + r.count; ++p) {
                auto [it, fresh] = last.try_emplace(key(r.region, p), uint32_t(in.index));
                if (!fresh) {
                    const uint64_t gap = in.index - it->second;
                    const size_t bucket = size_t(std::bit_width(gap) - 1);
                    if (redirty.size() <= bucket) redirty.resize(bucket + 1);
                    redirty[bucket] += w;
                    it->second = uint32_t(in.index);
                }
                bands[key(r.region, p / band_pages[r.region])] += w;
            }
        }
    }
    for (double n : redirty) a.redirty.push_back(uint64_t(std::llround(n)));
    const double recorded = double(a.intervals - a.dropped);
    for (RegionId r = 0; r < per_region.size(); ++r)
        if (per_region[r])
            a.regions.push_back({r, 0, a.header.regions[r].page_count, per_region[r],
                                 per_region[r] / (double(a.header.regions[r].page_count) * recorded)});
    for (const auto& [k, n] : bands) {
        const RegionId r = RegionId(k >> 40);
        const uint64_t first = (k & ((1ULL << 40) - 1)) * band_pages[r];
        const uint64_t pages = std::min(band_pages[r], a.header.regions[r].page_count - first);
        const double most = double(pages) * recorded;  // every page in every interval
        a.hottest.push_back({r, first, pages, std::min(n, most), std::min(n / most, 1.0)});
    }
    const auto hotter = [](const HotRange& x, const HotRange& y) {
        return x.dirtyings != y.dirtyings ? x.dirtyings > y.dirtyings
                                          : std::tie(x.region, x.first_page) < std::tie(y.region, y.first_page);
    };
    std::sort(a.regions.begin(), a.regions.end(), hotter);
    std::sort(a.hottest.begin(), a.hottest.end(), hotter);
    if (a.hottest.size() > o.hottest) a.hottest.resize(o.hottest);

    // The heatmap's axis: each region that was dirtied, from its page 0 to the
    // last page ever dirtied, in region order.
    Heatmap& h = a.heatmap;
    uint64_t axis = 0;
    for (RegionId r = 0; r < active.size(); ++r)
        if (active[r]) {
            h.segments.push_back({r, last_page[r] + 1, axis});
            axis += last_page[r] + 1;
        }
    if (axis == 0 || all.empty()) return;
    h.rows = uint32_t(std::min<uint64_t>(o.heat_rows, axis));
    h.pages_per_row = (axis + h.rows - 1) / h.rows;
    h.rows = uint32_t((axis + h.pages_per_row - 1) / h.pages_per_row);
    h.columns = uint32_t(std::min<uint64_t>(o.heat_columns, all.size()));
    h.cells.assign(size_t(h.rows) * h.columns, 0);
    std::vector<uint64_t> column_intervals(h.columns);
    std::vector<uint64_t> axis_of(active.size());
    for (const HeatSegment& s : h.segments) axis_of[s.region] = s.first_row_page;
    for (size_t i = 0; i < all.size(); ++i) {
        const uint32_t c = uint32_t(i * h.columns / all.size());
        if (!all[i].dropped) ++column_intervals[c];
        const double w = page_weight(all[i]);
        for (const PageRun& r : all[i].dirty) {
            uint64_t p = axis_of[r.region] + r.first;
            const uint64_t end = p + r.count;
            while (p < end) {
                const uint64_t row = p / h.pages_per_row;
                const uint64_t n = std::min(end, (row + 1) * h.pages_per_row) - p;
                h.cells[row * h.columns + c] += double(n) * w;
                p += n;
            }
        }
    }
    h.column_end_s.resize(h.columns);
    for (size_t i = 0; i < all.size(); ++i) h.column_end_s[i * h.columns / all.size()] = double(all[i].end_ns) / 1e9;
    for (uint32_t row = 0; row < h.rows; ++row) {
        const uint64_t row_pages = std::min(h.pages_per_row, axis - uint64_t(row) * h.pages_per_row);
        for (uint32_t c = 0; c < h.columns; ++c) {
            double& cell = h.cells[size_t(row) * h.columns + c];
            cell = column_intervals[c] ? std::min(cell / (double(row_pages) * double(column_intervals[c])), 1.0) : 0;
            h.max_share = std::max(h.max_share, cell);
        }
    }
}

}  // namespace

std::string page_address(const recording::Header& header, RegionId region, uint64_t page) {
    const Region& r = header.regions.at(region);
    const uint64_t offset = page * r.page_size;
    std::string off = offset == 0 ? "+0" : "+" + format_bytes(double(offset));
    if (r.space == AddressSpace::guest_physical) {
        char b[64];
        std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(r.base + offset));
        return std::string(b) + " (" + r.name + " " + off + ")";
    }
    return r.name + " " + off;
}

Analysis analyze(recording::Reader& reader, const AnalysisOptions& o) {
    Analysis a;
    a.header = reader.header();
    std::vector<Interval> all;
    while (auto in = reader.next()) all.push_back(std::move(*in));
    a.end = reader.end();
    a.intervals = all.size();
    for (const Interval& in : all) {
        RatePoint p;
        p.t = double(in.end_ns) / 1e9;
        p.seconds = double(in.end_ns - in.start_ns) / 1e9;
        p.dropped = in.dropped;
        a.dropped += in.dropped;
        p.pages = interval_pages(in);
        p.bound = in.bound_pages;
        a.estimated = a.estimated || in.estimated();
        for (uint64_t v : in.vcpu_pages) p.vcpu_pages_per_s.push_back(p.seconds > 0 ? double(v) / p.seconds : 0);
        a.lost += in.lost;
        a.overapproximated += in.overapproximated;
        if (in.logging) {
            ++a.logging_known;
            a.logging_on += in.logging->at_start != DirtyLogging::off && in.logging->at_end != DirtyLogging::off;
            a.reads_low += in.logging->reads_low;
        }
        p.reads_low = in.logging && in.logging->reads_low;
        a.rate.push_back(std::move(p));
    }
    a.duration_s = all.empty() ? 0 : double(all.back().end_ns) / 1e9;
    working_sets(a, all);
    redirty_and_heat(a, all, o);
    return a;
}

}  // namespace dtrack::cli
