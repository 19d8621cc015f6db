// HotPageDeferral: a page dirtied in each of the last k rounds is not sent in
// this round; it stays dirty and goes in the final (paused) round.
//
// A hot page sent every round is sent again the next, so sending it before
// the final round mostly wastes the link. The policy remembers, per page, in
// which of the last 8 rounds it was dirty, and before each round (after its
// sync) says which of the dirty pages to leave in the bitmap. The deferred set
// is bounded so that the final round still fits the downtime limit: at most
//     budget = downtime_limit x measured memory rate / page size
//              - the dirty pages that are not hot (the final round carries
//                about as many anyway)
// pages, and nothing is deferred before k rounds have been seen, nor in the
// final round. (For k = 1, "not hot" means not dirty two rounds running:
// see deferred_pages().) A deferred page stays dirty in the tracker's bitmap, so the
// sender's switchover estimate counts it and the final round sends it
// (invariant 1: no dirty page is lost).
//
// The decision is pure and thread-free (like throttle.cpp): the sender calls
// plan() between rounds and takes with Tracker::take_keeping(..., keep(region)).
// The budget rule alone (deferred_pages) is what `dtrack simulate` uses on a
// modelled guest, whose pages are expected counts.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <span>
#include <vector>

#include "dtrack/dirty_bitmap.hpp"
#include "dtrack/error.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct HotPageDeferralOptions {
    // k: a page dirty at each of the last k round syncs is hot. 1..8 (a
    // byte of history per page).
    int rounds = 2;
};

// rounds outside 1..8: an error naming the option and the fix.
Status check_hot_page_deferral(const HotPageDeferralOptions& options);

// The CLIs' --defer-hot and --defer-hot-rounds K (K as typed; empty: the
// default): nullopt without --defer-hot; K outside 1..8, or K without
// --defer-hot, an error naming the option and the fix.
Result<std::optional<HotPageDeferralOptions>> parse_defer_hot_options(bool defer_hot, const std::string& rounds);

// The pages the final round can carry within `downtime_limit` at
// `memory_rate` bytes of guest memory per second (0 when nothing was
// measured yet).
double final_round_capacity_pages(std::chrono::nanoseconds downtime_limit, double memory_rate, uint64_t page_size);

// The budget rule, in pages: of `hot` pages among `dirty` ones, how many to
// keep back (none before `observed_rounds` reaches k) when the final round
// carries `capacity`: min(hot, capacity - (dirty - repeated)), at least 0.
// `repeated`: the dirty pages that were dirty at each of the last max(k, 2)
// observations (= hot for k >= 2); the other dirty pages, new since the
// previous round, are what a final round carries anyway. (With k = 1 every
// dirty page is hot; counting only the hot ones as avoidable would let the
// kept pages fill the final round and block every switchover.)
double deferred_pages(uint64_t observed_rounds, int k, double dirty, double hot, double repeated, double capacity);

// One plan's figures.
struct DeferralPlan {
    uint64_t round = 0;     // the number of this plan's observation (1 = the first)
    uint64_t dirty = 0;     // pages dirty at the plan
    uint64_t hot = 0;       // of those, dirty at each of the last k observations
    uint64_t repeated = 0;  // of those, dirty at each of the last max(k, 2) observations
    uint64_t budget = 0;    // what may be deferred: capacity - (dirty - repeated), at least 0
    uint64_t deferred = 0;  // kept dirty for a later round: at most min(hot, budget)
};

class HotPageDeferral {
public:
    // One entry per region, its page count (index = RegionId, as the tracker's).
    HotPageDeferral(HotPageDeferralOptions options, std::vector<uint64_t> region_pages);

    // Before a round that is not the final one, after its sync: records which
    // pages are dirty now (one bitmap per region, index = RegionId; a region
    // whose bitmap is null is seen clean) and decides which to keep back.
    // `capacity`: final_round_capacity_pages() at the measured rate. Pages
    // deferred at the previous plan and still hot are kept first, then the
    // other hot pages in address order.
    DeferralPlan plan(std::span<const DirtyBitmap* const> dirty, double capacity);
    // The final round: nothing is kept.
    void release_all();

    // The pages to keep dirty in `region`'s next take (a bit per page, word j
    // = pages j*64..); empty when none.
    std::span<const uint64_t> keep(size_t region) const;
    uint64_t kept_pages() const { return kept_pages_; }
    int rounds() const { return k_; }

    // Rounds observed so far.
    uint64_t observed_rounds() const { return observed_; }
    // Page `page` of `region` was dirty at the last plan's observation n
    // rounds ago (0 = the last one). For tests.
    bool was_dirty(size_t region, uint64_t page, int rounds_ago) const;

private:
    struct HotWord {
        uint64_t word = 0, hot = 0, keep = 0;
        int repeated = 0;  // hot pages also dirty at the previous observation
    };
    struct RegionState {
        uint64_t pages = 0;
        std::vector<uint8_t> history;      // a byte per page, bit i: dirty i observations ago
        std::vector<uint64_t> active;      // a bit per bitmap word whose history is not all zero
        std::vector<uint64_t> keep;        // a bit per page; empty until something is kept
        std::vector<uint64_t> kept_words;  // the words of `keep` that are not zero
        std::vector<HotWord> hot_words;    // this plan's words with hot pages, in order
    };
    // Shifts every page's history and records the dirty pages; returns them.
    uint64_t observe(RegionState& r, const DirtyBitmap* dirty);
    // Marks up to `left` hot pages for keeping, those that `kept_before` says.
    void choose(RegionState& r, uint64_t& left, bool kept_before);
    void store_keep(RegionState& r);

    int k_;
    std::vector<RegionState> regions_;
    uint64_t observed_ = 0;
    uint64_t kept_pages_ = 0;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
