#include "consumers/precopy/trace_pending.hpp"

#include <algorithm>
#include <iterator>

namespace dtrack::precopy {

namespace {

// Sets bits [first, last] of `words`: the whole words between by fill.
void set_bits(std::vector<uint64_t>& words, uint64_t first, uint64_t last) {
    const uint64_t head = ~0ULL << (first % 64), tail = ~0ULL >> (63 - last % 64);
    const uint64_t a = first / 64, b = last / 64;
    if (a == b) {
        words[a] |= head & tail;
        return;
    }
    words[a] |= head;
    std::fill(words.begin() + long(a + 1), words.begin() + long(b), ~0ULL);
    words[b] |= tail;
}

}  // namespace

void PlainBitmap::mark(uint64_t first, uint64_t count) {
    if (count == 0) return;
    const uint64_t last = first + count - 1;
    set_bits(words_, first, last);
    set_bits(marked_, first / 64 / 64, last / 64 / 64);
}

void PendingPages::add(RegionId region, uint64_t first, uint64_t count) {
    if (count == 0) return;
    uint64_t start = key(region, first), end = start + count;
    if (count < long_run) {
        // Inside a long run already (an interval's run, released whole, then in stretches): nothing new.
        if (auto it = runs_.upper_bound(start); it != runs_.begin() && std::prev(it)->second >= end) return;
        bitmap(region).mark(first, count);
        return;
    }
    // Merge with every run it overlaps or touches.
    auto it = runs_.upper_bound(start);
    if (it != runs_.begin() && std::prev(it)->second >= start) {
        --it;
        start = it->first;
        end = std::max(end, it->second);
        it = runs_.erase(it);
    }
    while (it != runs_.end() && it->first <= end) {
        end = std::max(end, it->second);
        it = runs_.erase(it);
    }
    runs_.emplace_hint(it, start, end);
    if (runs_.size() > max_runs) spill();
}

PlainBitmap& PendingPages::bitmap(RegionId r) {
    if (!bitmaps_[r]) bitmaps_[r] = std::make_unique<PlainBitmap>(region_pages_[r]);
    return *bitmaps_[r];
}

void PendingPages::spill() {
    for (const auto& [start, end] : runs_) bitmap(region_of(start)).mark(page_of(start), end - start);
    runs_.clear();
}

}  // namespace dtrack::precopy
