// Source: one kernel mechanism that knows which pages were written.
//
// A source harvests what its mechanism gathered into the tracker's bitmaps and
// says what it harvested, what it may have lost, and what that cost. It knows
// nothing of rounds or consumers.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/region.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

class Tracker;

// What one harvest did. Counts are of this harvest only (deltas).
struct HarvestReport {
    uint64_t pages = 0;                      // page reports taken from the kernel (a page re-dirtied counts again)
    uint64_t new_dirty = 0;                  // of those, pages that were clean in the tracker's bitmap
    std::vector<uint64_t> pages_per_vcpu;    // index = vCPU; empty when the mechanism has no vCPU view
    std::vector<uint64_t> pages_per_region;  // index = RegionId; may be shorter than the region list
    uint64_t lost = 0;                       // events the source knows it lost...
    uint64_t overapproximated = 0;           // ...and the pages it marked dirty without evidence to cover them
    bool estimate = false;                   // the figures are an estimate (sampling), not exact...
    double estimated_pages = 0;              // ...then: the estimate of distinct pages dirtied since the last harvest
    double estimate_bound = 0;               // ...and its half-width (95% confidence), in pages
    std::chrono::nanoseconds cost{0};        // time in ioctls and the harvest loop

    void add_vcpu(size_t vcpu, uint64_t n);
    void add_region(RegionId region, uint64_t n);
};

class Source {
public:
    virtual ~Source() = default;

    // A short name for counters and messages: "kvm-ring", "bpf", "uffd".
    virtual std::string name() const = 0;

    // Moves everything the kernel gathered since the last harvest into
    // `tracker`'s bitmaps. Invariant 2: whatever the mechanism must re-arm
    // (ring reset, write-protect) is re-armed before this returns, unless the
    // source defers it to prepare_take().
    virtual Result<HarvestReport> harvest(Tracker& tracker) = 0;

    // Called just before a consumer takes-and-clears [first_page, +count) of
    // `region`; a source that re-protects lazily (KVM_CLEAR_DIRTY_LOG) does it
    // here, so the page is protected again before its contents are read.
    virtual Status prepare_take(RegionId /*region*/, uint64_t /*first_page*/, uint64_t /*count*/) { return Ok{}; }

    // As prepare_take, before a take that leaves the pages set in `keep` (a
    // bit per page, word j = pages j*64.., from the region's first page)
    // dirty in the tracker: those are not read now, so a source that
    // re-protects lazily may leave them writable (the guest takes no new
    // write fault on them); they are re-protected by the prepare_take of the
    // take that reads them. Re-protecting them anyway is always safe, and
    // what a source without this override does.
    virtual Status prepare_take_keeping(RegionId region, uint64_t first_page, uint64_t count,
                                        std::span<const uint64_t> /*keep*/) {
        return prepare_take(region, first_page, count);
    }
};

}  // namespace dtrack

DTRACK_PUBLIC_END
