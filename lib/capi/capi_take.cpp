// Taking dirty pages: through a per-page callback, or into the caller's
// bitmap in KVM's dirty-log layout (bit i % 64 of word i / 64).
#include <algorithm>
#include <bit>
#include <string>

#include "capi/capi_boundary.hpp"
#include "capi/capi_handles.hpp"

using namespace dtrack;
using namespace dtrack::capi;

namespace {

// Checks the tracker and region; returns 0 or fail().
int check_take(const dt_tracker* tracker, uint32_t region) {
    if (!tracker) return null_argument("tracker");
    const size_t regions = tracker->tracker->region_count();
    if (region >= regions)
        return invalid("no region " + std::to_string(region) + " (the tracker has " + std::to_string(regions) + ")",
                       "pass an id that dt_add_memslot or dt_add_host_range returned");
    return 0;
}

// Takes the range, handing each non-zero word to `f`; pages taken or fail().
template <typename F>
int64_t take(dt_tracker* tracker, uint32_t region, uint64_t first, uint64_t count, F&& f) {
    tracker->in_use = true;
    auto taken = tracker->tracker->take(region, first, count, f);
    if (!taken) return fail(taken.error());
    return static_cast<int64_t>(*taken);
}

}  // namespace

extern "C" {

int64_t dt_take_pages(dt_tracker* tracker, uint32_t region, uint64_t first, uint64_t count, dt_page_fn fn, void* user) {
    return c_boundary(__func__, [&]() -> int64_t {
        if (int rc = check_take(tracker, region); rc < 0) return rc;
        if (!fn) return null_argument("fn");
        return take(tracker, region, first, count, [&](uint64_t word, uint64_t bits) {
            for (; bits; bits &= bits - 1) fn(user, word * 64 + std::countr_zero(bits));
        });
    });
}

int64_t dt_take_bitmap(dt_tracker* tracker, uint32_t region, uint64_t first, uint64_t count, uint64_t* bitmap,
                       size_t words) {
    return c_boundary(__func__, [&]() -> int64_t {
        if (int rc = check_take(tracker, region); rc < 0) return rc;
        if (!bitmap) return null_argument("bitmap");
        // The words the take can touch: up to the last page asked for, cut at the region's end.
        const uint64_t pages = tracker->tracker->region(region).page_count;
        const uint64_t end = first >= pages ? 0 : first + std::min(count, pages - first);
        const uint64_t needed = (end + 63) / 64;
        if (words < needed)
            return invalid("the bitmap has " + std::to_string(words) + " words and pages up to " + std::to_string(end) +
                               " need " + std::to_string(needed),
                           "pass a bitmap of at least (first + count + 63) / 64 words (the region has " +
                               std::to_string(pages) + " pages)");
        return take(tracker, region, first, count, [&](uint64_t word, uint64_t bits) { bitmap[word] |= bits; });
    });
}

}  // extern "C"
