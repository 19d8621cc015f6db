// dtvm's pacer, with time passed in: the throttle's share of run time holds
// whatever the stretch between two exits, the same share taken at ring-full
// exits holds whatever the ring's fill time, and the rate limit holds its average.
#include <gtest/gtest.h>

#include "dtvm/vm/pacer.hpp"

using namespace std::chrono_literals;
using dtvm::Pacer;

namespace {

// Runs a vCPU whose stretches between exits last `stretch`; returns the share
// of time it ran over `total`.
double run_share(double share, std::chrono::microseconds stretch, std::chrono::seconds total) {
    Pacer pacer;
    Pacer::Clock::time_point now{};
    pacer.restart(now, 0);
    Pacer::Clock::duration ran{};
    const auto end = now + total;
    uint64_t writes = 0;
    while (now < end) {
        now += stretch;
        ran += stretch;
        writes += 256;
        const auto wake = pacer.wake_time(now, writes, share);
        now = std::max(now, wake);
        pacer.running(now);
    }
    return std::chrono::duration<double>(ran) / std::chrono::duration<double>(total);
}

TEST(Pacer, ThrottleShareHoldsForShortStretches) {
    for (int pct : {20, 50, 90, 99}) EXPECT_NEAR(run_share(pct / 100.0, 100us, 10s), (100 - pct) / 100.0, 0.02) << pct;
}

TEST(Pacer, ThrottleShareHoldsWhenAStretchOverrunsTheSlice) {
    // At 99% the slice's budget is 0.1 ms; a stretch of 1.3 ms must still end
    // up as 1% of the time, not as one stretch per slice.
    for (int pct : {50, 90, 99}) EXPECT_NEAR(run_share(pct / 100.0, 1300us, 30s), (100 - pct) / 100.0, 0.01) << pct;
    EXPECT_NEAR(run_share(0.8, 25ms, 30s), 0.2, 0.01);
}

TEST(Pacer, NoThrottleNoSleep) { EXPECT_NEAR(run_share(0, 1300us, 5s), 1.0, 0.001); }

TEST(Pacer, RateLimitHoldsTheAverage) {
    Pacer pacer(50'000);
    Pacer::Clock::time_point now{};
    pacer.restart(now, 0);
    uint64_t writes = 0;
    for (int i = 0; i < 10'000; ++i) {
        now += 500us;  // the guest could do 512k writes/s
        writes += 256;
        now = std::max(now, pacer.wake_time(now, writes, 0));
        pacer.running(now);
    }
    const double rate = writes / std::chrono::duration<double>(now.time_since_epoch()).count();
    EXPECT_NEAR(rate, 50'000, 500);
}

// A vCPU that fills its ring every `fill` and takes its share at each
// ring-full exit (a paced vCPU idles part of each fill, for its rate limit:
// the share is of time all the same). Returns the share of time it was not
// sleeping for the share.
double ring_full_share(double share, std::chrono::microseconds fill, std::chrono::seconds total) {
    Pacer pacer;
    Pacer::Clock::time_point now{};
    pacer.restart(now, 0);
    Pacer::Clock::duration awake{};
    const auto end = now + total;
    while (now < end) {
        now += fill;
        awake += fill;
        now = std::max(now, pacer.ring_full_wake_time(now, share));
        pacer.running(now);
    }
    return std::chrono::duration<double>(awake) / std::chrono::duration<double>(now.time_since_epoch());
}

TEST(Pacer, ARingFullShareHoldsWhateverTheRingsFillTime) {
    for (auto fill :
         {std::chrono::microseconds(50), std::chrono::microseconds(56'000), std::chrono::microseconds(900'000)})
        for (double share : {0.2, 0.5, 0.9, 0.99})
            EXPECT_NEAR(ring_full_share(share, fill, 600s), 1 - share, 0.01) << share << " " << fill.count();
}

TEST(Pacer, ASliceShareBetweenWholePercentsHolds) {
    // The dirty limit's shares are not whole percents.
    EXPECT_NEAR(run_share(0.875, 100us, 20s), 0.125, 0.005);
    EXPECT_NEAR(run_share(0.333, 1300us, 20s), 0.667, 0.005);
}

TEST(Pacer, NoShareNoRingFullSleep) {
    Pacer pacer;
    Pacer::Clock::time_point now{};
    pacer.restart(now, 0);
    now += 5ms;
    EXPECT_EQ(pacer.ring_full_wake_time(now, 0), now);
}

}  // namespace
