// Small helpers for source tests: sets of pages.
#pragma once

#include <bit>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "dtrack/tracker.hpp"

namespace dtrack_test {

// Takes-and-clears the region's dirty pages.
inline std::set<uint64_t> take_dirty(dtrack::Tracker& tracker, dtrack::RegionId id) {
    std::set<uint64_t> pages;
    auto taken = tracker.take(id, 0, tracker.region(id).page_count, [&](uint64_t w, uint64_t bits) {
        for (; bits; bits &= bits - 1) pages.insert(w * 64 + std::countr_zero(bits));
    });
    EXPECT_TRUE(taken.ok());
    return pages;
}

// `n` distinct pages below `pages`.
inline std::set<uint64_t> random_pages(std::mt19937_64& rng, uint64_t pages, uint64_t n) {
    std::set<uint64_t> s;
    while (s.size() < n) s.insert(rng() % pages);
    return s;
}

}  // namespace dtrack_test
