// DirtyBitmap's two summary levels: level 1 flags words, level 2 flags
// level-1 words, so one level-2 bit covers 4096 words (262144 pages). These
// tests work across several level-2 words, where the random tests of
// dirty_bitmap_test.cpp (at most 100003 pages) never reach; marks racing a
// take through both levels are in dirty_bitmap_concurrency_test.cpp.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "dtrack/dirty_bitmap.hpp"

using dtrack::DirtyBitmap;

namespace {

constexpr uint64_t pages_per_level1_bit = 64;
constexpr uint64_t pages_per_level2_bit = 64 * 64 * 64;

std::vector<uint64_t> visible_pages(const DirtyBitmap& b) {
    std::vector<uint64_t> pages;
    b.for_each_page([&](uint64_t p) { pages.push_back(p); });
    return pages;
}

std::vector<uint64_t> take_all_pages(DirtyBitmap& b) {
    std::vector<uint64_t> pages;
    b.take_all([&](uint64_t w, uint64_t bits) {
        for (; bits; bits &= bits - 1) pages.push_back(w * 64 + std::countr_zero(bits));
    });
    return pages;
}

TEST(DirtyBitmapLevels, AMarkUnderALevel2BitATakeClearedIsFoundAgain) {
    DirtyBitmap b(3 * pages_per_level2_bit);
    const uint64_t last_of_group = 2 * pages_per_level2_bit - 1;  // last page under level-2 bit 1
    b.mark(last_of_group);
    EXPECT_EQ(take_all_pages(b), std::vector<uint64_t>{last_of_group});
    // The take cleared level-2 bit 1; marks under it must set it again.
    const uint64_t first_of_group = pages_per_level2_bit;
    b.mark(last_of_group - 1);
    b.mark_range(first_of_group, 3);
    const std::vector<uint64_t> expected{first_of_group, first_of_group + 1, first_of_group + 2, last_of_group - 1};
    EXPECT_EQ(visible_pages(b), expected);
    EXPECT_EQ(b.count(), 4u);
    EXPECT_EQ(take_all_pages(b), expected);
    EXPECT_EQ(b.count(), 0u);
}

TEST(DirtyBitmapLevels, TakeAllAtEveryDensityReturnsExactlyTheMarkedPages) {
    // Three level-2 words and a partial fourth, whose last word is partial too.
    const uint64_t pages = 3 * pages_per_level2_bit + 5 * 4096 + 77;
    DirtyBitmap b(pages);
    std::mt19937_64 rng(12);
    for (double density : {1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0})
        for (bool clustered : {false, true}) {
            std::vector<bool> ref(pages);
            std::bernoulli_distribution dirty(clustered ? density / 32 : density);
            for (uint64_t p = 0; p < pages; ++p)
                if (dirty(rng)) {
                    const uint64_t n = clustered ? 1 + rng() % 63 : 1;  // runs of 32 pages on average
                    b.mark_range(p, n);
                    for (uint64_t q = p; q < p + n && q < pages; ++q) ref[q] = true;
                }
            std::vector<uint64_t> expected;
            for (uint64_t p = 0; p < pages; ++p)
                if (ref[p]) expected.push_back(p);
            ASSERT_EQ(visible_pages(b), expected) << "density " << density << (clustered ? " clustered" : " uniform");
            ASSERT_EQ(take_all_pages(b), expected) << "density " << density << (clustered ? " clustered" : " uniform");
            ASSERT_EQ(b.count(), 0u);
            ASSERT_TRUE(take_all_pages(b).empty()) << "a page was taken twice";
        }
}

TEST(DirtyBitmapLevels, RangeTakesAcrossLevel2WordsMatchAReference) {
    const uint64_t pages = 3 * pages_per_level2_bit + 4097;
    DirtyBitmap b(pages);
    std::vector<bool> ref(pages);
    std::mt19937_64 rng(21);
    // Ranges that start and end on and next to level-1 and level-2 boundaries.
    auto edge_page = [&] {
        const uint64_t unit = (rng() % 2 ? pages_per_level2_bit : pages_per_level1_bit * 64);
        return std::min<uint64_t>((rng() % (pages / unit + 1)) * unit + rng() % 3 - 1, pages);
    };
    for (int op = 0; op < 120; ++op) {
        for (int i = 0; i < 200; ++i) {
            const uint64_t p = i % 2 ? edge_page() : rng() % pages;
            const uint64_t n = rng() % 100 + 1;
            b.mark_range(p, n);
            for (uint64_t q = p; q < p + n && q < pages; ++q) ref[q] = true;
        }
        const uint64_t first = edge_page(), count = edge_page();
        std::vector<bool> taken(pages);
        const uint64_t n = b.take_range(first, count, [&](uint64_t w, uint64_t bits) {
            for (; bits; bits &= bits - 1) taken[w * 64 + std::countr_zero(bits)] = true;
        });
        uint64_t expected = 0;
        for (uint64_t p = 0; p < pages; ++p) {
            const bool in_range = p >= first && p - first < count;
            ASSERT_EQ(taken[p], in_range && ref[p]) << "page " << p << ", range " << first << "+" << count;
            if (in_range && ref[p]) ++expected, ref[p] = false;
        }
        ASSERT_EQ(n, expected);
    }
    std::vector<uint64_t> left;
    for (uint64_t p = 0; p < pages; ++p)
        if (ref[p]) left.push_back(p);
    EXPECT_EQ(visible_pages(b), left) << "pages outside the taken ranges must stay findable";
}

}  // namespace
