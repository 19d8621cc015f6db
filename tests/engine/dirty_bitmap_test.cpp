// DirtyBitmap against a reference std::vector<bool> under random operations,
// at sizes that do and do not line up with words (64) and summary words (4096).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "dtrack/dirty_bitmap.hpp"

using dtrack::DirtyBitmap;

namespace {

// Checks every read path of `b` against `ref`.
void expect_same(const DirtyBitmap& b, const std::vector<bool>& ref) {
    uint64_t ref_count = 0;
    for (uint64_t p = 0; p < ref.size(); ++p) {
        ASSERT_EQ(b.test(p), ref[p]) << "page " << p;
        ref_count += ref[p];
    }
    ASSERT_EQ(b.count(), ref_count);

    std::vector<uint64_t> pages;
    b.for_each_page([&](uint64_t p) { pages.push_back(p); });
    std::vector<uint64_t> ref_pages;
    for (uint64_t p = 0; p < ref.size(); ++p)
        if (ref[p]) ref_pages.push_back(p);
    ASSERT_EQ(pages, ref_pages);

    // Runs are maximal, ordered, and cover exactly the dirty pages.
    std::vector<bool> from_runs(ref.size());
    uint64_t prev_end = 0;
    bool first = true;
    b.for_each_run([&](uint64_t start, uint64_t len) {
        ASSERT_GT(len, 0u);
        if (!first) {
            ASSERT_GT(start, prev_end) << "runs must be maximal and ordered";
        }
        first = false;
        prev_end = start + len;
        for (uint64_t p = start; p < start + len; ++p) from_runs[p] = true;
    });
    ASSERT_EQ(from_runs, ref);
}

class DirtyBitmapRandom : public testing::TestWithParam<uint64_t> {};

TEST_P(DirtyBitmapRandom, MatchesReferenceUnderRandomOperations) {
    const uint64_t pages = GetParam();
    DirtyBitmap b(pages);
    std::vector<bool> ref(pages);
    std::mt19937_64 rng(pages * 7919 + 1);
    auto any_page = [&] { return rng() % (pages + 2); };  // includes out-of-range pages

    for (int op = 0; op < 3000; ++op) {
        switch (rng() % 7) {
            case 0: {  // mark
                const uint64_t p = any_page();
                const bool fresh = p < pages && !ref[p];
                EXPECT_EQ(b.mark(p), fresh);
                if (p < pages) ref[p] = true;
                break;
            }
            case 1: {  // mark_range
                const uint64_t first = any_page(), count = rng() % 300;
                uint64_t fresh = 0;
                for (uint64_t p = first; p < first + count && p < pages; ++p) {
                    fresh += !ref[p];
                    ref[p] = true;
                }
                EXPECT_EQ(b.mark_range(first, count), fresh);
                break;
            }
            case 2: {  // or_words: a kernel bitmap of random sparse words
                const uint64_t first_word = rng() % (b.words() + 1);
                std::vector<uint64_t> in(rng() % 5);
                for (auto& w : in) w = rng() & rng() & rng();
                uint64_t fresh = 0;
                for (size_t i = 0; i < in.size(); ++i)
                    for (int bit = 0; bit < 64; ++bit) {
                        const uint64_t p = (first_word + i) * 64 + bit;
                        if (p < pages && (in[i] >> bit & 1)) {
                            fresh += !ref[p];
                            ref[p] = true;
                        }
                    }
                EXPECT_EQ(b.or_words(first_word, in), fresh);
                break;
            }
            case 3: {  // take_range
                const uint64_t first = any_page(), count = rng() % 5000;
                std::vector<bool> taken(pages);
                const uint64_t n = b.take_range(first, count, [&](uint64_t w, uint64_t bits) {
                    for (int bit = 0; bit < 64; ++bit)
                        if (bits >> bit & 1) {
                            const uint64_t p = w * 64 + bit;
                            ASSERT_LT(p, pages);
                            ASSERT_FALSE(taken[p]) << "page " << p << " taken twice";
                            taken[p] = true;
                        }
                });
                uint64_t expected = 0;
                for (uint64_t p = 0; p < pages; ++p) {
                    const bool in_range = p >= first && p - first < count;
                    ASSERT_EQ(taken[p], in_range && ref[p]) << "page " << p;
                    if (in_range && ref[p]) {
                        ++expected;
                        ref[p] = false;
                    }
                }
                EXPECT_EQ(n, expected);
                break;
            }
            case 4: {  // take_word
                const uint64_t w = rng() % (b.words() + 1);
                uint64_t expected = 0;
                for (int bit = 0; bit < 64; ++bit) {
                    const uint64_t p = w * 64 + bit;
                    if (p < pages && ref[p]) {
                        expected |= 1ULL << bit;
                        ref[p] = false;
                    }
                }
                EXPECT_EQ(b.take_word(w), expected);
                break;
            }
            default: expect_same(b, ref);
        }
        if (testing::Test::HasFatalFailure()) return;
    }
    expect_same(b, ref);

    std::vector<bool> all(pages);
    b.take_all([&](uint64_t w, uint64_t bits) {
        for (int bit = 0; bit < 64; ++bit)
            if (bits >> bit & 1) all[w * 64 + bit] = true;
    });
    EXPECT_EQ(all, ref);
    EXPECT_EQ(b.count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Sizes, DirtyBitmapRandom,
                         testing::Values(1, 63, 64, 65, 127, 4095, 4096, 4097, 64 * 64 * 3 + 17, 100003));

TEST(DirtyBitmapEdges, LastPageOfOddSizedRegion) {
    for (uint64_t pages : {1ULL, 63ULL, 65ULL, 4097ULL, 262145ULL}) {
        DirtyBitmap b(pages);
        EXPECT_TRUE(b.mark(pages - 1));
        EXPECT_FALSE(b.mark(pages)) << "past the end must be ignored";
        EXPECT_EQ(b.count(), 1u);
        uint64_t seen = ~0ULL;
        b.for_each_page([&](uint64_t p) { seen = p; });
        EXPECT_EQ(seen, pages - 1);
        EXPECT_EQ(b.take_range(pages - 1, 100, [](uint64_t, uint64_t) {}), 1u);
        EXPECT_EQ(b.count(), 0u);
    }
}

TEST(DirtyBitmapEdges, KernelBitsPastTheLastPageAreIgnored) {
    DirtyBitmap b(70);  // two words, the second holds 6 pages
    const uint64_t in[2] = {0, ~0ULL};
    EXPECT_EQ(b.or_words(0, in), 6u);
    EXPECT_EQ(b.count(), 6u);
    EXPECT_FALSE(b.test(70));
}

TEST(DirtyBitmapEdges, PartialTakeKeepsNeighboursFindable) {
    // Taking part of a word must leave the rest reachable through the summary.
    DirtyBitmap b(4096 * 2 + 5);
    b.mark_range(60, 10);  // spans words 0 and 1
    b.mark(4096 * 2 + 4);  // last page, alone in the last summary word
    EXPECT_EQ(b.take_range(62, 3, [](uint64_t, uint64_t) {}), 3u);
    std::vector<uint64_t> left;
    b.for_each_page([&](uint64_t p) { left.push_back(p); });
    EXPECT_EQ(left, (std::vector<uint64_t>{60, 61, 65, 66, 67, 68, 69, 4096 * 2 + 4}));
}

TEST(DirtyBitmapEdges, RunsJoinAcrossWordsAndSummaryWords) {
    DirtyBitmap b(4096 * 3);
    b.mark_range(4096 - 3, 70);  // crosses a word and a summary-word boundary
    b.mark(0);
    b.mark(4096 * 3 - 1);
    std::vector<std::pair<uint64_t, uint64_t>> runs;
    b.for_each_run([&](uint64_t s, uint64_t n) { runs.emplace_back(s, n); });
    EXPECT_EQ(runs, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 1}, {4093, 70}, {4096 * 3 - 1, 1}}));
}

}  // namespace
