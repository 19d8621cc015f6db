// The sidecar's sliding working-set windows against a plain set union of the
// intervals in each window (times are made up: nothing here sleeps).
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "sidecar/metrics/working_set_windows.hpp"

using dtrack::cli::sidecar::WorkingSetWindows;
using namespace std::chrono_literals;

namespace {

const WorkingSetWindows::TimePoint t0{};

TEST(WorkingSetWindows, APageDirtiedInSeveralIntervalsOfAWindowCountsOnce) {
    WorkingSetWindows w(60s);
    w.mark(0, 1);
    w.mark(0, 2);
    w.close_interval(t0 + 1s);
    w.mark(0, 2);  // again
    w.mark(0, 2);  // and again in the same interval
    w.mark(1, 2);  // the same page number in another region is another page
    w.close_interval(t0 + 2s);
    EXPECT_EQ(w.distinct_pages(10s), 3u);
    EXPECT_EQ(w.distinct_pages(1s), 2u);  // only the last interval: region 0's and region 1's page 2
}

TEST(WorkingSetWindows, PagesOlderThanTheWindowDropOut) {
    WorkingSetWindows w(60s);
    w.mark(0, 7);
    w.close_interval(t0 + 1s);
    for (int s = 2; s <= 12; ++s) {
        w.mark(0, 100 + s);
        w.close_interval(t0 + std::chrono::seconds(s));
    }
    // Intervals ending in (2 s, 12 s]: pages 103..112; page 7 (1 s) and 102 (2 s) are older.
    EXPECT_EQ(w.distinct_pages(10s), 10u);
    EXPECT_EQ(w.distinct_pages(60s), 12u);
}

TEST(WorkingSetWindows, ARestrictedCountKeepsOnlyAcceptedPagesOfTheWindowsClosedIntervals) {
    WorkingSetWindows w(60s);
    for (uint64_t p = 0; p < 10; ++p) w.mark(0, p);  // 1 s
    w.close_interval(t0 + 1s);
    for (uint64_t p = 0; p < 10; ++p) w.mark(1, p);  // 20 s
    w.close_interval(t0 + 20s);
    w.mark(1, 99);  // being recorded: in no closed interval yet
    const auto even = [](dtrack::RegionId, uint64_t page) { return page % 2 == 0; };
    EXPECT_EQ(w.distinct_pages_where(10s, even), 5u);   // region 1's even pages
    EXPECT_EQ(w.distinct_pages_where(60s, even), 10u);  // and region 0's
    EXPECT_EQ(w.distinct_pages_where(60s, [](dtrack::RegionId r, uint64_t) { return r == 0; }), 10u);
}

TEST(WorkingSetWindows, NothingClosedYetIsAnEmptyWorkingSet) {
    WorkingSetWindows w(60s);
    w.mark(0, 1);
    EXPECT_EQ(w.distinct_pages(10s), 0u);
}

TEST(WorkingSetWindows, MatchesTheUnionOfTheIntervalsUnderRandomMarks) {
    std::mt19937_64 rng(7);
    WorkingSetWindows w(60s);
    std::vector<std::set<uint64_t>> intervals;  // pages as region << 32 | page
    for (int s = 1; s <= 400; ++s) {
        std::set<uint64_t> pages;
        const int n = int(rng() % 300);
        for (int i = 0; i < n; ++i) {
            // Clustered pages, so chunks are shared, reused and forgotten.
            const uint32_t region = uint32_t(rng() % 3);
            const uint64_t page = (rng() % 40) * 256 + rng() % 300;
            w.mark(region, page);
            pages.insert(uint64_t(region) << 32 | page);
        }
        w.close_interval(t0 + std::chrono::seconds(s));
        intervals.push_back(std::move(pages));
        for (int window : {1, 10, 60}) {
            std::set<uint64_t> in_window;
            for (int i = std::max(0, int(intervals.size()) - window); i < int(intervals.size()); ++i)
                in_window.insert(intervals[i].begin(), intervals[i].end());
            ASSERT_EQ(w.distinct_pages(std::chrono::seconds(window)), in_window.size())
                << "window " << window << " s after " << s << " intervals";
        }
    }
}

}  // namespace
