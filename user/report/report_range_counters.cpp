#include "report_range_counters.hpp"

#include <algorithm>
#include <tuple>

namespace dtrack::cli {

namespace {

uint64_t ranges_of(const Region& r, uint64_t range_bytes) {
    const uint64_t range_pages = std::max<uint64_t>(1, range_bytes / r.page_size);
    return r.page_count / range_pages + (r.page_count % range_pages != 0);
}

}  // namespace

RangeCounters::RangeCounters(const std::vector<Region>& regions, uint64_t range_bytes, uint64_t max_ranges)
    : range_bytes_(range_bytes) {
    const auto total = [&] {
        uint64_t n = 0;
        for (const Region& r : regions) n += ranges_of(r, range_bytes_);
        return n;
    };
    // A region has at most 2^40 pages of at most 2^31 bytes: the doubling ends.
    while (total() > std::max<uint64_t>(max_ranges, regions.size()) && range_bytes_ < (1ULL << 62)) range_bytes_ *= 2;
    uint64_t at = 0;
    for (const Region& r : regions) {
        regions_.push_back({at, std::max<uint64_t>(1, range_bytes_ / r.page_size), r.page_count});
        at += ranges_of(r, range_bytes_);
    }
    direct_.assign(at, 0);
    steps_.assign(at + 1, 0);
}

void RangeCounters::add(RegionId region, uint64_t first, uint64_t count, double weight) {
    if (region >= regions_.size() || count == 0) return;
    const Span& s = regions_[region];
    if (first >= s.pages || count > s.pages - first) return;  // the reader let no such run through
    const uint64_t a = first / s.range_pages, b = (first + count - 1) / s.range_pages;
    if (a == b) {
        direct_[s.first_range + a] += double(count) * weight;
        return;
    }
    direct_[s.first_range + a] += double((a + 1) * s.range_pages - first) * weight;
    direct_[s.first_range + b] += double(first + count - b * s.range_pages) * weight;
    if (b > a + 1) {
        steps_[s.first_range + a + 1] += double(s.range_pages) * weight;
        steps_[s.first_range + b] -= double(s.range_pages) * weight;
    }
}

std::vector<HotRange> RangeCounters::hottest(size_t n, double intervals) const {
    const auto hotter = [](const HotRange& x, const HotRange& y) {
        return x.dirtyings != y.dirtyings ? x.dirtyings > y.dirtyings
                                          : std::tie(x.region, x.first_page) < std::tie(y.region, y.first_page);
    };
    std::vector<HotRange> top;  // a heap with the coolest of the n on top
    for (RegionId r = 0; r < regions_.size(); ++r) {
        const Span& s = regions_[r];
        double step = 0;
        for (uint64_t i = 0; s.first_range + i < direct_.size() && i * s.range_pages < s.pages; ++i) {
            step += steps_[s.first_range + i];
            const double dirtyings = direct_[s.first_range + i] + step;
            if (dirtyings <= 0) continue;
            const uint64_t first = i * s.range_pages, pages = std::min(s.range_pages, s.pages - first);
            const double most = double(pages) * intervals;  // every page in every interval
            const HotRange h{r, first, pages, std::min(dirtyings, most),
                             most > 0 ? std::min(dirtyings / most, 1.0) : 0};
            if (top.size() < n) {
                top.push_back(h);
                std::push_heap(top.begin(), top.end(), hotter);
            } else if (n > 0 && hotter(h, top.front())) {
                std::pop_heap(top.begin(), top.end(), hotter);
                top.back() = h;
                std::push_heap(top.begin(), top.end(), hotter);
            }
        }
    }
    std::sort(top.begin(), top.end(), hotter);
    return top;
}

}  // namespace dtrack::cli
