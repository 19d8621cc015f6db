// Auto-converge against QEMU's rules: trigger when a period dirties more than
// 50% of what it transferred, at the second such period; 20%, +10%, 99% max.
#include <gtest/gtest.h>

#include "dtrack/throttle.hpp"

using namespace dtrack;
using namespace std::chrono_literals;

namespace {

struct ThrottleTest : testing::Test {
    std::vector<int> applied;
    Clock::time_point t{std::chrono::hours(1)};

    Period period(uint64_t dirtied, uint64_t transferred, std::chrono::milliseconds after = 1000ms) {
        t += after;
        return Period{SyncKind::round, dirtied, transferred, t};
    }
};

TEST_F(ThrottleTest, FollowsQemuSequence) {
    Throttle th({}, [&](int pct) { applied.push_back(pct); });
    th.on_period(period(0, 0));  // the migration's first sync opens the first period
    std::vector<int> seen;
    for (int i = 0; i < 30; ++i) {
        th.on_period(period(600, 1000));  // 60% > 50%: a high period
        seen.push_back(th.pct());
    }
    // Every second high period steps: 20, 30, ..., 90, 99 and stays.
    std::vector<int> expected;
    for (int i = 0; i < 30; ++i) {
        const int steps = (i + 1) / 2;
        expected.push_back(steps == 0 ? 0 : std::min(20 + 10 * (steps - 1), 99));
    }
    EXPECT_EQ(seen, expected);
    EXPECT_TRUE(th.at_max());
    EXPECT_EQ(applied, (std::vector<int>{20, 30, 40, 50, 60, 70, 80, 90, 99}));
}

TEST_F(ThrottleTest, AtOrBelowTheThresholdNeverTriggers) {
    Throttle th({}, [&](int pct) { applied.push_back(pct); });
    th.on_period(period(0, 0));
    for (int i = 0; i < 20; ++i) th.on_period(period(500, 1000));  // exactly 50%: not more
    EXPECT_EQ(th.pct(), 0);
    EXPECT_TRUE(applied.empty());
}

TEST_F(ThrottleTest, CalmPeriodsDoNotResetTheCount) {
    // QEMU counts high periods without resetting on a calm one in between.
    Throttle th({}, nullptr);
    th.on_period(period(0, 0));
    th.on_period(period(900, 1000));
    th.on_period(period(10, 1000));
    EXPECT_EQ(th.pct(), 0);
    th.on_period(period(900, 1000));
    EXPECT_EQ(th.pct(), 20);
}

TEST_F(ThrottleTest, ShortPeriodsAddUpToOneSecond) {
    Throttle th({}, nullptr);
    th.on_period(period(0, 0));
    // Four 250 ms syncs make one period: one high period, not four.
    for (int i = 0; i < 4; ++i) th.on_period(period(600, 1000, 250ms));
    EXPECT_EQ(th.pct(), 0);
    for (int i = 0; i < 4; ++i) th.on_period(period(600, 1000, 250ms));
    EXPECT_EQ(th.pct(), 20);
}

TEST_F(ThrottleTest, TailSlowStepsOnlyAsFarAsTheRatioAsks) {
    Throttle th(ThrottleOptions{.tail_slow = true}, nullptr);
    th.on_period(period(0, 0));
    th.on_period(period(600, 1000));
    th.on_period(period(600, 1000));
    EXPECT_EQ(th.pct(), 20);
    // cpu_now 80, ideal = 80 * 500/520 = 76.9: a step of 3 (truncated), not 10.
    th.on_period(period(520, 1000));
    th.on_period(period(520, 1000));
    EXPECT_EQ(th.pct(), 23);
    // A far higher ratio is capped at the normal step.
    th.on_period(period(5000, 1000));
    th.on_period(period(5000, 1000));
    EXPECT_EQ(th.pct(), 33);
}

TEST_F(ThrottleTest, ResetAppliesZeroAndForgets) {
    Throttle th({}, [&](int pct) { applied.push_back(pct); });
    th.on_period(period(0, 0));
    th.on_period(period(900, 1000));
    th.on_period(period(900, 1000));
    ASSERT_EQ(th.pct(), 20);
    ASSERT_EQ(th.timeline().size(), 1u);
    th.reset();
    EXPECT_EQ(th.pct(), 0);
    EXPECT_EQ(applied.back(), 0);
    EXPECT_TRUE(th.timeline().empty());
    // The next migration starts from scratch: its first sync opens a period.
    th.on_period(period(900, 1000));
    th.on_period(period(900, 1000));
    EXPECT_EQ(th.pct(), 0);
    th.on_period(period(900, 1000));
    EXPECT_EQ(th.pct(), 20);
}

}  // namespace
