// DirtyLimit: hold each vCPU's dirty rate near a quota by making only that
// vCPU sleep, in the spirit of QEMU 8.1's dirty-limit (softmmu/dirtylimit.c),
// where auto-converge (throttle.hpp) slows every vCPU alike.
//
// It is fed each vCPU's monotonic count of dirtied pages (the tracker's
// per-vCPU counts: KVM ring entries, or write faults per thread) and, once
// per `period`, decides a sleep share per vCPU, 0 to `max_share`, handed to
// the VMM through `apply` (dtvm: the vCPU sleeps that share of every slice).
//
// The decision, per vCPU, from its rate r over the period it ran with
// sleep share s:
//   - its rate when running is r / (1 - s), so the share that would hold it
//     at the quota q is s* = 1 - (1 - s) q / r (0 when that is negative);
//   - within `tolerance` of q (QEMU: 25 MB/s), nothing changes;
//   - an error above `big_error` (QEMU: 50%) moves s all the way to s*;
//     a smaller one moves it `small_step` of the way, so noise in one
//     period cannot swing it.
// Where QEMU differs: rates are pages/s with no MB rounding; each vCPU's
// rate is its own count over the period, not a global high-water mark; and
// the actuator is a share of time, not a sleep per ring-full exit, so the
// control does not get coarser with a larger ring.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "dtrack/clock.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct DirtyLimitOptions {
    double quota = 256;                      // pages/s per vCPU (QEMU's default, 1 MB/s, in 4 KiB pages)
    std::chrono::milliseconds period{1000};  // QEMU: 1 to 1000 ms
    double tolerance = 0.10;                 // no change within this share of the quota
    double big_error = 0.50;                 // above this share of the quota, go straight to the target share
    double small_step = 0.5;                 // otherwise move this part of the way
    double max_share = 0.99;                 // a vCPU sleeps at most this share of its time
};

// What the limit decided for one vCPU in one period.
struct DirtyLimitSample {
    Clock::time_point at;
    uint32_t vcpu = 0;
    double rate = 0;   // pages/s over the period
    double share = 0;  // the sleep share from here on
};

class DirtyLimit {
public:
    using Apply = std::function<void(uint32_t vcpu, double share)>;
    DirtyLimit(DirtyLimitOptions options, Apply apply);

    // Feeds each vCPU's count of pages dirtied so far (monotonic) at `now`.
    // The first call opens the first period; a call at least `period` after
    // the last decision decides and returns true. More vCPUs than before
    // start unthrottled.
    bool on_counts(Clock::time_point now, std::span<const uint64_t> pages_per_vcpu);

    double share(uint32_t vcpu) const;  // 0 for an unknown vCPU
    double rate(uint32_t vcpu) const;   // pages/s over the last period
    std::vector<DirtyLimitSample> timeline() const;

    // The limit is lifted: every share back to 0 (applied), history cleared.
    void reset();

    // The decision alone, for one vCPU: the next share, from the rate it
    // had over the period and the share it ran with.
    static double next_share(const DirtyLimitOptions& options, double rate, double share);

private:
    struct Vcpu {
        uint64_t count = 0;  // at the period's start
        double rate = 0;
        double share = 0;
    };
    const DirtyLimitOptions options_;
    const Apply apply_;
    mutable std::mutex mutex_;
    bool open_ = false;
    Clock::time_point period_start_{};
    std::vector<Vcpu> vcpus_;
    std::vector<DirtyLimitSample> timeline_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
