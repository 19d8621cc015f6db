// SentPageCache: the contents last sent of as many pages as a byte budget
// holds, so a page sent again can go as a delta against them
// (page_delta.hpp). QEMU calls its own the XBZRLE cache (xbzrle-cache-size).
//
// Direct-mapped, as QEMU's: the guest's pages, all regions end to end, each
// have one slot, page number modulo the slot count; a page whose slot holds
// another page is a miss, and storing it evicts that one (an overflow),
// unless it is all zeros: those cost a flag to send and keep no slot busy. A
// lookup is an index and a compare: no hashing, no nodes, whatever the size.
// Per slot: the page's contents and an 8-byte tag (the page, and whether it
// was all zeros: then the contents are not copied). The slots are the budget
// over (page size + 8), at least one and never more than the guest has pages;
// contents are allocated untouched, so a big cache costs memory only as it
// fills.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace dtrack::precopy {

struct SentPageCacheCounts {
    uint64_t hits = 0, misses = 0, overflows = 0;
};

class SentPageCache {
public:
    // `region_pages`: each region's page count, in the order the callers
    // number regions (their index in the sender's memory list).
    SentPageCache(uint64_t budget_bytes, uint64_t page_size, std::span<const uint64_t> region_pages);

    uint64_t slots() const { return slots_; }
    uint64_t page_size() const { return page_size_; }

    // A page's slot: what it holds of this page, and where its next copy goes.
    struct Slot {
        uint64_t index = 0;
        uint64_t tag = 0;               // what the slot should hold for this page
        const uint8_t* held = nullptr;  // the copy last sent of this page (a zero page's: zeros); nullptr = miss
        uint8_t* keep = nullptr;        // page_size bytes for the copy sent now
    };
    // Looks up page `page` of region `region`, counting a hit or a miss.
    Slot find(size_t region, uint64_t page);
    // The same slot without counting (round 1: nothing is consulted yet).
    Slot slot(size_t region, uint64_t page) const;
    // The page was sent: its contents are in slot.keep, or it was all zeros
    // (`zero`, keep unwritten). Evicting another page counts an overflow; a
    // zero page evicts none (it is held only where its slot was free or its own).
    void stored(const Slot& slot, bool zero);

    const SentPageCacheCounts& counts() const { return counts_; }

private:
    static constexpr uint64_t zero_flag = 1ULL << 63;  // in a tag: the page was all zeros

    uint64_t page_size_;
    uint64_t slots_;
    std::vector<uint64_t> first_page_;  // per region: its first page's number, all regions end to end
    std::vector<uint64_t> tags_;        // per slot: 0 = empty, else page number + 1, | zero_flag
    std::unique_ptr<uint8_t[]> contents_;
    std::vector<uint8_t> zeros_;  // what a zero page's entry holds
    SentPageCacheCounts counts_;
};

}  // namespace dtrack::precopy
