// The pages a replayed guest wrote since the last harvest (trace_guest.hpp).
// Long runs are kept as runs, merged as they come, so an interval's run of
// 2^29 pages, written again and again, is one entry and costs what one page
// does; short runs go into a bitmap per region (a bit a page, allocated
// when first needed), where they cost a word or two, and so do the long runs
// past max_runs entries. Scattered pages never take more than that bitmap.
#pragma once

#include <bit>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "dtrack/region.hpp"

namespace dtrack::precopy {

// A bitmap only its owner's thread touches: plain words (no atomics: the
// replay marks millions of them a step), and a bit per 64 words saying
// which may be set, so draining costs the words marked.
class PlainBitmap {
public:
    explicit PlainBitmap(uint64_t pages) : words_((pages + 63) / 64), marked_((words_.size() + 4095) / 4096) {}
    void mark(uint64_t first, uint64_t count);
    // mark(), calling on_new(page) for each bit that was clear before.
    template <typename F>
    void mark_new(uint64_t first, uint64_t count, F&& on_new);
    void unmark(uint64_t page) { words_[page / 64] &= ~(1ULL << (page % 64)); }
    void clear() {
        drain([](uint64_t, uint64_t) {});
    }
    // Calls f(first, count) for each maximal stretch of set bits, in order, and clears them.
    template <typename F>
    void drain(F&& f);

private:
    std::vector<uint64_t> words_;
    std::vector<uint64_t> marked_;  // bit g % 64 of word g / 64: words [64 g, 64 g + 64) may be set
};

template <typename F>
void PlainBitmap::mark_new(uint64_t first, uint64_t count, F&& on_new) {
    if (count == 0) return;
    const uint64_t last = first + count - 1;
    for (uint64_t w = first / 64; w <= last / 64; ++w) {
        const uint64_t head = w == first / 64 ? ~0ULL << (first % 64) : ~0ULL;
        const uint64_t tail = w == last / 64 ? ~0ULL >> (63 - last % 64) : ~0ULL;
        for (uint64_t fresh = head & tail & ~words_[w]; fresh; fresh &= fresh - 1)
            on_new(w * 64 + uint64_t(std::countr_zero(fresh)));
    }
    mark(first, count);
}

class PendingPages {
public:
    static constexpr size_t max_runs = 1 << 16;
    static constexpr uint64_t long_run = 4096;  // pages: shorter ones go into the bitmap

    explicit PendingPages(std::vector<uint64_t> region_pages) : region_pages_(std::move(region_pages)) {
        bitmaps_.resize(region_pages_.size());
    }

    // Pages [first, first + count) of `region`, which the caller checked lie in it.
    void add(RegionId region, uint64_t first, uint64_t count);

    // Calls f(region, first, count) for stretches that together hold every
    // pending page (a page may come twice), and forgets them.
    template <typename F>
    void drain(F&& f);

private:
    // Regions apart by 2^41 keys, so runs that end a region and begin the next never merge.
    static uint64_t key(RegionId region, uint64_t page) { return uint64_t(region) << 41 | page; }
    static RegionId region_of(uint64_t key) { return RegionId(key >> 41); }
    static uint64_t page_of(uint64_t key) { return key & ((1ULL << 41) - 1); }
    void spill();
    PlainBitmap& bitmap(RegionId region);

    std::vector<uint64_t> region_pages_;
    std::map<uint64_t, uint64_t> runs_;  // first key -> one past the last
    std::vector<std::unique_ptr<PlainBitmap>> bitmaps_;
};

template <typename F>
void PlainBitmap::drain(F&& f) {
    uint64_t run_first = 0, run_length = 0;
    for (size_t i = 0; i < marked_.size(); ++i)
        for (uint64_t groups = std::exchange(marked_[i], 0); groups; groups &= groups - 1) {
            const uint64_t g = i * 64 + uint64_t(std::countr_zero(groups));
            for (uint64_t w = g * 64; w < std::min<uint64_t>(g * 64 + 64, words_.size()); ++w)
                for (uint64_t bits = std::exchange(words_[w], 0); bits;) {
                    const int from = std::countr_zero(bits), length = std::countr_one(bits >> from);
                    const uint64_t first = w * 64 + uint64_t(from);
                    if (run_length && run_first + run_length == first) {
                        run_length += uint64_t(length);  // goes on from the word before
                    } else {
                        if (run_length) f(run_first, run_length);
                        run_first = first;
                        run_length = uint64_t(length);
                    }
                    bits = length + from >= 64 ? 0 : bits & (~0ULL << (from + length));
                }
        }
    if (run_length) f(run_first, run_length);
}

template <typename F>
void PendingPages::drain(F&& f) {
    for (const auto& [start, end] : runs_) f(region_of(start), page_of(start), end - start);
    runs_.clear();
    for (RegionId r = 0; r < bitmaps_.size(); ++r)
        if (bitmaps_[r]) bitmaps_[r]->drain([&](uint64_t first, uint64_t count) { f(r, first, count); });
}

}  // namespace dtrack::precopy
