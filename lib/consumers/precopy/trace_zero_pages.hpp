// The zero pages of a replayed guest's round 1 (trace_guest.hpp,
// `dtrack simulate --zero-pages`). A recording says which pages the guest
// wrote, not what it wrote, so the operator gives how much memory is all
// zeros when the migration starts; this says which of round 1's pages go as
// zero-page flags. A page the replay writes before round 1's sweep reaches it
// is not zero any more (its contents go whole); the zero pages are taken to
// lie evenly over the pages not written yet, so the sweep finds, in each
// chunk, its unwritten pages times (zero pages left / unwritten pages left),
// at most all of them. When the replay writes none of them (a dtvm guest's
// memory outside its working set), round 1 sends exactly the given number.
#pragma once

#include <cstdint>
#include <vector>

#include "dtrack/region.hpp"

namespace dtrack::precopy {

class TraceZeroPages {
public:
    // One entry per region (its page count); `zero_pages` at most their sum.
    TraceZeroPages(const std::vector<uint64_t>& region_pages, double zero_pages);

    // The replay wrote pages [first, first + count) of `region`.
    void written(RegionId region, uint64_t first, uint64_t count);
    // Round 1's sweep takes the next `count` pages, from `first` of `region`
    // (in page order): the zero pages among them.
    double take(RegionId region, uint64_t first, uint64_t count);
    // The zero pages that the rest of the sweep will find.
    double ahead() const;

private:
    bool is_ahead(RegionId region, uint64_t page) const;

    std::vector<std::vector<uint64_t>> written_;  // a bit per page, per region
    double zero_left_ = 0;
    uint64_t pages_ahead_ = 0;    // not swept yet
    uint64_t written_ahead_ = 0;  // of those, written
    RegionId cursor_region_ = 0;  // the sweep's next page
    uint64_t cursor_page_ = 0;
};

}  // namespace dtrack::precopy
