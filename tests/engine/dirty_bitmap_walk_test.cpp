// The two walks a take can make under a flagged level-1 word: the summary
// walk (only the flagged words) and the words walk (every non-zero word, as a
// plain scan), and the choice between them by density. Whatever walk a take
// makes, it must return exactly the marked pages; marks racing a words walk
// are in dirty_bitmap_concurrency_test.cpp.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "dtrack/dirty_bitmap.hpp"

using dtrack::DirtyBitmap;
using Walk = DirtyBitmap::Walk;

namespace {

constexpr uint64_t pages_per_level1_word = 64 * 64;

// The pages marked, in order.
using Pages = std::vector<uint64_t>;

Pages take_pages(DirtyBitmap& b, Walk walk, uint64_t first = 0, uint64_t count = ~0ULL) {
    Pages pages;
    b.take_range(
        first, count,
        [&](uint64_t w, uint64_t bits) {
            for (; bits; bits &= bits - 1) pages.push_back(w * 64 + std::countr_zero(bits));
        },
        walk);
    return pages;
}

// A bitmap of `pages` with exactly the pages of `marked`.
DirtyBitmap marked_bitmap(uint64_t pages, const Pages& marked) {
    DirtyBitmap b(pages);
    for (uint64_t p : marked) b.mark(p);
    return b;
}

TEST(DirtyBitmapWalk, EveryWalkTakesExactlyTheMarkedPagesAtEveryDensity) {
    // Two level-2 words and a partial third, whose last word is partial too.
    const uint64_t pages = 2 * 262144 + 3 * pages_per_level1_word + 45;
    std::mt19937_64 rng(31);
    for (double density : {1e-4, 1e-2, 0.1, 0.5, 0.9, 1.0}) {
        std::bernoulli_distribution dirty(density);
        Pages marked;
        for (uint64_t p = 0; p < pages; ++p)
            if (dirty(rng)) marked.push_back(p);
        for (Walk walk : {Walk::summary, Walk::words, Walk::by_density}) {
            DirtyBitmap b = marked_bitmap(pages, marked);
            ASSERT_EQ(take_pages(b, walk), marked) << "density " << density << ", walk " << int(walk);
            ASSERT_EQ(b.count(), 0u);
            ASSERT_TRUE(take_pages(b, walk).empty()) << "a page was taken twice";
        }
    }
}

// Level-1 words with one word fewer than the switch, exactly the switch and
// one more, and all 64: each word's first and last page marked, so a walk
// that skipped a word or a bit position would miss pages.
Pages pages_across_the_switch(uint64_t level1_words) {
    Pages marked;
    const int counts[] = {DirtyBitmap::dense_words - 1, DirtyBitmap::dense_words, DirtyBitmap::dense_words + 1, 64};
    for (uint64_t s = 0; s < level1_words; ++s) {
        const int n = counts[s % 4];
        // The n flagged words spread over the 64, the first and the last always among them.
        for (int i = 0; i < n; ++i) {
            const uint64_t w = s * 64 + (n == 1 ? 0 : uint64_t(i) * 63 / (n - 1));
            marked.push_back(w * 64);
            marked.push_back(w * 64 + 63);
        }
    }
    return marked;
}

TEST(DirtyBitmapWalk, ByDensityTakesExactlyTheMarkedPagesEitherSideOfTheSwitch) {
    const uint64_t level1_words = 8;
    const Pages marked = pages_across_the_switch(level1_words);
    DirtyBitmap b = marked_bitmap(level1_words * pages_per_level1_word, marked);
    EXPECT_EQ(take_pages(b, Walk::by_density), marked);
    EXPECT_EQ(b.count(), 0u);
}

TEST(DirtyBitmapWalk, RangeTakesOfEitherWalkKeepThePagesOutsideTheRange) {
    const uint64_t level1_words = 8, pages = level1_words * pages_per_level1_word;
    const Pages marked = pages_across_the_switch(level1_words);
    // Ranges that cut level-1 words and words: the walks see partial level-1 words.
    const uint64_t first = pages_per_level1_word + 64 * 5 + 63, count = 5 * pages_per_level1_word + 7;
    Pages inside, outside;
    for (uint64_t p : marked) (p >= first && p - first < count ? inside : outside).push_back(p);
    for (Walk walk : {Walk::summary, Walk::words, Walk::by_density}) {
        DirtyBitmap b = marked_bitmap(pages, marked);
        EXPECT_EQ(take_pages(b, walk, first, count), inside) << "walk " << int(walk);
        EXPECT_EQ(take_pages(b, Walk::summary), outside) << "walk " << int(walk) << " lost a page outside its range";
    }
}

}  // namespace
