// Pacer: how long a vCPU stays off the CPU after an exit.
//
// Two independent brakes, both applied at the guest's exits (the only moments
// the VMM has the vCPU in hand):
//   - a rate limit: the running average of page writes stays at `rate` per
//     second (0 = no limit). A vCPU that falls far behind (it cannot go that
//     fast, or it was throttled) does not bank the deficit: it restarts the
//     average rather than burst to catch up;
//   - a throttle, QEMU auto-converge style: the vCPU runs at most
//     (100 - pct)% of every 10 ms slice and sleeps the rest; a stretch that
//     overran the slice is paid for with a longer sleep (run time x
//     pct / (100 - pct)), so the share holds whatever the exit granularity. Time spent
//     sleeping for the rate limit counts as off time, so a vCPU that idles
//     most of the slice anyway is not slowed further.
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

    // At an exit at `now` with `writes` pages written so far: the time until
    // which the vCPU should sleep (`now` or earlier: go on at once).
    // `throttle_pct` is clamped to 0..99.
    Clock::time_point wake_time(Clock::time_point now, uint64_t writes, int throttle_pct);
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
};

}  // namespace dtvm
