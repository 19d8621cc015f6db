// The C ABI (dtrack/dtrack.h) on memory of the test process, tracked with a
// real userfaultfd: exactly the pages written come back, through the
// callback and through the caller's bitmap; counters only grow.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "support/capi_memory.hpp"
#include "dtrack/dtrack.h"

namespace {

using capi_test::Pages;
using capi_test::take_pages;

std::set<uint64_t> some_pages(std::mt19937_64& rng, uint64_t pages, size_t n) {
    std::set<uint64_t> s;
    while (s.size() < n) s.insert(rng() % pages);
    return s;
}

TEST(CApiTracking, ExactlyTheWrittenPagesComeBackThroughTheCallback) {
    Pages pages(1024);
    CAPI_UFFD_OR_SKIP(t, pages);
    dt_sync_report quiet = {.sz = sizeof quiet};
    ASSERT_EQ(dt_sync(t.tracker, DT_SYNC_ROUND, &quiet), 0) << dt_last_error();
    EXPECT_EQ(quiet.pages, 0u) << "nothing was written since dt_uffd_track";

    std::mt19937_64 rng(std::random_device{}());
    for (int round = 0; round < 3; ++round) {
        const std::set<uint64_t> written = some_pages(rng, pages.count(), 20 + rng() % 200);
        for (uint64_t p : written) pages.write(p, uint8_t(round + 1));
        dt_sync_report r = {.sz = sizeof r};
        ASSERT_EQ(dt_sync(t.tracker, DT_SYNC_ROUND, &r), 0) << dt_last_error();
        EXPECT_EQ(r.pages, written.size());
        EXPECT_EQ(r.failed_sources, 0u);
        EXPECT_EQ(take_pages(t.tracker, uint32_t(t.region), pages.count()), written) << "round " << round;
    }
    // Taking re-protected them: a page written again comes back again.
    pages.write(5, 9);
    ASSERT_EQ(dt_sync(t.tracker, DT_SYNC_ROUND, nullptr), 0) << dt_last_error();
    EXPECT_EQ(take_pages(t.tracker, uint32_t(t.region), pages.count()), std::set<uint64_t>{5});
}

TEST(CApiTracking, TheBitmapTakeSetsBitIOfWordIOver64AndKeepsTheCallersBits) {
    Pages pages(200);  // not a multiple of 64: the last word is partial
    CAPI_UFFD_OR_SKIP(t, pages);
    const std::set<uint64_t> written = {0, 63, 64, 130, 199};
    for (uint64_t p : written) pages.write(p, 7);
    ASSERT_EQ(dt_sync(t.tracker, DT_SYNC_ROUND, nullptr), 0) << dt_last_error();

    std::vector<uint64_t> bitmap(4, 0);
    bitmap[3] = 1ULL << 60;  // the caller's own bit (page 252, past the region): kept
    // Pages [64, 200) only: 0 and 63 stay dirty in the tracker for a later take.
    EXPECT_EQ(dt_take_bitmap(t.tracker, uint32_t(t.region), 64, 1000, bitmap.data(), bitmap.size()), 3)
        << dt_last_error();
    EXPECT_EQ(bitmap[0], 0u);
    EXPECT_EQ(bitmap[1], 1ULL << 0);                             // page 64
    EXPECT_EQ(bitmap[2], 1ULL << (130 - 128));                   // page 130
    EXPECT_EQ(bitmap[3], (1ULL << (199 - 192)) | (1ULL << 60));  // page 199, and the caller's bit
    EXPECT_EQ(take_pages(t.tracker, uint32_t(t.region), pages.count()), (std::set<uint64_t>{0, 63}));
}

TEST(CApiTracking, CountersOnlyGrowAndKeepRoundsAndSyncsApart) {
    Pages pages(256);
    CAPI_UFFD_OR_SKIP(t, pages);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(t.tracker, &rounds), 0) << dt_last_error();

    dt_counters before = {.sz = sizeof before};
    ASSERT_EQ(dt_get_counters(t.tracker, &before), 0) << dt_last_error();
    EXPECT_EQ(before.regions, 1u);
    EXPECT_EQ(before.sources, 1u);

    ASSERT_EQ(dt_rounds_start_migration(rounds), 0);
    ASSERT_EQ(dt_rounds_begin_round(rounds), 0);
    for (uint64_t p = 0; p < 10; ++p) pages.write(p, 1);
    ASSERT_EQ(dt_rounds_sync(rounds, DT_SYNC_ROUND, nullptr), 0) << dt_last_error();
    for (uint64_t p = 10; p < 15; ++p) pages.write(p, 1);
    ASSERT_EQ(dt_sync(t.tracker, DT_SYNC_BACKGROUND, nullptr), 0) << dt_last_error();
    ASSERT_EQ(dt_rounds_end_round(rounds), 0);
    (void)take_pages(t.tracker, uint32_t(t.region), pages.count());  // consuming lowers no counter

    dt_counters after = {.sz = sizeof after};
    ASSERT_EQ(dt_get_counters(t.tracker, &after), 0) << dt_last_error();
    EXPECT_EQ(after.rounds, before.rounds + 1);
    EXPECT_EQ(after.syncs_round, before.syncs_round + 1);
    EXPECT_EQ(after.syncs_background, before.syncs_background + 1);
    EXPECT_EQ(after.pages, before.pages + 15);
    EXPECT_EQ(after.new_dirty, before.new_dirty + 15);
    EXPECT_EQ(after.harvests, before.harvests + 2);
    EXPECT_EQ(after.failures, 0u);
    EXPECT_EQ(after.lost, 0u);
    EXPECT_EQ(dt_rounds_round(rounds), 1u);
    EXPECT_EQ(dt_rounds_syncs(rounds, DT_SYNC_ROUND), 1u);
    dt_rounds_destroy(rounds);
}

TEST(CApiTracking, AnOlderCallersSmallerCountersStructGetsOnlyItsFields) {
    Pages pages(64);
    CAPI_UFFD_OR_SKIP(t, pages);
    pages.write(1, 1);
    ASSERT_EQ(dt_sync(t.tracker, DT_SYNC_ROUND, nullptr), 0) << dt_last_error();
    // A caller built when dt_counters ended after `rounds`..`syncs_background`.
    struct {
        dt_counters c;
        uint64_t guard;
    } old = {};
    old.c.sz = offsetof(dt_counters, harvests);
    old.c.harvests = 777;
    old.guard = 999;
    ASSERT_EQ(dt_get_counters(t.tracker, &old.c), 0) << dt_last_error();
    EXPECT_EQ(old.c.syncs_round, 1u);
    EXPECT_EQ(old.c.harvests, 777u) << "written past the caller's sz";
    EXPECT_EQ(old.guard, 999u);
}

}  // namespace
