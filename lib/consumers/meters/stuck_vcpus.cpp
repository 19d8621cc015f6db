#include "dtrack/stuck_vcpus.hpp"

namespace dtrack {

std::vector<StuckVcpu> find_stuck_vcpus(std::span<const VcpuRingState> vcpus, std::chrono::nanoseconds now,
                                        std::chrono::nanoseconds threshold) {
    std::vector<StuckVcpu> stuck;
    for (const VcpuRingState& v : vcpus) {
        if (v.full_pending_since.count() == 0) continue;
        // A time ahead of `now` was read on a clock the kernel's is not: not
        // evidence of anything.
        const std::chrono::nanoseconds pending = now - v.full_pending_since;
        if (pending < threshold || pending.count() < 0) continue;
        // The counts are read one after the other while the vCPU may exit
        // again; never report fewer than the one exit that started it.
        const uint64_t since =
            v.full_exits > v.full_exits_before_pending ? v.full_exits - v.full_exits_before_pending : 1;
        stuck.push_back({.vcpu = v.vcpu, .stuck_for = pending, .full_exits_since = since});
    }
    return stuck;
}

}  // namespace dtrack
