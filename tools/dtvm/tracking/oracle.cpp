#include "dtvm/tracking/oracle.hpp"

#include <bit>

namespace dtvm {

namespace {

using Words = std::vector<std::vector<uint64_t>>;  // per slot, a bit per page

// What the policy keeps now, per slot (copied: the next plan replaces it).
Words kept_words(const dtrack::HotPageDeferral* policy, size_t slots) {
    Words kept(slots);
    if (!policy) return kept;
    for (size_t i = 0; i < slots; ++i) {
        const auto keep = policy->keep(i);
        kept[i].assign(keep.begin(), keep.end());
    }
    return kept;
}

bool bit(const Words& words, size_t slot, uint64_t page) {
    return page / 64 < words[slot].size() && (words[slot][page / 64] >> (page % 64) & 1);
}

// Takes every slot's dirty pages but the kept ones into r.taken_words.
dtrack::Status take_slots(Tracking& tracking, const Words& keep, EpochResult& r) {
    const Vm& vm = tracking.vm();
    Words& taken = r.taken_words;
    taken.resize(vm.slots().size());
    for (size_t i = 0; i < vm.slots().size(); ++i) {
        const Slot& slot = vm.slots()[i];
        taken[i].assign((slot.pages + 63) / 64, 0);
        auto n = tracking.tracker().take_keeping(static_cast<dtrack::RegionId>(i), 0, slot.pages, keep[i],
                                                 [&](uint64_t w, uint64_t bits) { taken[i][w] = bits; });
        if (!n) return n.error();
        r.taken_per_slot[i] = *n;
        r.taken += *n;
    }
    return dtrack::Ok{};
}

// Every working-set page against its stamp: written, lost, false positive;
// and every page kept back (deferral) against the bitmap: still dirty, or
// taken when released.
void judge(const Vm& vm, const dtrack::Tracker& tracker, uint64_t wss_pages, const Words& kept_before,
           const Words& kept_now, EpochResult& r) {
    using dtrack::RegionId;
    const uint64_t first = vm.workload_first_page(), end = first + wss_pages;
    uint64_t taken_in_workload = 0;
    for (size_t i = 0; i < vm.slots().size(); ++i) {
        const Slot& slot = vm.slots()[i];
        const uint64_t slot_first = slot.gpa / 4096;
        for (uint64_t p = 0; p < slot.pages; ++p) {
            const uint64_t guest_page = slot_first + p;
            if (guest_page < first || guest_page >= end) continue;
            const bool was_taken = bit(r.taken_words, i, p);
            taken_in_workload += was_taken;
            // A kept page is owed a take: released now, it must be taken;
            // kept on, it must still be dirty.
            const bool kept = bit(kept_now, i, p);
            const bool owed = bit(kept_before, i, p) || kept;
            if (owed && !(kept ? tracker.bitmap(RegionId(i)).test(p) : was_taken)) {
                if (r.lost++ == 0) r.first_lost_page = guest_page;
                continue;
            }
            const uint64_t stamp = vm.stamp(slot, p);
            if (stamp >> 8 == r.epoch) {
                ++r.written;
                const uint64_t vcpu = stamp & 0xff;
                if (vcpu < r.written_per_vcpu.size()) ++r.written_per_vcpu[vcpu];
                if (!was_taken && !kept) {
                    if (r.lost++ == 0) r.first_lost_page = guest_page;
                }
            } else if (was_taken) {
                ++(bit(kept_before, i, p) ? r.released : r.false_positives);
            }
        }
    }
    r.outside_workload = r.taken - taken_in_workload;
}

}  // namespace

dtrack::Result<EpochResult> check_epoch(Tracking& tracking, uint64_t wss_pages, std::optional<EpochDeferral> deferral) {
    Vm& vm = tracking.vm();
    dtrack::Tracker& tracker = tracking.tracker();
    const size_t slots = vm.slots().size();
    EpochResult r;
    r.epoch = vm.epoch();
    r.written_per_vcpu.resize(vm.vcpu_count());
    r.taken_per_slot.resize(slots);

    vm.pause();
    // Harvest, re-protect, then take (invariant 2): the consumer sees only
    // pages whose later writes will be caught again.
    const dtrack::SyncReport sync = tracker.sync(dtrack::SyncKind::round);
    if (!sync.ok()) {
        vm.resume();
        return sync.errors.front();
    }
    dtrack::HotPageDeferral* policy = deferral ? &deferral->policy : nullptr;
    const Words kept_before = kept_words(policy, slots);
    if (policy && deferral->release) {
        policy->release_all();
    } else if (policy) {
        std::vector<const dtrack::DirtyBitmap*> dirty;
        for (size_t i = 0; i < slots; ++i) dirty.push_back(&tracker.bitmap(static_cast<dtrack::RegionId>(i)));
        policy->plan(dirty, deferral->capacity);
    }
    const Words kept_now = kept_words(policy, slots);
    if (dtrack::Status s = take_slots(tracking, kept_now, r); !s) {
        vm.resume();
        return s.error();
    }
    judge(vm, tracker, wss_pages, kept_before, kept_now, r);
    if (policy) r.kept = policy->kept_pages();

    vm.set_epoch(r.epoch + 1);
    vm.resume();
    return r;
}

}  // namespace dtvm
