// Tracker: the engine. Regions and their dirty bitmaps, the registered
// sources, sync() that harvests them all, and monotonic counters.
//
// Threads: sources may mark bitmaps at any time (a reaper thread); sync() is
// serialized (the watcher and the migration thread may both call it); one
// consumer takes-and-clears. Regions and sources are added before the first
// sync.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dtrack/dirty_bitmap.hpp"
#include "dtrack/error.hpp"
#include "dtrack/region.hpp"
#include "dtrack/source.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// Two clocks (invariant 3): rounds count transfer passes, syncs count harvests.
enum class SyncKind : uint8_t {
    round,       // the sync that starts or ends a transfer round
    background,  // a harvest between rounds (the watcher's)
};

struct SourceCounters {
    std::string name;
    uint64_t harvests = 0;
    uint64_t pages = 0;
    uint64_t new_dirty = 0;
    uint64_t lost = 0;
    uint64_t overapproximated = 0;
    uint64_t failures = 0;  // harvests that returned an error
    bool estimate = false;
    std::vector<uint64_t> pages_per_vcpu;
    std::chrono::nanoseconds cost{0};
};

// A snapshot. Every field only grows (invariant 4).
struct Counters {
    uint64_t rounds = 0;
    uint64_t syncs_round = 0;
    uint64_t syncs_background = 0;
    std::vector<uint64_t> pages_per_region;  // pages reported dirty, index = RegionId
    std::vector<SourceCounters> sources;

    uint64_t syncs() const { return syncs_round + syncs_background; }
    // Each vCPU's pages over every source (index = vCPU); empty when no
    // source has a vCPU view.
    std::vector<uint64_t> pages_per_vcpu() const;
};

struct [[nodiscard]] SyncReport {
    SyncKind kind = SyncKind::round;
    uint64_t pages = 0;
    uint64_t new_dirty = 0;
    uint64_t lost = 0;
    bool estimate = false;       // a source estimated (sampling):
    double estimated_pages = 0;  // the sum of their estimates of distinct pages dirtied
    double estimate_bound = 0;   // and of their bounds (a conservative union)
    std::chrono::nanoseconds duration{0};
    std::vector<Error> errors;  // one per failing source; the others were harvested

    bool ok() const { return errors.empty(); }
};

class Tracker {
public:
    Tracker() = default;
    Tracker(const Tracker&) = delete;
    Tracker& operator=(const Tracker&) = delete;

    // --- set-up ---------------------------------------------------------------
    // A guest-physical region names a KVM memslot as address space << 16 |
    // slot id: an address space of 0 or 1 and a slot id below 32768 (KVM's
    // limits), each memslot once. A region's pages must end within the 64-bit
    // address space. Anything else is refused and nothing is added.
    static constexpr uint32_t max_address_spaces = 2;
    static constexpr uint32_t max_slot_ids = 32768;
    Result<RegionId> add_region(Region region);
    Source& add_source(std::unique_ptr<Source> source);

    size_t region_count() const { return regions_.size(); }
    const Region& region(RegionId id) const { return regions_.at(id).region; }
    DirtyBitmap& bitmap(RegionId id) { return regions_.at(id).bitmap; }
    const DirtyBitmap& bitmap(RegionId id) const { return regions_.at(id).bitmap; }
    // The region that holds KVM memslot `slot`, or nullptr.
    const Region* find_slot(uint32_t slot, RegionId* id = nullptr) const;

    // --- harvesting -----------------------------------------------------------
    // An error met by a background sync is reported by it and kept for the
    // next round sync's report too: the migration, which syncs by rounds,
    // sees every failure even when the watcher's sync met it first.
    SyncReport sync(SyncKind kind = SyncKind::round);

    // --- rounds ----------------------------------------------------------------
    void count_round();

    // --- consuming --------------------------------------------------------------
    // Takes-and-clears dirty pages [first, +count) of `id` after the sources
    // re-protected them: f(word_index, bits) per non-zero word. Returns pages
    // taken, or the error of a source that could not re-protect (then nothing
    // was taken).
    template <typename F>
    Result<uint64_t> take(RegionId id, uint64_t first, uint64_t count, F&& f);
    // As take(), but the pages set in `keep` (a bit per page of the region,
    // word j = pages j*64..) are neither taken nor re-protected where the
    // source re-protects lazily (KvmLogSource): they stay dirty in the bitmap
    // and are taken, after their re-protection, by a later take that does not
    // keep them. Invariant 2 holds: no page is handed out unprotected.
    template <typename F>
    Result<uint64_t> take_keeping(RegionId id, uint64_t first, uint64_t count, std::span<const uint64_t> keep, F&& f);

    Counters counters() const;

private:
    struct RegionState {
        RegionState(Region r) : region(std::move(r)), bitmap(region.page_count) {}
        Region region;
        DirtyBitmap bitmap;
    };
    Status prepare_take(RegionId id, uint64_t first, uint64_t count, std::span<const uint64_t> keep = {});

    std::deque<RegionState> regions_;
    std::vector<std::unique_ptr<Source>> sources_;

    std::mutex sync_mutex_;               // one harvest at a time
    std::vector<Error> unread_by_round_;  // errors of background syncs since the last round sync
    mutable std::mutex counters_mutex_;
    Counters counters_;
};

template <typename F>
Result<uint64_t> Tracker::take(RegionId id, uint64_t first, uint64_t count, F&& f) {
    if (Status s = prepare_take(id, first, count); !s) return s.error();
    return bitmap(id).take_range(first, count, f);
}

template <typename F>
Result<uint64_t> Tracker::take_keeping(RegionId id, uint64_t first, uint64_t count, std::span<const uint64_t> keep,
                                       F&& f) {
    if (Status s = prepare_take(id, first, count, keep); !s) return s.error();
    return bitmap(id).take_range_keeping(first, count, keep, f);
}

}  // namespace dtrack

DTRACK_PUBLIC_END
