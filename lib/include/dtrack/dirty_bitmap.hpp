// DirtyBitmap: one bit per page, in 64-bit atomic words, with a summary level.
//
// Many harvesters mark concurrently while one consumer takes-and-clears, with
// no lock. The summary holds one bit per bitmap word ("this word may be
// non-zero"), so finding, counting and taking dirty pages costs time in
// proportion to the dirty words (plus one summary word per 4096 pages), not
// to the size of the region.
//
// The rule that keeps pages from being lost between the two levels:
//   marker:   set the page bit, then make sure the summary bit is set;
//   consumer: clear the summary bit, then exchange the word with 0.
// With sequentially consistent atomics either the consumer's exchange sees the
// marker's bit, or the marker sees the cleared summary bit and sets it again.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <span>
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

class DirtyBitmap {
public:
    static constexpr uint64_t bits_per_word = 64;

    explicit DirtyBitmap(uint64_t pages);

    uint64_t pages() const { return pages_; }
    uint64_t words() const { return words_; }

    // --- marking: any thread --------------------------------------------------
    // Each returns how many pages went from clean to dirty.
    bool mark(uint64_t page);
    uint64_t mark_range(uint64_t first, uint64_t count);
    // ORs a kernel-style bitmap (bit i of word j = page (first_word+j)*64+i)
    // into this one; bits past the last page are ignored.
    uint64_t or_words(uint64_t first_word, std::span<const uint64_t> bits);

    // --- reading: any thread; a snapshot that may race with marking -----------
    bool test(uint64_t page) const;
    uint64_t count() const;
    // f(word_index, bits) for every non-zero word in [first_word, end_word).
    template <typename F> void for_each_word(F&& f, uint64_t first_word = 0, uint64_t end_word = ~0ULL) const;
    // f(page) for every dirty page, in order.
    template <typename F> void for_each_page(F&& f) const;
    // f(first_page, page_count) for every maximal run of dirty pages, in order.
    template <typename F> void for_each_run(F&& f) const;

    // --- taking: one consumer at a time ---------------------------------------
    // Returns the word's bits and clears them.
    uint64_t take_word(uint64_t word);
    // Takes and clears the pages [first, first+count): calls f(word_index, bits)
    // for every non-zero word (bits limited to the range). Returns pages taken.
    template <typename F> uint64_t take_range(uint64_t first, uint64_t count, F&& f);
    template <typename F> uint64_t take_all(F&& f) { return take_range(0, pages_, f); }

private:
    // The index of the first word >= from (and < end) whose summary bit is set,
    // or `end` when there is none.
    uint64_t next_flagged_word(uint64_t from, uint64_t end) const;
    // Ensures the summary says words in `mask` of summary word `s` may be set.
    void flag(uint64_t s, uint64_t mask) {
        if ((summary_[s].load() & mask) != mask) summary_[s].fetch_or(mask);
    }
    // The valid bits of word w (the last word may be partial).
    uint64_t word_mask(uint64_t w) const { return w + 1 == words_ ? last_mask_ : ~0ULL; }
    // Takes bits `mask` of word w, keeping the summary honest for bits left behind.
    uint64_t take_bits(uint64_t w, uint64_t mask);

    uint64_t pages_;
    uint64_t words_;
    uint64_t last_mask_;
    std::unique_ptr<std::atomic<uint64_t>[]> bits_;
    std::unique_ptr<std::atomic<uint64_t>[]> summary_;
};

// --- templates ---------------------------------------------------------------

template <typename F>
void DirtyBitmap::for_each_word(F&& f, uint64_t first_word, uint64_t end_word) const {
    if (end_word > words_) end_word = words_;
    for (uint64_t w = next_flagged_word(first_word, end_word); w < end_word;
         w = next_flagged_word(w + 1, end_word)) {
        if (uint64_t bits = bits_[w].load(std::memory_order_relaxed)) f(w, bits);
    }
}

template <typename F>
void DirtyBitmap::for_each_page(F&& f) const {
    for_each_word([&](uint64_t w, uint64_t bits) {
        for (; bits; bits &= bits - 1) f(w * bits_per_word + std::countr_zero(bits));
    });
}

template <typename F>
void DirtyBitmap::for_each_run(F&& f) const {
    uint64_t run_first = 0, run_len = 0;
    for_each_word([&](uint64_t w, uint64_t bits) {
        const uint64_t base = w * bits_per_word;
        while (bits) {
            const uint64_t start = std::countr_zero(bits);
            const uint64_t len = std::countr_one(bits >> start);
            if (run_len && run_first + run_len == base + start) {
                run_len += len;  // continues the run from the previous word
            } else {
                if (run_len) f(run_first, run_len);
                run_first = base + start;
                run_len = len;
            }
            bits = len + start >= 64 ? 0 : bits & (~0ULL << (start + len));
        }
    });
    if (run_len) f(run_first, run_len);
}

template <typename F>
uint64_t DirtyBitmap::take_range(uint64_t first, uint64_t count, F&& f) {
    if (first >= pages_ || count == 0) return 0;
    if (count > pages_ - first) count = pages_ - first;
    const uint64_t last = first + count - 1;
    const uint64_t w_first = first / bits_per_word, w_last = last / bits_per_word;
    uint64_t taken = 0;
    auto take = [&](uint64_t w, uint64_t mask) {
        if (uint64_t bits = take_bits(w, mask)) {
            taken += std::popcount(bits);
            f(w, bits);
        }
    };
    // Partial words at the edges keep the bits outside the range.
    const uint64_t head_mask = ~0ULL << (first % bits_per_word);
    const uint64_t tail_mask = ~0ULL >> (63 - last % bits_per_word);
    if (w_first == w_last) {
        take(w_first, head_mask & tail_mask);
        return taken;
    }
    take(w_first, head_mask);
    // Whole words in between: clear summary bits first, then exchange the words.
    for (uint64_t w = w_first + 1; w < w_last;) {
        const uint64_t s = w / 64, s_end = std::min<uint64_t>((s + 1) * 64, w_last);
        const uint64_t lo = w % 64, n = s_end - w;
        const uint64_t mask = (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << lo;
        uint64_t flagged = summary_[s].fetch_and(~mask) & mask;
        for (; flagged; flagged &= flagged - 1) {
            const uint64_t word = s * 64 + std::countr_zero(flagged);
            if (uint64_t bits = bits_[word].exchange(0)) {
                taken += std::popcount(bits);
                f(word, bits);
            }
        }
        w = s_end;
    }
    take(w_last, tail_mask);
    return taken;
}

}  // namespace dtrack

DTRACK_PUBLIC_END
