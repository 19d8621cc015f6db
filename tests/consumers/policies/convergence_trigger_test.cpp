// QEMU's "not converging" rule, shared by auto-converge and the dirty limit:
// a period of at least 1 s that dirtied more than 50% of what it transferred
// is high; the second high period fires.
#include <gtest/gtest.h>

#include "dtrack/convergence_trigger.hpp"

using namespace dtrack;
using namespace std::chrono_literals;

namespace {

struct ConvergenceTriggerTest : testing::Test {
    Clock::time_point t{std::chrono::hours(1)};
    Period period(uint64_t dirtied, uint64_t transferred, std::chrono::milliseconds after = 1000ms) {
        t += after;
        return Period{SyncKind::background, dirtied, transferred, t};
    }
};

TEST_F(ConvergenceTriggerTest, FiresAtTheSecondHighPeriodAndCountsAgain) {
    ConvergenceTrigger trigger;
    EXPECT_FALSE(trigger.on_period(period(0, 0)).judged);  // opens the first period
    std::vector<bool> fired;
    for (int i = 0; i < 6; ++i) fired.push_back(trigger.on_period(period(600, 1000)).fired);
    EXPECT_EQ(fired, (std::vector<bool>{false, true, false, true, false, true}));
}

TEST_F(ConvergenceTriggerTest, ReportsWhatItJudged) {
    ConvergenceTrigger trigger;
    trigger.on_period(period(0, 0));
    const ConvergenceJudgement j = trigger.on_period(period(700, 1000));
    EXPECT_TRUE(j.judged);
    EXPECT_TRUE(j.high);
    EXPECT_FALSE(j.fired);
    EXPECT_EQ(j.dirtied, 700u);
    EXPECT_EQ(j.threshold, 500u);
}

TEST_F(ConvergenceTriggerTest, SumsShortPeriodsIntoOneJudgement) {
    ConvergenceTrigger trigger;
    trigger.on_period(period(0, 0));
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(trigger.on_period(period(200, 300, 250ms)).judged);
    const ConvergenceJudgement j = trigger.on_period(period(200, 300, 250ms));
    EXPECT_TRUE(j.judged);
    EXPECT_EQ(j.dirtied, 800u);
    EXPECT_EQ(j.threshold, 600u);
}

TEST_F(ConvergenceTriggerTest, ResetForgetsTheHighPeriodAndTheOpenPeriod) {
    ConvergenceTrigger trigger;
    trigger.on_period(period(0, 0));
    trigger.on_period(period(900, 1000));  // one high period counted
    trigger.reset();
    EXPECT_FALSE(trigger.on_period(period(900, 1000)).judged);  // opens again
    EXPECT_FALSE(trigger.on_period(period(900, 1000)).fired);   // the first high one after reset
    EXPECT_TRUE(trigger.on_period(period(900, 1000)).fired);
}

}  // namespace
