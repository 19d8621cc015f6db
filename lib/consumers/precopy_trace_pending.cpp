#include "precopy_trace_pending.hpp"

#include <algorithm>
#include <iterator>

namespace dtrack::precopy {

void PendingPages::add(RegionId region, uint64_t first, uint64_t count) {
    if (count == 0) return;
    if (count < long_run) {
        bitmap(region).mark_range(first, count);
        return;
    }
    uint64_t start = key(region, first), end = start + count;
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

DirtyBitmap& PendingPages::bitmap(RegionId r) {
    if (!spilled_[r]) spilled_[r] = std::make_unique<DirtyBitmap>(region_pages_[r]);
    return *spilled_[r];
}

void PendingPages::spill() {
    for (const auto& [start, end] : runs_) bitmap(region_of(start)).mark_range(page_of(start), end - start);
    runs_.clear();
}

}  // namespace dtrack::precopy
