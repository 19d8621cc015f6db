// dtvm's pacer, with time passed in: the throttle's share of run time holds
// whatever the stretch between two exits, and the rate limit holds its average.
#include <gtest/gtest.h>

#include "pacer.hpp"

using namespace std::chrono_literals;
using dtvm::Pacer;

namespace {

// Runs a vCPU whose stretches between exits last `stretch`; returns the share
// of time it ran over `total`.
double run_share(int pct, std::chrono::microseconds stretch, std::chrono::seconds total) {
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
        const auto wake = pacer.wake_time(now, writes, pct);
        now = std::max(now, wake);
        pacer.running(now);
    }
    return std::chrono::duration<double>(ran) / std::chrono::duration<double>(total);
}

TEST(Pacer, ThrottleShareHoldsForShortStretches) {
    for (int pct : {20, 50, 90, 99}) EXPECT_NEAR(run_share(pct, 100us, 10s), (100 - pct) / 100.0, 0.02) << pct;
}

TEST(Pacer, ThrottleShareHoldsWhenAStretchOverrunsTheSlice) {
    // At 99% the slice's budget is 0.1 ms; a stretch of 1.3 ms must still end
    // up as 1% of the time, not as one stretch per slice.
    for (int pct : {50, 90, 99}) EXPECT_NEAR(run_share(pct, 1300us, 30s), (100 - pct) / 100.0, 0.01) << pct;
    EXPECT_NEAR(run_share(80, 25ms, 30s), 0.2, 0.01);
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

}  // namespace
