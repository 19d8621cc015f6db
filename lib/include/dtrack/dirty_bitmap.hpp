// DirtyBitmap: one bit per page, in 64-bit atomic words, under two summary levels.
//
// Many harvesters mark concurrently while one consumer takes-and-clears, with
// no lock. Level 1 holds one bit per bitmap word ("this word may be non-zero"),
// level 2 one bit per level-1 word ("these 4096 pages may be dirty"), so
// finding, counting and taking dirty pages costs time in proportion to the
// dirty words (plus one level-2 word per 2^18 pages, 1 GiB of guest), not to
// the size of the region.
//
// The rule that keeps pages from being lost between the levels:
//   marker:   set the page bit, then make sure the level-1 bit is set, then the level-2 bit;
//   consumer: clear the level-2 bit, then the level-1 bits under it, then exchange the words.
// With sequentially consistent atomics either the consumer's exchange sees the
// marker's bit, or the marker sees a cleared summary bit and sets it again.
// A marker that finds its level-1 bit set stops there: the thread that set it
// makes sure of level 2, and a consumer clears it only before exchanging the word.
// A consumer may also exchange a word level 1 does not flag (a dense take's
// words walk, below): the bits it finds are taken once, and a marker between
// its steps on that word only sets a flag that is stale by then.
//
// A take that keeps some pages (take_range_keeping, for hot-page deferral)
// follows the same rule word by word (take_bits): it clears the word's
// level-1 bit, clears only the bits it takes, and sets the level-1 bit again
// when any bit is left (a kept one, or one a marker set meanwhile). It never
// clears a level-2 bit, which may then be stale: every walk already skips a
// level-2 bit whose level-1 word is empty, and the next whole take clears it.
#pragma once

#include <algorithm>
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

    // How a take walks the words a level-1 word flags. `summary` exchanges
    // only the flagged words (the sparse ones prefetched ahead): cost in
    // proportion to the dirty words. `words` exchanges every non-zero word
    // under a flagged level-1 word in order, as a plain scan does, with no
    // per-bit work: the cheaper walk when most words are set. `by_density`
    // chooses per level-1 word: `words` from `dense_words` flagged words of
    // 64 up, else `summary`. Each keeps the protocol above.
    enum class Walk { by_density, summary, words };
    static constexpr int dense_words = 48;

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
    template <typename F>
    void for_each_word(F&& f, uint64_t first_word = 0, uint64_t end_word = ~0ULL) const;
    // f(page) for every dirty page, in order.
    template <typename F>
    void for_each_page(F&& f) const;
    // f(first_page, page_count) for every maximal run of dirty pages, in order.
    template <typename F>
    void for_each_run(F&& f) const;

    // --- taking: one consumer at a time ---------------------------------------
    // Returns the word's bits and clears them.
    uint64_t take_word(uint64_t word);
    // Takes and clears the pages [first, first+count): calls f(word_index, bits)
    // for every non-zero word (bits limited to the range), in order. Returns pages taken.
    template <typename F>
    uint64_t take_range(uint64_t first, uint64_t count, F&& f, Walk walk = Walk::by_density);
    template <typename F>
    uint64_t take_all(F&& f, Walk walk = Walk::by_density) {
        return take_range(0, pages_, f, walk);
    }
    // As take_range, but the pages whose bit is set in `keep` (bit i of
    // keep[j] = page j*64+i; the span covers the words of the range or more,
    // from word 0) are neither taken nor cleared: they stay dirty. f sees
    // only the bits taken.
    template <typename F>
    uint64_t take_range_keeping(uint64_t first, uint64_t count, std::span<const uint64_t> keep, F&& f);

private:
    // Bits [lo, lo+n) of a word, n in 1..64.
    static uint64_t bit_span(uint64_t lo, uint64_t n) { return (n == 64 ? ~0ULL : (1ULL << n) - 1) << lo; }
    // The first i >= from (and < end) whose bit is set in `level`, or `end`.
    static uint64_t next_set(const std::atomic<uint64_t>* level, uint64_t from, uint64_t end);
    // The index of the first word >= from (and < end) whose level-1 bit is set,
    // or `end` when there is none.
    uint64_t next_flagged_word(uint64_t from, uint64_t end) const;
    // Ensures the summary says words in `mask` of level-1 word `s` may be set.
    void flag(uint64_t s, uint64_t mask) {
        if ((summary_[s].load() & mask) == mask) return;
        summary_[s].fetch_or(mask);
        const uint64_t tbit = 1ULL << (s % 64);
        if (!(top_[s / 64].load() & tbit)) top_[s / 64].fetch_or(tbit);
    }
    // The valid bits of word w (the last word may be partial).
    uint64_t word_mask(uint64_t w) const { return w + 1 == words_ ? last_mask_ : ~0ULL; }
    // Takes bits `mask` of word w, keeping the summary honest for bits left behind.
    uint64_t take_bits(uint64_t w, uint64_t mask);
    // Takes the whole words [first, end) through both summary levels.
    template <typename F>
    uint64_t take_words(uint64_t first, uint64_t end, F& f, Walk walk);

    uint64_t pages_;
    uint64_t words_;
    uint64_t summary_words_;  // level 1: a bit per word
    uint64_t top_words_;      // level 2: a bit per level-1 word
    uint64_t last_mask_;
    std::unique_ptr<std::atomic<uint64_t>[]> bits_;
    std::unique_ptr<std::atomic<uint64_t>[]> summary_;
    std::unique_ptr<std::atomic<uint64_t>[]> top_;
};

// --- templates ---------------------------------------------------------------

template <typename F>
void DirtyBitmap::for_each_word(F&& f, uint64_t first_word, uint64_t end_word) const {
    if (end_word > words_) end_word = words_;
    for (uint64_t w = next_flagged_word(first_word, end_word); w < end_word; w = next_flagged_word(w + 1, end_word)) {
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
uint64_t DirtyBitmap::take_range(uint64_t first, uint64_t count, F&& f, Walk walk) {
    if (first >= pages_ || count == 0) return 0;
    if (count > pages_ - first) count = pages_ - first;
    const uint64_t end = first + count;
    const uint64_t w_first = first / bits_per_word, w_last = (end - 1) / bits_per_word;
    // Words the range covers only in part keep the bits outside it; a range
    // that runs to the region's end covers its last word whole.
    const bool head_part = first % bits_per_word != 0;
    const bool tail_part = end % bits_per_word != 0 && end != pages_;
    const uint64_t head_mask = ~0ULL << (first % bits_per_word);
    const uint64_t tail_mask = ~0ULL >> (63 - (end - 1) % bits_per_word);
    uint64_t taken = 0;
    auto take_part = [&](uint64_t w, uint64_t mask) {
        if (uint64_t bits = take_bits(w, mask)) {
            taken += std::popcount(bits);
            f(w, bits);
        }
    };
    if (w_first == w_last && (head_part || tail_part)) {
        take_part(w_first, head_mask & tail_mask);
        return taken;
    }
    if (head_part) take_part(w_first, head_mask);
    const uint64_t whole_first = w_first + head_part, whole_end = w_last + !tail_part;
    if (whole_first < whole_end) taken += take_words(whole_first, whole_end, f, walk);
    if (tail_part) take_part(w_last, tail_mask);
    return taken;
}

template <typename F>
uint64_t DirtyBitmap::take_range_keeping(uint64_t first, uint64_t count, std::span<const uint64_t> keep, F&& f) {
    if (first >= pages_ || count == 0) return 0;
    if (count > pages_ - first) count = pages_ - first;
    const uint64_t end = first + count;
    const uint64_t w_first = first / bits_per_word, w_end = (end - 1) / bits_per_word + 1;
    auto kept = [&](uint64_t w) { return w < keep.size() ? keep[w] : 0; };
    bool keeps_any = false;
    for (uint64_t w = w_first; w < w_end && !keeps_any; ++w) keeps_any = kept(w) != 0;
    if (!keeps_any) return take_range(first, count, f);
    uint64_t taken = 0;
    for (uint64_t w = next_flagged_word(w_first, w_end); w < w_end; w = next_flagged_word(w + 1, w_end)) {
        const uint64_t lo = std::max(first, w * bits_per_word), hi = std::min(end, (w + 1) * bits_per_word);
        const uint64_t mask = bit_span(lo % bits_per_word, hi - lo) & ~kept(w);
        if (!mask) continue;
        if (uint64_t bits = take_bits(w, mask)) {
            taken += std::popcount(bits);
            f(w, bits);
        }
    }
    return taken;
}

template <typename F>
uint64_t DirtyBitmap::take_words(uint64_t first, uint64_t end, F& f, Walk walk) {
    uint64_t taken = 0;
    auto exchange = [&](uint64_t w) {
        if (uint64_t bits = bits_[w].exchange(0)) {
            taken += std::popcount(bits);
            f(w, bits);
        }
    };
    // A flagged word of a sparse level-1 word is prefetched when found and
    // exchanged `depth` words later, so the cache misses of a sparse take
    // overlap instead of queueing. Dense level-1 words are read in order,
    // which the hardware prefetches by itself.
    constexpr uint64_t depth = 16;
    uint64_t queue[depth];
    uint64_t pushed = 0, popped = 0;
    const uint64_t s_first = first / 64, s_last = (end - 1) / 64;
    for (uint64_t t = s_first / 64; t <= s_last / 64; ++t) {
        const uint64_t lo = std::max(t * 64, s_first), hi = std::min(t * 64 + 63, s_last);
        const uint64_t t_mask = bit_span(lo % 64, hi - lo + 1);
        uint64_t flagged_s = top_[t].load() & t_mask;
        if (!flagged_s) continue;
        // Level-1 words wholly inside the range lose their level-2 bit before
        // their own bits are cleared; one the range only overlaps keeps it.
        uint64_t whole = t_mask;
        if (lo == s_first && first % 64) whole &= ~(1ULL << (lo % 64));
        if (hi == s_last && end % 64 && end != words_) whole &= ~(1ULL << (hi % 64));
        if (flagged_s & whole) flagged_s = top_[t].fetch_and(~whole) & t_mask;
        for (; flagged_s; flagged_s &= flagged_s - 1) {
            const uint64_t s = t * 64 + std::countr_zero(flagged_s);
            const uint64_t w_lo = std::max(s * 64, first), w_end = std::min(s * 64 + 64, end);
            const uint64_t w_mask = bit_span(w_lo % 64, w_end - w_lo);
            if (!(summary_[s].load() & w_mask)) continue;  // a stale level-2 bit
            uint64_t flagged = summary_[s].fetch_and(~w_mask) & w_mask;
            const int n = std::popcount(flagged);
            if (walk == Walk::words || (walk == Walk::by_density && n >= dense_words)) {
                // A plain scan of the level-1 word's words, the next level-1
                // word's prefetched meanwhile. A word level 1 did not flag is
                // clean or has a marker between its steps: taking its bits now
                // leaves that marker a stale flag to set, never a lost bit.
                while (popped < pushed) exchange(queue[popped++ % depth]);
                for (uint64_t w = w_lo; w < w_end; ++w) {
                    if (w % 8 == 0 && w + 64 < words_) __builtin_prefetch(&bits_[w + 64], 1);
                    if (bits_[w].load(std::memory_order_relaxed)) exchange(w);
                }
                continue;
            }
            if (n > 16) {
                while (popped < pushed) exchange(queue[popped++ % depth]);
                for (; flagged; flagged &= flagged - 1) exchange(s * 64 + std::countr_zero(flagged));
                continue;
            }
            for (; flagged; flagged &= flagged - 1) {
                const uint64_t w = s * 64 + std::countr_zero(flagged);
                __builtin_prefetch(&bits_[w], 1);
                queue[pushed++ % depth] = w;
                if (pushed - popped == depth) exchange(queue[popped++ % depth]);
            }
        }
    }
    while (popped < pushed) exchange(queue[popped++ % depth]);
    return taken;
}

}  // namespace dtrack

DTRACK_PUBLIC_END
