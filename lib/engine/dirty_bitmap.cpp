#include "dtrack/dirty_bitmap.hpp"

namespace dtrack {

namespace {

uint64_t words_for(uint64_t bits) { return (bits + 63) / 64; }

// An array of n zeroed atomic words (at least one, so indexing word 0 is safe).
std::unique_ptr<std::atomic<uint64_t>[]> zeroed_words(uint64_t n) {
    return std::unique_ptr<std::atomic<uint64_t>[]>(new std::atomic<uint64_t>[n ? n : 1]());
}

}  // namespace

DirtyBitmap::DirtyBitmap(uint64_t pages)
    : pages_(pages),
      words_(words_for(pages)),
      summary_words_(words_for(words_)),
      top_words_(words_for(summary_words_)),
      last_mask_(pages % bits_per_word ? (1ULL << (pages % bits_per_word)) - 1 : ~0ULL),
      bits_(zeroed_words(words_)),
      summary_(zeroed_words(summary_words_)),
      top_(zeroed_words(top_words_)) {}

bool DirtyBitmap::mark(uint64_t page) {
    if (page >= pages_) return false;
    const uint64_t w = page / bits_per_word, bit = 1ULL << (page % bits_per_word);
    const bool fresh = !(bits_[w].fetch_or(bit) & bit);
    flag(w / 64, 1ULL << (w % 64));
    return fresh;
}

uint64_t DirtyBitmap::mark_range(uint64_t first, uint64_t count) {
    if (first >= pages_ || count == 0) return 0;
    if (count > pages_ - first) count = pages_ - first;
    uint64_t fresh = 0, page = first;
    const uint64_t end = first + count;
    while (page < end) {
        const uint64_t w = page / bits_per_word, lo = page % bits_per_word;
        const uint64_t n = std::min<uint64_t>(bits_per_word - lo, end - page);
        const uint64_t mask = bit_span(lo, n);
        fresh += std::popcount(~bits_[w].fetch_or(mask) & mask);
        flag(w / 64, 1ULL << (w % 64));
        page += n;
    }
    return fresh;
}

uint64_t DirtyBitmap::or_words(uint64_t first_word, std::span<const uint64_t> in) {
    uint64_t fresh = 0;
    uint64_t pending_s = ~0ULL, pending_mask = 0;  // summary bits to set, batched per summary word
    for (size_t i = 0; i < in.size() && first_word + i < words_; ++i) {
        const uint64_t w = first_word + i;
        const uint64_t bits = in[i] & word_mask(w);
        if (!bits) continue;
        // Skip the locked OR when every bit is already set (re-dirtied pages).
        if ((bits_[w].load(std::memory_order_relaxed) & bits) != bits)
            fresh += std::popcount(~bits_[w].fetch_or(bits) & bits);
        if (w / 64 != pending_s) {
            if (pending_mask) flag(pending_s, pending_mask);
            pending_s = w / 64;
            pending_mask = 0;
        }
        pending_mask |= 1ULL << (w % 64);
    }
    if (pending_mask) flag(pending_s, pending_mask);
    return fresh;
}

bool DirtyBitmap::test(uint64_t page) const {
    if (page >= pages_) return false;
    return bits_[page / bits_per_word].load() & (1ULL << (page % bits_per_word));
}

uint64_t DirtyBitmap::count() const {
    uint64_t n = 0;
    for_each_word([&](uint64_t, uint64_t bits) { n += std::popcount(bits); });
    return n;
}

uint64_t DirtyBitmap::take_word(uint64_t w) { return w < words_ ? take_bits(w, ~0ULL) : 0; }

uint64_t DirtyBitmap::take_bits(uint64_t w, uint64_t mask) {
    const uint64_t s = w / 64, sbit = 1ULL << (w % 64);
    // Not flagged: clean, or a marker is between its steps and will flag it.
    // The level-2 bit stays: other words under it may be dirty.
    if (!(summary_[s].load() & sbit)) return 0;
    summary_[s].fetch_and(~sbit);
    if ((mask & word_mask(w)) == word_mask(w)) return bits_[w].exchange(0);
    const uint64_t old = bits_[w].fetch_and(~mask);
    if (old & ~mask) flag(s, sbit);  // bits outside the range stay dirty
    return old & mask;
}

uint64_t DirtyBitmap::next_set(const std::atomic<uint64_t>* level, uint64_t from, uint64_t end) {
    while (from < end) {
        const uint64_t i = from / 64;
        const uint64_t set = level[i].load(std::memory_order_relaxed) & (~0ULL << (from % 64));
        if (set) return std::min(i * 64 + std::countr_zero(set), end);
        from = (i + 1) * 64;
    }
    return end;
}

uint64_t DirtyBitmap::next_flagged_word(uint64_t from, uint64_t end) const {
    while (from < end) {
        const uint64_t s = from / 64;
        const uint64_t flagged = summary_[s].load(std::memory_order_relaxed) & (~0ULL << (from % 64));
        if (flagged) return std::min(s * 64 + std::countr_zero(flagged), end);
        // On to the next level-1 word that level 2 flags.
        from = next_set(top_.get(), s + 1, words_for(end)) * 64;
    }
    return end;
}

}  // namespace dtrack
