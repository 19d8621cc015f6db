// Pacer: how long a vCPU stays off the CPU after an exit.
//
// Two independent brakes, both applied at the guest's exits (the only moments
// the VMM has the vCPU in hand):
//   - a rate limit: the running average of page writes stays at `rate` per
//     second (0 = no limit). A vCPU that falls far behind (it cannot go that
//     fast, or it was throttled) does not bank the deficit: it restarts the
//     average rather than burst to catch up;
//   - a sleep share s (auto-converge's throttle, pct / 100, or the dirty
//     limit's share for this vCPU): the vCPU runs at most (1 - s) of every
//     10 ms slice and sleeps the rest; a stretch that overran the slice is
//     paid for with a longer sleep (run time x s / (1 - s)), so the share
//     holds whatever the exit granularity. Time spent sleeping for the rate
//     limit counts as off time, so a vCPU that idles most of the slice
//     anyway is not slowed further;
//   - the same share taken at KVM_EXIT_DIRTY_RING_FULL instead (QEMU's
//     dirty-limit actuator): the vCPU sleeps s / (1 - s) of the time it ran
//     since its last such sleep, so the share holds over the stretches
//     between two full rings, however long a ring takes to fill.
// Pure logic with the time passed in, so it is testable without sleeping.
#pragma once

#include <chrono>
#include <cstdint>

namespace dtvm {

class Pacer {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds kSlice{10};
    static constexpr std::chrono::milliseconds kMaxRateLag{20};

    explicit Pacer(uint64_t rate_per_s = 0) : rate_(rate_per_s) {}

    // The vCPU starts (or, after being parked, starts again) at `now` having
    // written `writes` pages so far.
    void restart(Clock::time_point now, uint64_t writes);

    // The deepest sleep a vCPU can be given. Auto-converge stops at 99%;
    // the dirty limit may go further (VcpuDirtyLimit says why).
    static constexpr double kMaxShare = 0.999;

    // At an exit at `now` with `writes` pages written so far: the time until
    // which the vCPU should sleep (`now` or earlier: go on at once).
    // `sleep_share` is clamped to 0..kMaxShare.
    Clock::time_point wake_time(Clock::time_point now, uint64_t writes, double sleep_share);
    // At a ring-full exit at `now`: the time until which the vCPU should
    // sleep to hold `sleep_share` (clamped as above) since the last one.
    Clock::time_point ring_full_wake_time(Clock::time_point now, double sleep_share);
    // The vCPU runs again from `now`, after the sleep wake_time() asked for
    // (a late wake-up is not charged as running time).
    void running(Clock::time_point now);

private:
    uint64_t rate_;
    // rate limit: the average is taken from here
    Clock::time_point rate_start_{};
    uint64_t rate_start_writes_ = 0;
    // throttle: the current slice and how long the vCPU ran in it
    Clock::time_point slice_start_{};
    Clock::duration slice_ran_{};
    Clock::time_point ran_since_{};
    bool slice_starts_on_wake_ = false;
    // ring-full share: when the vCPU last ran on after a ring-full exit
    Clock::time_point since_ring_full_{};
};

}  // namespace dtvm
