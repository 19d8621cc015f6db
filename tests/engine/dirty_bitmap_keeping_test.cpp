// take_range_keeping (hot-page deferral): the kept pages stay dirty and
// findable through both summary levels, the others are taken, against a
// reference under random operations and with markers racing the taker.
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <random>
#include <thread>
#include <vector>

#include "dtrack/dirty_bitmap.hpp"
#include "support/test_seed.hpp"

using dtrack::DirtyBitmap;

namespace {

std::vector<bool> visible_pages(const DirtyBitmap& b) {
    std::vector<bool> v(b.pages());
    b.for_each_page([&](uint64_t p) { v[p] = true; });
    return v;
}

class DirtyBitmapKeeping : public testing::TestWithParam<uint64_t> {};

TEST_P(DirtyBitmapKeeping, TakesAllButTheKeptPagesWhichStayDirtyAndFindable) {
    const uint64_t pages = GetParam();
    std::mt19937_64 rng(dtrack_test::test_seed(pages * 31 + 7));
    DirtyBitmap b(pages);
    std::vector<bool> ref(pages);
    std::vector<uint64_t> keep(b.words());
    const int ops = pages > 100000 ? 30 : 400;  // each op checks every page
    for (int op = 0; op < ops; ++op) {
        for (int i = 0; i < 50; ++i) {
            const uint64_t p = rng() % pages;
            b.mark(p);
            ref[p] = true;
        }
        for (auto& w : keep) w = rng() % 3 ? 0 : rng() & rng();
        const uint64_t first = rng() % pages, count = rng() % (pages + 100);
        std::vector<bool> taken(pages);
        const uint64_t n = b.take_range_keeping(first, count, keep, [&](uint64_t w, uint64_t bits) {
            for (; bits; bits &= bits - 1) {
                const uint64_t p = w * 64 + std::countr_zero(bits);
                ASSERT_LT(p, pages);
                ASSERT_FALSE(taken[p]) << "page " << p << " taken twice";
                taken[p] = true;
            }
        });
        uint64_t expected = 0;
        for (uint64_t p = 0; p < pages; ++p) {
            const bool kept = keep[p / 64] >> (p % 64) & 1;
            const bool takes = ref[p] && p >= first && p - first < count && !kept;
            ASSERT_EQ(taken[p], takes) << "page " << p << (kept ? " (kept)" : "");
            if (takes) {
                ref[p] = false;
                ++expected;
            }
        }
        ASSERT_EQ(n, expected);
        ASSERT_EQ(visible_pages(b), ref) << "a kept page must stay findable through the summary levels";
    }
    b.take_all([](uint64_t, uint64_t) {});
    EXPECT_EQ(b.count(), 0u) << "a whole take takes the kept pages too";
}

INSTANTIATE_TEST_SUITE_P(Sizes, DirtyBitmapKeeping, testing::Values(1, 65, 4097, (1 << 18) + 4097));

// Markers mark while the taker keeps every third word's bits: every mark is
// taken once or still set at the end, and every set page is findable.
TEST(DirtyBitmapKeepingConcurrency, MarkersAndAKeepingTakerLoseNothing) {
    const uint64_t pages = 3 * 4096 + 5;
    DirtyBitmap b(pages);
    std::vector<uint64_t> keep(b.words());
    for (size_t w = 0; w < keep.size(); w += 3) keep[w] = 0x5555'5555'5555'5555ULL;
    std::atomic<bool> done{false};
    std::vector<uint64_t> taken(pages);
    std::thread consumer([&] {
        std::mt19937_64 rng(5);
        while (!done.load())
            b.take_range_keeping(rng() % pages, rng() % 5000 + 1, keep, [&](uint64_t w, uint64_t bits) {
                for (; bits; bits &= bits - 1) ++taken[w * 64 + std::countr_zero(bits)];
            });
    });
    std::vector<std::vector<uint8_t>> marked(2, std::vector<uint8_t>(pages));
    std::vector<std::thread> markers;
    for (int t = 0; t < 2; ++t)
        markers.emplace_back([&, t] {
            std::mt19937_64 rng(t + 1);
            for (int i = 0; i < 300000; ++i) {
                const uint64_t p = rng() % pages;
                b.mark(p);
                marked[t][p] = 1;
            }
        });
    for (auto& m : markers) m.join();
    done = true;
    consumer.join();
    const std::vector<bool> visible = visible_pages(b);
    for (uint64_t p = 0; p < pages; ++p) {
        ASSERT_EQ(visible[p], b.test(p)) << "page " << p << " set but unflagged";
        const bool kept = keep[p / 64] >> (p % 64) & 1;
        if (kept) {
            ASSERT_EQ(taken[p], 0u) << "kept page " << p << " was taken";
        }
        if (marked[0][p] || marked[1][p]) {
            ASSERT_TRUE(taken[p] > 0 || b.test(p)) << "page " << p << " lost";
        }
    }
}

}  // namespace
