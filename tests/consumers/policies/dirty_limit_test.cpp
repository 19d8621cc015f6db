// DirtyLimit's decision, driven by a manual clock and simulated vCPUs: a
// vCPU whose rate when running is r0 dirties r0 * (1 - share) pages/s.
#include "dtrack/dirty_limit.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

using namespace dtrack;
using namespace std::chrono_literals;

namespace {

// vCPUs that dirty at their own rate when running, slowed by their share.
struct SimulatedVcpus {
    std::vector<double> running_rate;  // pages/s when not held
    std::vector<double> exact;         // pages dirtied so far
    std::vector<uint64_t> counts;
    std::map<uint32_t, double> applied;
    ManualClock clock;

    explicit SimulatedVcpus(std::vector<double> rates)
        : running_rate(std::move(rates)), exact(running_rate.size()), counts(running_rate.size()) {}

    // Runs one period of `d` under `limit`'s shares, then feeds the counts.
    void run(DirtyLimit& limit, std::chrono::milliseconds d, double noise = 0, std::mt19937* rng = nullptr) {
        for (size_t v = 0; v < exact.size(); ++v) {
            double r = running_rate[v];
            if (noise > 0) r *= std::uniform_real_distribution<double>(1 - noise, 1 + noise)(*rng);
            exact[v] += r * (1 - limit.share(uint32_t(v))) * std::chrono::duration<double>(d).count();
            counts[v] = uint64_t(exact[v]);
        }
        clock.advance(d);
        limit.on_counts(clock.now(), counts);
    }
    DirtyLimit::Apply apply() {
        return [this](uint32_t vcpu, double share) { applied[vcpu] = share; };
    }
};

}  // namespace

TEST(DirtyLimit, AVcpuAboveItsQuotaIsHeldWithinTenPercentOfItAtSteadyState) {
    SimulatedVcpus vcpus({10'000});
    DirtyLimit limit({.quota = 2000}, vcpus.apply());
    limit.on_counts(vcpus.clock.now(), vcpus.counts);
    for (int i = 0; i < 10; ++i) vcpus.run(limit, 1000ms);
    EXPECT_NEAR(limit.rate(0), 2000, 200);
    EXPECT_NEAR(limit.share(0), 0.8, 0.02);
    EXPECT_DOUBLE_EQ(vcpus.applied.at(0), limit.share(0));  // the VMM was told
}

TEST(DirtyLimit, HoldsANoisyVcpuWithinTenPercentOfItsQuotaOnAverage) {
    // The running rate swings +-30% from period to period.
    SimulatedVcpus vcpus({50'000});
    DirtyLimit limit({.quota = 5000, .period = 200ms}, vcpus.apply());
    std::mt19937 rng(7);
    limit.on_counts(vcpus.clock.now(), vcpus.counts);
    for (int i = 0; i < 20; ++i) vcpus.run(limit, 200ms, 0.3, &rng);
    double sum = 0;
    const int periods = 50;
    for (int i = 0; i < periods; ++i) {
        vcpus.run(limit, 200ms, 0.3, &rng);
        sum += limit.rate(0);
    }
    EXPECT_NEAR(sum / periods, 5000, 500);
}

TEST(DirtyLimit, OnlyTheVcpusThatDirtyAreSlowed) {
    // Two writers above the quota, a writer below it, and a reader.
    SimulatedVcpus vcpus({20'000, 8'000, 500, 0});
    DirtyLimit limit({.quota = 1000}, vcpus.apply());
    limit.on_counts(vcpus.clock.now(), vcpus.counts);
    for (int i = 0; i < 10; ++i) vcpus.run(limit, 1000ms);
    EXPECT_GT(limit.share(0), 0.9);
    EXPECT_GT(limit.share(1), 0.8);
    EXPECT_EQ(limit.share(2), 0);
    EXPECT_EQ(limit.share(3), 0);
    EXPECT_FALSE(vcpus.applied.contains(2));  // never touched
    EXPECT_FALSE(vcpus.applied.contains(3));
}

TEST(DirtyLimit, AVcpuThatCalmsDownHasItsShareReleased) {
    SimulatedVcpus vcpus({10'000});
    DirtyLimit limit({.quota = 2000}, vcpus.apply());
    limit.on_counts(vcpus.clock.now(), vcpus.counts);
    for (int i = 0; i < 5; ++i) vcpus.run(limit, 1000ms);
    ASSERT_GT(limit.share(0), 0.7);
    vcpus.running_rate[0] = 1000;  // now below the quota even unheld
    for (int i = 0; i < 10; ++i) vcpus.run(limit, 1000ms);
    EXPECT_LT(limit.share(0), 0.05);
    // An idle vCPU (nothing dirtied) is released too, a step at a time.
    vcpus.running_rate[0] = 10'000;
    for (int i = 0; i < 5; ++i) vcpus.run(limit, 1000ms);
    ASSERT_GT(limit.share(0), 0.7);
    vcpus.running_rate[0] = 0;
    vcpus.run(limit, 1000ms);
    const double after_one = limit.share(0);
    EXPECT_GT(after_one, 0.3);  // not all at once
    for (int i = 0; i < 10; ++i) vcpus.run(limit, 1000ms);
    EXPECT_LT(limit.share(0), 0.01);
}

TEST(DirtyLimit, TheShareNeverPassesItsMaximum) {
    SimulatedVcpus vcpus({1e9});
    DirtyLimit limit({.quota = 256, .max_share = 0.99}, vcpus.apply());
    limit.on_counts(vcpus.clock.now(), vcpus.counts);
    for (int i = 0; i < 5; ++i) {
        vcpus.run(limit, 1000ms);
        EXPECT_LE(limit.share(0), 0.99);
    }
    EXPECT_DOUBLE_EQ(limit.share(0), 0.99);
}

TEST(DirtyLimit, WithinTheToleranceNothingChangesAndASmallErrorMovesPartOfTheWay) {
    const DirtyLimitOptions o{.quota = 1000, .tolerance = 0.10, .big_error = 0.50, .small_step = 0.5};
    EXPECT_DOUBLE_EQ(DirtyLimit::next_share(o, 1050, 0.3), 0.3);
    EXPECT_DOUBLE_EQ(DirtyLimit::next_share(o, 950, 0.3), 0.3);
    // 20% over, held 30%: running 1714/s, target 1 - 0.7 * 1000 / 1200 = 0.4167; half way from 0.3.
    EXPECT_NEAR(DirtyLimit::next_share(o, 1200, 0.3), 0.3 + 0.5 * (1 - 0.7 * 1000 / 1200.0 - 0.3), 1e-12);
    // 100% over: straight to the target.
    EXPECT_NEAR(DirtyLimit::next_share(o, 2000, 0.0), 0.5, 1e-12);
    // Under the quota the target is 0, never negative.
    EXPECT_GE(DirtyLimit::next_share(o, 100, 0.0), 0.0);
}

TEST(DirtyLimit, DecidesOncePerPeriodAndResetLiftsEveryShare) {
    SimulatedVcpus vcpus({10'000, 10'000});
    DirtyLimit limit({.quota = 1000}, vcpus.apply());
    EXPECT_FALSE(limit.on_counts(vcpus.clock.now(), vcpus.counts));  // opens the first period
    vcpus.clock.advance(500ms);
    EXPECT_FALSE(limit.on_counts(vcpus.clock.now(), vcpus.counts));  // half a period: too short
    vcpus.run(limit, 600ms);
    EXPECT_GT(limit.share(0), 0);
    EXPECT_EQ(limit.timeline().size(), 2u);  // one decision per vCPU
    limit.reset();
    EXPECT_EQ(vcpus.applied.at(0), 0);
    EXPECT_EQ(vcpus.applied.at(1), 0);
    EXPECT_EQ(limit.share(0), 0);
    EXPECT_TRUE(limit.timeline().empty());
}
