// The sent-page cache (consumers/precopy/sent_page_cache.hpp): a byte budget
// of direct-mapped slots, hits, misses and overflows counted, the evicted
// page a miss afterwards, and zero pages held without their contents.
#include "consumers/precopy/sent_page_cache.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace dtrack::precopy;

namespace {

constexpr uint64_t page_size = 4096;
constexpr uint64_t slot_bytes = page_size + 8;  // contents and tag

// Sends `page` of `region` with every byte `fill` (0: a zero page) into `cache`.
void send(SentPageCache& cache, size_t region, uint64_t page, uint8_t fill) {
    const SentPageCache::Slot slot = cache.slot(region, page);
    if (fill) std::memset(slot.keep, fill, page_size);
    cache.stored(slot, fill == 0);
}

}  // namespace

TEST(SentPageCache, CountsHitsMissesAndOverflowsAndTheEvictedPageMissesAfter) {
    const std::vector<uint64_t> regions = {10};
    SentPageCache cache(4 * slot_bytes, page_size, regions);
    ASSERT_EQ(cache.slots(), 4u);
    EXPECT_EQ(cache.find(0, 1).held, nullptr) << "never sent";
    send(cache, 0, 1, 0x11);
    const SentPageCache::Slot hit = cache.find(0, 1);
    ASSERT_NE(hit.held, nullptr);
    EXPECT_EQ(hit.held[0], 0x11);
    EXPECT_EQ(hit.held[page_size - 1], 0x11);
    EXPECT_EQ(cache.counts().hits, 1u);
    EXPECT_EQ(cache.counts().misses, 1u);
    EXPECT_EQ(cache.counts().overflows, 0u);

    // Page 5 shares page 1's slot: storing it evicts page 1.
    EXPECT_EQ(cache.find(0, 5).held, nullptr);
    send(cache, 0, 5, 0x55);
    EXPECT_EQ(cache.counts().overflows, 1u);
    EXPECT_EQ(cache.find(0, 1).held, nullptr) << "page 1 was evicted";
    const SentPageCache::Slot five = cache.find(0, 5);
    ASSERT_NE(five.held, nullptr);
    EXPECT_EQ(five.held[7], 0x55);
    // Sending the same page again is no overflow.
    send(cache, 0, 5, 0x56);
    EXPECT_EQ(cache.counts().overflows, 1u);
    EXPECT_EQ(cache.counts().hits, 2u);
    EXPECT_EQ(cache.counts().misses, 3u);
    // slot() looks without counting (round 1 consults nothing).
    (void)cache.slot(0, 2);
    EXPECT_EQ(cache.counts().hits + cache.counts().misses, 5u);
}

TEST(SentPageCache, AZeroPageIsHeldAsZerosWithoutWritingItsSlot) {
    const std::vector<uint64_t> regions = {4};
    SentPageCache cache(4 * slot_bytes, page_size, regions);
    send(cache, 0, 2, 0x77);
    send(cache, 0, 2, 0);  // the page was cleared: sent as a zero page
    const SentPageCache::Slot s = cache.find(0, 2);
    ASSERT_NE(s.held, nullptr);
    EXPECT_NE(s.held, s.keep) << "a zero page's copy is not in its slot";
    for (uint64_t i = 0; i < page_size; ++i) ASSERT_EQ(s.held[i], 0) << i;
}

TEST(SentPageCache, AZeroPageNeverEvictsAnotherPagesCopy) {
    const std::vector<uint64_t> regions = {8};
    SentPageCache cache(4 * slot_bytes, page_size, regions);
    send(cache, 0, 1, 0x11);
    send(cache, 0, 5, 0);  // page 5 shares page 1's slot, and is all zeros
    EXPECT_EQ(cache.counts().overflows, 0u);
    const SentPageCache::Slot one = cache.find(0, 1);
    ASSERT_NE(one.held, nullptr) << "the zero page evicted page 1";
    EXPECT_EQ(one.held[0], 0x11);
    EXPECT_EQ(cache.find(0, 5).held, nullptr);
    // In a free slot, or its own, a zero page is held.
    send(cache, 0, 2, 0);
    EXPECT_NE(cache.find(0, 2).held, nullptr);
}

TEST(SentPageCache, SlotsAreTheBudgetOverPageAndTagAtLeastOneAndAtMostTheGuestsPages) {
    const std::vector<uint64_t> small = {1000, 24}, one = {1};
    EXPECT_EQ(SentPageCache(64ULL << 20, page_size, small).slots(), 1024u) << "more than the guest holds";
    EXPECT_EQ(SentPageCache(100 * slot_bytes + 5, page_size, small).slots(), 100u);
    EXPECT_EQ(SentPageCache(1, page_size, small).slots(), 1u);
    // 1 GiB over a 16 GiB guest: 261,882 slots, allocated untouched.
    const std::vector<uint64_t> big = {4ULL << 20};
    EXPECT_EQ(SentPageCache(1ULL << 30, page_size, big).slots(), (1ULL << 30) / slot_bytes);
    EXPECT_EQ(SentPageCache(1ULL << 30, page_size, one).slots(), 1u);
}

TEST(SentPageCache, RegionsAreNumberedEndToEndSoTheirPagesDoNotCollide) {
    const std::vector<uint64_t> regions = {3, 3};
    SentPageCache cache(6 * slot_bytes, page_size, regions);
    send(cache, 0, 0, 0x01);
    send(cache, 1, 0, 0x02);
    EXPECT_EQ(cache.counts().overflows, 0u);
    ASSERT_NE(cache.find(0, 0).held, nullptr);
    ASSERT_NE(cache.find(1, 0).held, nullptr);
    EXPECT_EQ(cache.find(0, 0).held[0], 0x01);
    EXPECT_EQ(cache.find(1, 0).held[0], 0x02);
}
