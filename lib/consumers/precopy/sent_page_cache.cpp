// The direct-mapped cache of sent pages (sent_page_cache.hpp).
#include "consumers/precopy/sent_page_cache.hpp"

#include <algorithm>

namespace dtrack::precopy {

SentPageCache::SentPageCache(uint64_t budget_bytes, uint64_t page_size, std::span<const uint64_t> region_pages)
    : page_size_(page_size), zeros_(page_size, 0) {
    uint64_t total = 0;
    for (uint64_t pages : region_pages) {
        first_page_.push_back(total);
        total += pages;
    }
    slots_ = std::clamp<uint64_t>(budget_bytes / (page_size + sizeof(uint64_t)), 1, std::max<uint64_t>(total, 1));
    tags_.assign(slots_, 0);
    contents_ = std::make_unique_for_overwrite<uint8_t[]>(slots_ * page_size_);
}

SentPageCache::Slot SentPageCache::slot(size_t region, uint64_t page) const {
    const uint64_t number = first_page_[region] + page;
    Slot s;
    s.index = number % slots_;
    s.tag = number + 1;
    s.keep = contents_.get() + s.index * page_size_;
    const uint64_t held = tags_[s.index];
    if ((held & ~zero_flag) == s.tag) s.held = (held & zero_flag) ? zeros_.data() : s.keep;
    return s;
}

SentPageCache::Slot SentPageCache::find(size_t region, uint64_t page) {
    Slot s = slot(region, page);
    ++(s.held ? counts_.hits : counts_.misses);
    return s;
}

void SentPageCache::stored(const Slot& s, bool zero) {
    uint64_t& tag = tags_[s.index];
    const bool other = tag != 0 && (tag & ~zero_flag) != s.tag;
    // A zero page goes as a flag whatever the cache holds: it never evicts
    // another page's copy (whose receiver copy it did not change).
    if (zero && other) return;
    if (other) ++counts_.overflows;
    tag = s.tag | (zero ? zero_flag : 0);
}

}  // namespace dtrack::precopy
