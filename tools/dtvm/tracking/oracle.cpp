#include "dtvm/tracking/oracle.hpp"

#include <bit>

namespace dtvm {

dtrack::Result<EpochResult> check_epoch(Tracking& tracking, uint64_t wss_pages) {
    Vm& vm = tracking.vm();
    dtrack::Tracker& tracker = tracking.tracker();
    EpochResult r;
    r.epoch = vm.epoch();
    r.written_per_vcpu.resize(vm.vcpu_count());
    r.taken_per_slot.resize(vm.slots().size());

    vm.pause();
    // Harvest, re-protect, then take (invariant 2): the consumer sees only
    // pages whose later writes will be caught again.
    const dtrack::SyncReport sync = tracker.sync(dtrack::SyncKind::round);
    if (!sync.ok()) {
        vm.resume();
        return sync.errors.front();
    }
    std::vector<std::vector<uint64_t>>& taken = r.taken_words;
    taken.resize(vm.slots().size());
    for (size_t i = 0; i < vm.slots().size(); ++i) {
        const Slot& slot = vm.slots()[i];
        taken[i].assign((slot.pages + 63) / 64, 0);
        auto n = tracker.take(static_cast<dtrack::RegionId>(i), 0, slot.pages,
                              [&](uint64_t w, uint64_t bits) { taken[i][w] = bits; });
        if (!n) {
            vm.resume();
            return n.error();
        }
        r.taken_per_slot[i] = *n;
        r.taken += *n;
    }

    const uint64_t first = vm.workload_first_page(), end = first + wss_pages;
    uint64_t taken_in_workload = 0;
    for (size_t i = 0; i < vm.slots().size(); ++i) {
        const Slot& slot = vm.slots()[i];
        const uint64_t slot_first = slot.gpa / 4096;
        for (uint64_t p = 0; p < slot.pages; ++p) {
            const uint64_t guest_page = slot_first + p;
            if (guest_page < first || guest_page >= end) continue;
            const bool was_taken = taken[i][p / 64] >> (p % 64) & 1;
            taken_in_workload += was_taken;
            const uint64_t stamp = vm.stamp(slot, p);
            if (stamp >> 8 == r.epoch) {
                ++r.written;
                const uint64_t vcpu = stamp & 0xff;
                if (vcpu < r.written_per_vcpu.size()) ++r.written_per_vcpu[vcpu];
                if (!was_taken) {
                    if (r.lost++ == 0) r.first_lost_page = guest_page;
                }
            } else if (was_taken) {
                ++r.false_positives;
            }
        }
    }
    r.outside_workload = r.taken - taken_in_workload;

    vm.set_epoch(r.epoch + 1);
    vm.resume();
    return r;
}

}  // namespace dtvm
