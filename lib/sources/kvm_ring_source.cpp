#include "dtrack/kvm_ring_source.hpp"

#include <linux/kvm.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "sources/kvm_ioctl.hpp"
#include "sources/signals_held.hpp"

namespace dtrack {

namespace {

constexpr uint32_t no_region = ~0u;

uint32_t load_flags(const kvm_dirty_gfn& g) { return __atomic_load_n(&g.flags, __ATOMIC_ACQUIRE); }
void store_flags(kvm_dirty_gfn& g, uint32_t f) { __atomic_store_n(&g.flags, f, __ATOMIC_RELEASE); }

}  // namespace

Result<std::unique_ptr<KvmRingSource>> KvmRingSource::enable(int vm_fd, Tracker& tracker, KvmRingOptions options) {
    const uint32_t n = options.entries;
    // KVM wants a power of two of at least one page of entries (4096 / 16).
    if (n < 256 || (n & (n - 1)))
        return Error{EINVAL, "dirty ring size " + std::to_string(n) + " is not a power of two of at least 256",
                     "choose a power of two such as 4096 or 65536"};
    const uint64_t bytes = uint64_t(n) * sizeof(kvm_dirty_gfn);

    // ACQ_REL first: it is the variant with documented memory ordering.
    const uint32_t caps[] = {KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING};
    Error last{};
    for (uint32_t cap : caps) {
        if (cap == KVM_CAP_DIRTY_LOG_RING_ACQ_REL && !options.acq_rel) continue;
        const int max_bytes = ::ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);
        if (max_bytes <= 0) {
            last = Error{ENOTSUP, "the kernel has no KVM dirty ring (KVM_CAP_DIRTY_LOG_RING)",
                         "use the dirty log (--track log), or a kernel >= 5.11; see kconfig-notes/kvm-dirty-ring.md"};
            continue;
        }
        if (bytes > uint64_t(max_bytes))
            return Error{EINVAL,
                         "dirty ring of " + std::to_string(n) + " entries exceeds the kernel's maximum of " +
                             std::to_string(max_bytes / sizeof(kvm_dirty_gfn)),
                         "choose at most " + std::to_string(max_bytes / sizeof(kvm_dirty_gfn)) + " entries"};
        kvm_enable_cap ec{};
        ec.cap = cap;
        ec.args[0] = bytes;
        if (::ioctl(vm_fd, KVM_ENABLE_CAP, &ec) < 0) {
            last = errno_error("KVM_ENABLE_CAP(dirty ring)", errno,
                               "enable the ring before creating vCPUs, once per VM");
            continue;
        }
        return std::unique_ptr<KvmRingSource>(
            new KvmRingSource(vm_fd, tracker, n, cap == KVM_CAP_DIRTY_LOG_RING_ACQ_REL, options));
    }
    return last;
}

KvmRingSource::KvmRingSource(int vm_fd, Tracker& tracker, uint32_t entries, bool acq_rel, KvmRingOptions options)
    : vm_fd_(vm_fd), tracker_(tracker), entries_(entries), acq_rel_(acq_rel), options_(options) {
    for (RegionId id = 0; id < tracker.region_count(); ++id) {
        const Region& r = tracker.region(id);
        if (r.space != AddressSpace::guest_physical) continue;
        if (slot_to_region_.size() <= r.slot) slot_to_region_.resize(r.slot + 1, no_region);
        slot_to_region_[r.slot] = id;
    }
}

KvmRingSource::~KvmRingSource() {
    stop_reaper();
    for (auto& ring : rings_)
        if (ring->gfns) ::munmap(ring->gfns, size_t(entries_) * sizeof(kvm_dirty_gfn));
}

Status KvmRingSource::add_vcpu(int vcpu_fd, uint32_t index) {
    const long page = ::sysconf(_SC_PAGESIZE);
    void* p = ::mmap(nullptr, size_t(entries_) * sizeof(kvm_dirty_gfn), PROT_READ | PROT_WRITE, MAP_SHARED,
                     vcpu_fd, KVM_DIRTY_LOG_PAGE_OFFSET * page);
    if (p == MAP_FAILED) return errno_error("mmap of the vCPU dirty ring", errno, "enable the ring before creating the vCPU");
    std::lock_guard lock(mutex_);
    auto ring = std::make_unique<Ring>();
    ring->index = index;
    ring->gfns = static_cast<kvm_dirty_gfn*>(p);
    rings_.push_back(std::move(ring));
    return Ok{};
}

void KvmRingSource::publish_staged() {
    for (const Staged& e : staged_) publish(e);
    staged_.clear();
    if (std::exchange(unplaceable_, false)) mark_everything_dirty();
}

void KvmRingSource::publish(const Staged& e) {
    const RegionId id = e.slot < slot_to_region_.size() ? slot_to_region_[e.slot] : no_region;
    if (id == no_region || e.offset >= tracker_.region(id).page_count) {
        // A page we cannot place: say so, and cover it by marking everything
        // (once per drain, not once per such entry).
        ++pending_.lost;
        unplaceable_ = true;
        return;
    }
    ++pending_.pages;
    pending_.new_dirty += tracker_.bitmap(id).mark(e.offset);
    pending_.add_vcpu(e.vcpu, 1);
    pending_.add_region(id, 1);
}

uint32_t KvmRingSource::drain_ring(Ring& ring) {
    const uint32_t mask = entries_ - 1;
    uint32_t n = 0;
    while (n < entries_) {  // at most one lap per pass
        kvm_dirty_gfn& g = ring.gfns[ring.fetch & mask];
        if (!(load_flags(g) & KVM_DIRTY_GFN_F_DIRTY)) break;
        // Staged, not marked: the page is still writable until
        // KVM_RESET_DIRTY_RINGS, and a consumer must not read it before.
        staged_.push_back({g.slot, g.offset, ring.index});
        store_flags(g, KVM_DIRTY_GFN_F_RESET);
        ++ring.fetch;
        ++ring.flagged;
        ++n;
    }
    return n;
}

void KvmRingSource::mark_everything_dirty() {
    for (RegionId id : slot_to_region_) {
        if (id == no_region) continue;
        DirtyBitmap& b = tracker_.bitmap(id);
        const uint64_t fresh = b.mark_range(0, b.pages());
        pending_.new_dirty += fresh;
        pending_.overapproximated += fresh;
    }
}

bool KvmRingSource::resync_ring(Ring& ring) {
    // In step, the kernel writes entries in order from our fetch index, so the
    // entry at `fetch` is dirty whenever any is. A dirty entry further on means
    // the kernel's index ran past ours (an overflow): skip to it, and flag the
    // stale entries in between so KVM_RESET_DIRTY_RINGS can walk past them.
    const uint32_t mask = entries_ - 1;
    uint32_t skip = 0;
    while (skip < entries_ && !(load_flags(ring.gfns[(ring.fetch + skip) & mask]) & KVM_DIRTY_GFN_F_DIRTY)) ++skip;
    if (skip == 0 || skip == entries_) return false;
    for (uint32_t i = 0; i < skip; ++i) store_flags(ring.gfns[(ring.fetch + i) & mask], KVM_DIRTY_GFN_F_RESET);
    ring.fetch += skip;
    ring.flagged += skip;
    return true;
}

uint64_t KvmRingSource::flagged_not_reset() const {
    const uint32_t mask = entries_ - 1;
    uint64_t left = 0;
    for (const auto& ring : rings_)
        for (uint32_t i = 1; i <= ring->flagged; ++i)
            left += (load_flags(ring->gfns[(ring->fetch - i) & mask]) & KVM_DIRTY_GFN_F_RESET) != 0;
    return left;
}

int KvmRingSource::reset_rings() {
    uint64_t expected = 0;
    for (auto& ring : rings_) expected += ring->flagged;
    if (expected == 0) return 0;
    // Newer kernels (KVM's 2025 "bail from the dirty ring reset flow if a
    // signal is pending"; this machine's 6.18 has it) stop the walk between
    // entries when the caller has a signal pending, and the ioctl still
    // returns success with what it reset so far. Worse, the entries walked
    // just before the stop (up to 64, coalesced into one mask) are marked
    // reset but their pages are not write-protected again: later writes to
    // them would go unseen. So catchable signals wait until the call returns.
    // SIGSTOP still cuts it short: then finish the reset (the entries not
    // reached keep their RESET flag) and report the ring out of step, so the
    // caller re-protects all memory and marks it dirty, as for a jam.
    const SignalsHeld held;
    uint64_t reset_total = 0;
    bool cut_short = false;
    // A call that resets nothing four times in a row means the kernel's
    // index is elsewhere: out of step, which the caller handles too.
    for (int zero_calls = 0; zero_calls < 4;) {
        const int reset = kvm::ioctl_retry(vm_fd_, KVM_RESET_DIRTY_RINGS, 0);
        if (reset < 0) return -errno;
        ++counters_.resets;
        counters_.entries_reset += reset;
        reset_total += reset;
        if (reset_total >= expected || flagged_not_reset() == 0) break;
        cut_short = true;
        ++counters_.short_resets;
        zero_calls = reset == 0 ? zero_calls + 1 : 0;
    }
    for (auto& ring : rings_) ring->flagged = 0;
    // In step, KVM resets exactly the entries we flagged, in one call.
    return reset_total == expected && !cut_short ? 0 : 1;
}

Status KvmRingSource::drain_locked(bool after_full_exit, uint32_t full_index) {
    const auto start = std::chrono::steady_clock::now();
    bool overflow = false;
    uint32_t drained_full_ring = 0;
    for (auto& ring : rings_) {
        const uint32_t n = drain_ring(*ring);
        if (n == entries_) overflow = true;  // a whole lap: the kernel wrote past the soft limit
        if (ring->index == full_index) drained_full_ring = n;
    }
    if (options_.before_reset) options_.before_reset();
    int r = reset_rings();
    if (r < 0) return errno_error("KVM_RESET_DIRTY_RINGS", -r);
    bool out_of_step = r > 0;

    // A full exit with nothing to read, or a reset that disagrees, may mean
    // the kernel's index ran ahead of ours: find where it writes now.
    if (out_of_step || (after_full_exit && drained_full_ring == 0)) {
        for (auto& ring : rings_) {
            if (!resync_ring(*ring)) continue;
            out_of_step = true;
            drain_ring(*ring);
        }
        if ((r = reset_rings()) < 0) return errno_error("KVM_RESET_DIRTY_RINGS", -r);
    }
    // Invariant 2: the pages are write-protected again; now consumers may see them.
    publish_staged();
    if (overflow || out_of_step) {
        // Entries were overwritten before we read them and nothing tells which
        // pages they named, or a reset cut short left some pages unprotected;
        // either way those pages are still writable. Write-protect all memory
        // again, then count every slot as dirty (never lose).
        ++counters_.jams;
        ++pending_.lost;
        if (options_.rearm && options_.rearm()) ++counters_.rearms;
        else counters_.blind = true;
        mark_everything_dirty();
    } else if (counters_.blind) {
        mark_everything_dirty();  // unseen writes may land anywhere, at any time
    }
    pending_.cost += std::chrono::steady_clock::now() - start;
    return Ok{};
}

Result<HarvestReport> KvmRingSource::harvest(Tracker&) {
    std::lock_guard lock(mutex_);
    if (reaper_error_) return *std::exchange(reaper_error_, std::nullopt);
    if (Status s = drain_locked(false, ~0u); !s) return s.error();
    HarvestReport report = std::move(pending_);
    pending_ = HarvestReport{};
    return report;
}

Status KvmRingSource::on_ring_full(uint32_t index) {
    std::lock_guard lock(mutex_);
    ++counters_.full_exits;
    return drain_locked(true, index);
}

KvmRingCounters KvmRingSource::ring_counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

void KvmRingSource::start_reaper() {
    if (reaper_.joinable()) return;
    reaper_stop_ = false;
    reaper_ = std::thread([this] { reaper_loop(); });
}

void KvmRingSource::stop_reaper() {
    {
        std::lock_guard lock(reaper_mutex_);
        reaper_stop_ = true;
    }
    reaper_wake_.notify_all();
    if (reaper_.joinable()) reaper_.join();
}

void KvmRingSource::reaper_loop() {
    // Adapts its period to the fill level: harvest each ring when it is about
    // reaper_target_fill full, so a fast writer never waits on a full ring and
    // an idle guest costs almost nothing.
    auto period = options_.reaper_max_period / 4;
    std::unique_lock wait_lock(reaper_mutex_);
    while (!reaper_stop_) {
        reaper_wake_.wait_for(wait_lock, period, [this] { return reaper_stop_; });
        if (reaper_stop_) break;
        wait_lock.unlock();
        uint32_t fullest = 0;
        {
            std::lock_guard lock(mutex_);
            std::vector<uint32_t> before;
            for (auto& ring : rings_) before.push_back(ring->fetch);
            if (Status s = drain_locked(false, ~0u); !s && !reaper_error_) reaper_error_ = s.error();
            for (size_t i = 0; i < rings_.size(); ++i) fullest = std::max(fullest, rings_[i]->fetch - before[i]);
            ++counters_.reaper_passes;
        }
        const double fill = double(fullest) / entries_;
        if (fill > options_.reaper_target_fill) period /= 2;
        else if (fill < options_.reaper_target_fill / 4) period = period * 3 / 2;
        period = std::clamp(period, options_.reaper_min_period, options_.reaper_max_period);
        wait_lock.lock();
    }
}

}  // namespace dtrack
