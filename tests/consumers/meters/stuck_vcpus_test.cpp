// find_stuck_vcpus: which vCPUs wait on a full dirty ring that the VMM does
// not reset. Plain numbers: `now` and the pending times are one clock.
#include <gtest/gtest.h>

#include <vector>

#include "dtrack/stuck_vcpus.hpp"

namespace {

using namespace std::chrono_literals;
using dtrack::StuckVcpu;
using dtrack::VcpuRingState;

const std::chrono::nanoseconds t0 = 1000s;  // the kernel's monotonic clock: never 0 once booted

VcpuRingState pending(uint32_t vcpu, std::chrono::nanoseconds since, uint64_t before, uint64_t exits) {
    return {.vcpu = vcpu, .full_exits = exits, .full_pending_since = since, .full_exits_before_pending = before};
}

TEST(StuckVcpus, AFullExitPendingForTheThresholdIsStuckWithItsTimeAndExits) {
    const std::vector<VcpuRingState> vcpus = {pending(0, t0, 40, 150040)};
    const std::vector<StuckVcpu> stuck = dtrack::find_stuck_vcpus(vcpus, t0 + 12300ms);
    ASSERT_EQ(stuck.size(), 1u);
    EXPECT_EQ(stuck[0].vcpu, 0u);
    EXPECT_EQ(stuck[0].stuck_for, 12300ms);
    EXPECT_DOUBLE_EQ(stuck[0].seconds(), 12.3);
    EXPECT_EQ(stuck[0].full_exits_since, 150000u);
}

TEST(StuckVcpus, TheDefaultThresholdIsFiveSecondsInclusive) {
    const std::vector<VcpuRingState> vcpus = {pending(3, t0, 0, 1)};
    EXPECT_TRUE(dtrack::find_stuck_vcpus(vcpus, t0 + 5s - 1ns).empty());
    EXPECT_EQ(dtrack::find_stuck_vcpus(vcpus, t0 + 5s).size(), 1u);
}

TEST(StuckVcpus, ANeverFullOrResetRingIsNotStuckWhateverItsPastExits) {
    // full_pending_since 0: no exit since the last reset, however many before it.
    const std::vector<VcpuRingState> vcpus = {{.vcpu = 0, .full_exits = 900000}, {.vcpu = 1}};
    EXPECT_TRUE(dtrack::find_stuck_vcpus(vcpus, t0 + 1h).empty());
}

TEST(StuckVcpus, OnlyTheVcpusPastTheThresholdAreListedInOrder) {
    const std::vector<VcpuRingState> vcpus = {
        pending(0, t0, 0, 3), pending(1, t0 + 9s, 5, 6), pending(2, t0 + 2s, 10, 20), {.vcpu = 3, .full_exits = 8}};
    const std::vector<StuckVcpu> stuck = dtrack::find_stuck_vcpus(vcpus, t0 + 10s);
    ASSERT_EQ(stuck.size(), 2u);
    EXPECT_EQ(stuck[0].vcpu, 0u);
    EXPECT_EQ(stuck[0].stuck_for, 10s);
    EXPECT_EQ(stuck[1].vcpu, 2u);
    EXPECT_EQ(stuck[1].stuck_for, 8s);
    EXPECT_EQ(stuck[1].full_exits_since, 10u);
}

TEST(StuckVcpus, TheThresholdIsTheCallersChoice) {
    const std::vector<VcpuRingState> vcpus = {pending(0, t0, 0, 1)};
    EXPECT_EQ(dtrack::find_stuck_vcpus(vcpus, t0 + 1s, 500ms).size(), 1u);
    EXPECT_TRUE(dtrack::find_stuck_vcpus(vcpus, t0 + 1s, 30s).empty());
}

TEST(StuckVcpus, APendingTimeAheadOfNowIsNotEvidence) {
    const std::vector<VcpuRingState> vcpus = {pending(0, t0 + 1s, 0, 1)};
    EXPECT_TRUE(dtrack::find_stuck_vcpus(vcpus, t0, 0ns).empty());
}

TEST(StuckVcpus, ExitCountsReadMidUpdateStillCountTheExitThatStartedIt) {
    // full_exits read before the exit that set full_exits_before_pending.
    const std::vector<VcpuRingState> vcpus = {pending(0, t0, 7, 7)};
    const std::vector<StuckVcpu> stuck = dtrack::find_stuck_vcpus(vcpus, t0 + 6s);
    ASSERT_EQ(stuck.size(), 1u);
    EXPECT_EQ(stuck[0].full_exits_since, 1u);
}

}  // namespace
