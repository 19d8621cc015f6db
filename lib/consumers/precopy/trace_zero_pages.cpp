#include "consumers/precopy/trace_zero_pages.hpp"

#include <algorithm>
#include <bit>

namespace dtrack::precopy {

namespace {

// Calls f(word index, mask) for the words holding bits [first, first + count).
template <typename F>
void for_words(uint64_t first, uint64_t count, F&& f) {
    for (uint64_t at = first, end = first + count; at < end;) {
        const uint64_t bit = at % 64, n = std::min<uint64_t>(64 - bit, end - at);
        f(at / 64, (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << bit);
        at += n;
    }
}

}  // namespace

TraceZeroPages::TraceZeroPages(const std::vector<uint64_t>& region_pages, double zero_pages) : zero_left_(zero_pages) {
    for (uint64_t pages : region_pages) {
        written_.emplace_back((pages + 63) / 64, 0);
        pages_ahead_ += pages;
    }
}

bool TraceZeroPages::is_ahead(RegionId region, uint64_t page) const {
    return region > cursor_region_ || (region == cursor_region_ && page >= cursor_page_);
}

void TraceZeroPages::written(RegionId region, uint64_t first, uint64_t count) {
    if (region >= written_.size()) return;
    std::vector<uint64_t>& words = written_[region];
    for_words(first, count, [&](uint64_t w, uint64_t mask) {
        const uint64_t fresh = mask & ~words[w];
        words[w] |= fresh;
        // Only those the sweep has still to reach matter.
        for (uint64_t bits = fresh; bits; bits &= bits - 1)
            written_ahead_ += is_ahead(region, w * 64 + uint64_t(std::countr_zero(bits)));
    });
}

double TraceZeroPages::take(RegionId region, uint64_t first, uint64_t count) {
    if (region >= written_.size() || count == 0) return 0;
    uint64_t written = 0;
    for_words(first, count,
              [&](uint64_t w, uint64_t mask) { written += uint64_t(std::popcount(written_[region][w] & mask)); });
    const uint64_t unwritten_ahead = pages_ahead_ - written_ahead_;
    const double share = unwritten_ahead > 0 ? std::min(1.0, zero_left_ / double(unwritten_ahead)) : 0;
    const double zero = std::min(zero_left_, double(count - written) * share);
    zero_left_ -= zero;
    pages_ahead_ -= std::min(pages_ahead_, count);
    written_ahead_ -= std::min(written_ahead_, written);
    cursor_region_ = region;
    cursor_page_ = first + count;
    return zero;
}

double TraceZeroPages::ahead() const { return std::min(zero_left_, double(pages_ahead_ - written_ahead_)); }

}  // namespace dtrack::precopy
