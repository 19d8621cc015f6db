#include "sources/dirty_ring_reader.hpp"

#include <linux/kvm.h>

#include <algorithm>
#include <utility>

namespace dtrack {

namespace {

uint32_t load_flags(const kvm_dirty_gfn& g) { return __atomic_load_n(&g.flags, __ATOMIC_ACQUIRE); }
void store_flags(kvm_dirty_gfn& g, uint32_t f) { __atomic_store_n(&g.flags, f, __ATOMIC_RELEASE); }

}  // namespace

DirtyRingReader::DirtyRingReader(DirtyRingKernel& kernel, Tracker& tracker, KvmRingOptions options)
    : kernel_(kernel), options_(std::move(options)), staged_(tracker) {}

void DirtyRingReader::add_ring(DirtyRingMemory ring) {
    std::lock_guard lock(mutex_);
    rings_.push_back({.memory = ring});
}

void DirtyRingReader::publish_staged() {
    // An entry that fits no region (counted lost by publish) names a page we
    // cannot place: cover it by marking everything, once per drain.
    if (staged_.publish(pending_)) mark_everything_dirty();
}

uint32_t DirtyRingReader::drain_ring(Ring& ring) {
    const uint32_t entries = ring.memory.entries, mask = entries - 1;
    kvm_dirty_gfn* const gfns = ring.memory.gfns;
    // Staged, not marked: the pages are still writable until the reset, and
    // a consumer must not read them before.
    StagedPages::Gatherer gatherer = staged_.gather(ring.memory.vcpu, entries);
    uint32_t fetch = ring.fetch, n = 0;
    for (; n < entries; ++n, ++fetch) {  // at most one lap per pass
        kvm_dirty_gfn& g = gfns[fetch & mask];
        if (!(load_flags(g) & KVM_DIRTY_GFN_F_DIRTY)) break;
        gatherer.add(g.slot, g.offset);
        store_flags(g, KVM_DIRTY_GFN_F_RESET);
    }
    gatherer.finish();
    ring.fetch = fetch;
    ring.flagged += n;
    return n;
}

void DirtyRingReader::mark_everything_dirty() {
    for (DirtyBitmap* b : staged_.bitmaps()) {
        if (!b) continue;
        const uint64_t fresh = b->mark_range(0, b->pages());
        pending_.new_dirty += fresh;
        pending_.overapproximated += fresh;
    }
}

bool DirtyRingReader::resync_ring(Ring& ring) {
    // In step, the kernel writes entries in order from our fetch index, so the
    // entry at `fetch` is dirty whenever any is. A dirty entry further on means
    // the kernel's index ran past ours (an overflow): skip to it, and flag the
    // stale entries in between so the reset can walk past them.
    const uint32_t entries = ring.memory.entries, mask = entries - 1;
    uint32_t skip = 0;
    while (skip < entries && !(load_flags(ring.memory.gfns[(ring.fetch + skip) & mask]) & KVM_DIRTY_GFN_F_DIRTY))
        ++skip;
    if (skip == 0 || skip == entries) return false;
    for (uint32_t i = 0; i < skip; ++i) store_flags(ring.memory.gfns[(ring.fetch + i) & mask], KVM_DIRTY_GFN_F_RESET);
    ring.fetch += skip;
    ring.flagged += skip;
    return true;
}

uint64_t DirtyRingReader::flagged_not_reset() const {
    uint64_t left = 0;
    for (const Ring& ring : rings_)
        for (uint32_t i = 1; i <= ring.flagged; ++i)
            left += (load_flags(ring.memory.gfns[(ring.fetch - i) & (ring.memory.entries - 1)]) &
                     KVM_DIRTY_GFN_F_RESET) != 0;
    return left;
}

Result<DirtyRingReader::ResetOutcome> DirtyRingReader::reset_rings() {
    uint64_t expected = 0;
    for (const Ring& ring : rings_) expected += ring.flagged;
    if (expected == 0) return ResetOutcome::in_step;
    // A reset cut short (a pending signal on newer kernels, see
    // KvmDirtyRings::reset) may have left the pages of the entries walked
    // just before the stop writable: finish the reset (the entries not
    // reached keep their RESET flag) and report the ring out of step, so the
    // caller re-protects all memory and marks it dirty, as for a jam. A cut
    // right after the last entry leaves nothing flagged; only the kernel
    // side's `stopped` shows it.
    uint64_t reset_total = 0;
    bool cut_short = false;
    // A call that resets nothing four times in a row means the kernel's
    // index is elsewhere: out of step, which the caller handles too.
    for (int zero_calls = 0; zero_calls < 4;) {
        const Result<RingResetResult> result = kernel_.reset();
        if (!result) return result.error();
        const uint64_t reset = result->count;
        ++counters_.resets;
        counters_.entries_reset += reset;
        reset_total += reset;
        // Stopped during the call: it may have bailed out right after its
        // last entry, whole count and all, with the last pages writable.
        if (result->stopped) {
            cut_short = true;
            ++counters_.short_resets;
        }
        if (reset_total >= expected || flagged_not_reset() == 0) break;
        cut_short = true;
        ++counters_.short_resets;
        zero_calls = reset == 0 ? zero_calls + 1 : 0;
    }
    for (Ring& ring : rings_) ring.flagged = 0;
    // In step, the kernel resets exactly the entries we flagged, in one call.
    return reset_total == expected && !cut_short ? ResetOutcome::in_step : ResetOutcome::out_of_step;
}

void DirtyRingReader::keep_unreported(Error error) {
    if (!unreported_error_) unreported_error_ = std::move(error);
}

Status DirtyRingReader::drain_locked(std::optional<FullExit> full_exit) {
    const auto start = std::chrono::steady_clock::now();
    bool overflow = false;
    Ring* full_ring = nullptr;
    for (Ring& ring : rings_) {
        const bool full = full_exit && ring.memory.vcpu == full_exit->vcpu;
        if (full) full_ring = &ring;
        // The others' rings keep their entries, and their pages stay writable, until they fill or a sync.
        if (!full && full_exit && full_exit->reap == FullExitReap::own_ring) continue;
        uint32_t n = drain_ring(ring);
        if (n == ring.memory.entries) {
            overflow = true;  // a whole lap: the kernel wrote past the soft limit
            ring.behind = true;
        } else if (n > 0) {
            ring.behind = false;  // a push where we read: in step
        } else if (ring.behind && resync_ring(ring)) {
            // The tail of the overflow already handled: the entries skipped
            // were read in the lap and reset since; flagging them again only
            // lets the kernel's reset index walk on to where it pushes.
            n = drain_ring(ring);
            ring.behind = false;
        }
    }
    if (options_.before_reset) options_.before_reset();
    const Result<ResetOutcome> reset = reset_rings();
    if (!reset) return reset.error();
    bool out_of_step = reset.value() == ResetOutcome::out_of_step;

    // A reset that disagrees may mean the kernel's index ran ahead of ours
    // somewhere: find where it writes now, in every ring. A full exit says
    // so of the full ring only, and only if nothing was read from it since
    // its previous full exit: a reaper pass that emptied it between the exit
    // and this call moved its fetch index, and then all is in step (a
    // resync then would be a spurious jam; and scanning the rings of
    // running vCPUs can see a push land mid-scan and take it for a gap).
    const bool full_ring_stuck = full_ring && full_ring->fetch == full_ring->fetch_at_full_exit;
    if (out_of_step || full_ring_stuck) {
        const bool every_ring = out_of_step;
        for (Ring& ring : rings_) {
            if (!every_ring && &ring != full_ring) continue;
            if (!resync_ring(ring)) continue;
            out_of_step = true;
            drain_ring(ring);
        }
        const Result<ResetOutcome> again = reset_rings();
        if (!again) return again.error();
        out_of_step = out_of_step || again.value() == ResetOutcome::out_of_step;
    }
    if (full_ring) full_ring->fetch_at_full_exit = full_ring->fetch;
    // Invariant 2: the pages are write-protected again; now consumers may see them.
    publish_staged();
    if (overflow || out_of_step) {
        // Entries were overwritten before we read them and nothing tells which
        // pages they named, or a reset cut short left some pages unprotected;
        // either way those pages are still writable. Write-protect all memory
        // again, then count every slot as dirty (never lose).
        ++counters_.jams;
        ++pending_.lost;
        if (!options_.rearm) {
            counters_.blind = true;
        } else if (Status rearmed = options_.rearm(); rearmed) {
            ++counters_.rearms;
        } else {
            // Memory stays writable where the jam left it: from now on every
            // harvest marks everything, and the VMM hears why.
            counters_.blind = true;
            const Error& e = rearmed.error();
            keep_unreported(Error{e.errno_value,
                                  "re-arming dirty logging after a ring jam failed (" + e.what +
                                      "); every harvest now marks all memory dirty",
                                  e.fix});
        }
        mark_everything_dirty();
    } else if (counters_.blind) {
        mark_everything_dirty();  // unseen writes may land anywhere, at any time
    }
    pending_.cost += std::chrono::steady_clock::now() - start;
    return Ok{};
}

Result<HarvestReport> DirtyRingReader::harvest() {
    std::lock_guard lock(mutex_);
    if (!unreported_error_) {
        if (Status s = drain_locked(std::nullopt); !s) keep_unreported(s.error());
    }
    // The report stays pending (its pages are in the bitmaps already) until
    // a harvest without an error hands it out.
    if (unreported_error_) return *std::exchange(unreported_error_, std::nullopt);
    return std::exchange(pending_, HarvestReport{});
}

Status DirtyRingReader::on_ring_full(uint32_t vcpu, FullExitReap reap) {
    std::lock_guard lock(mutex_);
    ++counters_.full_exits;
    return drain_locked(FullExit{vcpu, reap});
}

uint32_t DirtyRingReader::reap() {
    std::lock_guard lock(mutex_);
    std::vector<uint32_t> before;
    for (const Ring& ring : rings_) before.push_back(ring.fetch);
    if (Status s = drain_locked(std::nullopt); !s) keep_unreported(s.error());
    uint32_t fullest = 0;
    for (size_t i = 0; i < rings_.size(); ++i) fullest = std::max(fullest, rings_[i].fetch - before[i]);
    ++counters_.reaper_passes;
    return fullest;
}

KvmRingCounters DirtyRingReader::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

}  // namespace dtrack
