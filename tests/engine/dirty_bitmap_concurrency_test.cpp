// Many threads mark while one consumer takes-and-clears, without a lock.
// Every clean->dirty transition a marker causes must be matched by exactly one
// take, or still be set at the end: nothing lost, nothing taken twice.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "dtrack/dirty_bitmap.hpp"

using dtrack::DirtyBitmap;

namespace {

void hammer(uint64_t pages, int markers, uint64_t marks_per_thread, bool ranged_takes,
            DirtyBitmap::Walk walk = DirtyBitmap::Walk::by_density) {
    DirtyBitmap b(pages);
    std::atomic<bool> done{false};
    std::vector<uint64_t> fresh(markers);
    std::vector<std::vector<uint8_t>> marked(markers, std::vector<uint8_t>(pages));

    std::vector<uint64_t> taken_per_page(pages);
    uint64_t taken = 0;
    std::thread consumer([&] {
        std::mt19937_64 rng(99);
        auto record = [&](uint64_t w, uint64_t bits) {
            for (; bits; bits &= bits - 1) ++taken_per_page[w * 64 + std::countr_zero(bits)];
        };
        while (!done.load()) {
            if (ranged_takes) {
                const uint64_t first = rng() % pages;
                taken += b.take_range(first, rng() % 3000 + 1, record, walk);
            } else {
                taken += b.take_all(record, walk);
            }
        }
    });

    std::vector<std::thread> threads;
    for (int t = 0; t < markers; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937_64 rng(t + 1);
            for (uint64_t i = 0; i < marks_per_thread; ++i) {
                uint64_t p;
                switch (i % 3) {
                    case 0:
                        p = rng() % pages;
                        fresh[t] += b.mark(p);
                        marked[t][p] = 1;
                        break;
                    case 1: {
                        p = rng() % pages;
                        const uint64_t n = rng() % 130 + 1;
                        fresh[t] += b.mark_range(p, n);
                        for (uint64_t q = p; q < p + n && q < pages; ++q) marked[t][q] = 1;
                        break;
                    }
                    default: {
                        const uint64_t w = rng() % b.words();
                        const uint64_t bits = rng() & rng();
                        fresh[t] += b.or_words(w, std::span<const uint64_t>(&bits, 1));
                        for (int bit = 0; bit < 64; ++bit)
                            if ((bits >> bit & 1) && w * 64 + bit < pages) marked[t][w * 64 + bit] = 1;
                    }
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    done = true;
    consumer.join();

    uint64_t total_fresh = 0;
    for (uint64_t f : fresh) total_fresh += f;
    const uint64_t left = b.count();
    EXPECT_EQ(total_fresh, taken + left) << "a clean->dirty transition was lost or taken twice";

    // A bit the summary does not know of is invisible to every consumer.
    std::vector<bool> visible(pages);
    b.for_each_page([&](uint64_t p) { visible[p] = true; });
    for (uint64_t p = 0; p < pages; ++p) ASSERT_EQ(visible[p], b.test(p)) << "page " << p << " set but unflagged";

    // Every page anyone marked was taken or is still marked.
    for (uint64_t p = 0; p < pages; ++p) {
        bool any = false;
        for (int t = 0; t < markers; ++t) any = any || marked[t][p];
        if (any) ASSERT_TRUE(taken_per_page[p] > 0 || b.test(p)) << "page " << p << " lost";
        else ASSERT_EQ(taken_per_page[p], 0u) << "page " << p << " taken but never marked";
    }
}

TEST(DirtyBitmapConcurrency, MarkersAndWholeTakerLoseNothing) { hammer(64 * 4096 + 37, 3, 200000, false); }

TEST(DirtyBitmapConcurrency, MarkersAndRangedTakerLoseNothing) { hammer(3 * 4096 + 5, 3, 200000, true); }

// A few words only: markers and the taker collide on the same words all the time.
TEST(DirtyBitmapConcurrency, HotWordsLoseNothing) { hammer(200, 2, 400000, false); }

// The words walk (a dense take's) exchanges words level 1 did not flag too,
// words a marker may be between its steps on.
TEST(DirtyBitmapConcurrency, MarkersAndAWordsWalkTakerLoseNothing) {
    hammer(200, 2, 400000, false, DirtyBitmap::Walk::words);
    hammer(3 * 4096 + 5, 3, 200000, true, DirtyBitmap::Walk::words);
}

// Pages page_of(0..marks) are each marked exactly once, by one of two
// threads (thread t takes every i of its parity), while a consumer takes
// everything in a loop. No later mark can rescue a bit that slipped past the
// summary levels: each marked page must be taken once or be findable at the
// end, and no other page may be either.
template <typename PageOf>
void mark_each_page_once_while_taking(uint64_t pages, uint64_t marks, PageOf page_of) {
    DirtyBitmap b(pages);
    std::atomic<bool> done{false};
    std::vector<uint8_t> taken(pages);
    std::thread consumer([&] {
        auto record = [&](uint64_t w, uint64_t bits) {
            for (; bits; bits &= bits - 1) ++taken[w * 64 + std::countr_zero(bits)];
        };
        while (!done.load()) b.take_all(record);
    });
    std::vector<std::thread> markers;
    for (uint64_t t = 0; t < 2; ++t)
        markers.emplace_back([&, t] {
            for (uint64_t i = t; i < marks; i += 2) b.mark(page_of(i));
        });
    for (auto& m : markers) m.join();
    done = true;
    consumer.join();
    std::vector<uint8_t> marked(pages);
    for (uint64_t i = 0; i < marks; ++i) marked[page_of(i)] = 1;
    std::vector<bool> visible(pages);
    b.for_each_page([&](uint64_t p) { visible[p] = true; });
    for (uint64_t p = 0; p < pages; ++p)
        ASSERT_EQ(taken[p] + visible[p], marked[p]) << "page " << p << (taken[p] ? " taken twice" : " lost");
}

TEST(DirtyBitmapConcurrency, EveryPageMarkedOnceIsTakenOnce) {
    constexpr uint64_t pages = 1 << 22;
    mark_each_page_once_while_taking(pages, pages, [](uint64_t i) { return i; });  // both threads share every word
}

// One level-2 bit covers 64 level-1 words, 4096 words, 262144 pages. All the
// marks under each level-2 bit go to its last level-1 word, a different word
// each mark, group after group: each mark lands where the taker is clearing
// the level-1 and level-2 bits, and no mark elsewhere under that level-2 bit
// would set it again if a step of the protocol let it be cleared too late.
TEST(DirtyBitmapLevels, AMarkInTheLastLevel1WordUnderALevel2BitATakeIsClearingIsNotLost) {
    constexpr uint64_t groups = 64, pages = groups * 262144, marks_per_group = 4096;
    auto page_of = [](uint64_t i) {
        const uint64_t group = i / marks_per_group, j = i % marks_per_group;
        return group * 262144 + 63 * 4096 + (j % 64) * 64 + j / 64;
    };
    for (int round = 0; round < 5; ++round) {
        SCOPED_TRACE(round);
        mark_each_page_once_while_taking(pages, groups * marks_per_group, page_of);
        if (testing::Test::HasFatalFailure()) return;
    }
}

}  // namespace
