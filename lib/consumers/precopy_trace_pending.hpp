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
#include <vector>

#include "dtrack/dirty_bitmap.hpp"
#include "dtrack/region.hpp"

namespace dtrack::precopy {

class PendingPages {
public:
    static constexpr size_t max_runs = 1 << 16;
    static constexpr uint64_t long_run = 4096;  // pages: shorter ones go into the bitmap

    explicit PendingPages(std::vector<uint64_t> region_pages) : region_pages_(std::move(region_pages)) {
        spilled_.resize(region_pages_.size());
    }

    // Pages [first, first + count) of `region`, which the caller checked lie in it.
    void add(RegionId region, uint64_t first, uint64_t count);

    // Calls f(region, first, count) for stretches that together hold every
    // pending page (a page may come twice), and forgets them.
    template <typename F> void drain(F&& f);

private:
    // Regions apart by 2^41 keys, so runs that end a region and begin the next never merge.
    static uint64_t key(RegionId region, uint64_t page) { return uint64_t(region) << 41 | page; }
    static RegionId region_of(uint64_t key) { return RegionId(key >> 41); }
    static uint64_t page_of(uint64_t key) { return key & ((1ULL << 41) - 1); }
    void spill();
    DirtyBitmap& bitmap(RegionId region);

    std::vector<uint64_t> region_pages_;
    std::map<uint64_t, uint64_t> runs_;  // first key -> one past the last
    std::vector<std::unique_ptr<DirtyBitmap>> spilled_;  // the bitmaps, per region
};

template <typename F> void PendingPages::drain(F&& f) {
    for (const auto& [start, end] : runs_) f(region_of(start), page_of(start), end - start);
    runs_.clear();
    for (RegionId r = 0; r < spilled_.size(); ++r)
        if (spilled_[r])
            spilled_[r]->take_all([&](uint64_t word, uint64_t bits) {
                while (bits) {  // each stretch of set bits
                    const int from = std::countr_zero(bits), len = std::countr_one(bits >> from);
                    f(r, word * 64 + uint64_t(from), uint64_t(len));
                    bits = len + from >= 64 ? 0 : bits & (~0ULL << (from + len));
                }
            });
}

}  // namespace dtrack::precopy
