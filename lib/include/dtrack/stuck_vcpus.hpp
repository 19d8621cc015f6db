// Stuck vCPUs: a vCPU of a dirty-ring VMM that exited with
// KVM_EXIT_DIRTY_RING_FULL and whose ring the VMM has not reset since.
// KVM lets it run again only after KVM_RESET_DIRTY_RINGS, so until then
// every KVM_RUN exits full at once: the guest makes no progress while the
// VMM spins, and the VM still looks "running" to its management. Seen with
// QEMU 7.2 after calc-dirty-rate mode=dirty-ring on a guest under KVM's
// instruction emulator (a jammed ring, docs/ARCHITECTURE.md).
//
// find_stuck_vcpus() is the whole decision, on plain numbers; BpfSource
// (bpf_source.hpp) reads the kernel's per-vCPU state and calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// A full exit pending this long is reported: with a 1 s interval a jam shows
// within 10 s, while a VMM that is merely slow to harvest (a migration
// thread busy for a second or two) does not.
inline constexpr std::chrono::nanoseconds default_stuck_vcpu_threshold = std::chrono::seconds(5);

// One vCPU's dirty ring as the kernel's tracepoints saw it.
struct VcpuRingState {
    uint32_t vcpu = 0;
    uint64_t full_exits = 0;  // ring-full exits, ever
    // The first ring-full exit since the ring was last reset, on
    // CLOCK_MONOTONIC (steady_clock's time_since_epoch); 0: none pending.
    std::chrono::nanoseconds full_pending_since{0};
    uint64_t full_exits_before_pending = 0;  // full_exits just before that exit
};

struct StuckVcpu {
    uint32_t vcpu = 0;
    std::chrono::nanoseconds stuck_for{0};  // since its first ring-full exit without a reset
    uint64_t full_exits_since = 0;          // ring-full exits in that time, the first included

    double seconds() const { return std::chrono::duration<double>(stuck_for).count(); }
};

// The vCPUs whose ring-full exit has been pending, without a reset, for at
// least `threshold` at `now` (same clock as full_pending_since), in input
// order.
std::vector<StuckVcpu> find_stuck_vcpus(std::span<const VcpuRingState> vcpus, std::chrono::nanoseconds now,
                                        std::chrono::nanoseconds threshold = default_stuck_vcpu_threshold);

}  // namespace dtrack

DTRACK_PUBLIC_END
