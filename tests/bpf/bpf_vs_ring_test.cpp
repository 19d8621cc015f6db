// BpfSource against KvmRingSource on the same real KVM guest: the BPF
// program sees every push the ring gets, so both views hold the same pages,
// epoch after epoch, and the same ring entries per vCPU (see
// ring_comparison.hpp). Raw tracepoints here; classic tracepoints (with the
// tracefs mount they need) in a child with a mount namespace of its own.
#include <gtest/gtest.h>

#include <cstdio>

#include "support/backends.hpp"
#include "probe/probes.hpp"
#include "support/without_tracefs.hpp"
#include "ring_comparison.hpp"
#include "support/bpf_objects.hpp"

namespace {

using dtrack_test::RingComparisonCase;

struct Case {
    const char* name;
    RingComparisonCase c;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class BpfVsRing : public testing::TestWithParam<Case> {};

TEST_P(BpfVsRing, BothViewsHoldTheSamePages) {
    DTRACK_REQUIRE_KVM();
    DTRACK_REQUIRE_BPF();
    const dtrack_test::RingComparison r = dtrack_test::compare_bpf_with_ring(GetParam().c);
    for (const std::string& m : r.mismatches) ADD_FAILURE() << m;
    std::printf("  %s\n", r.summary().c_str());
    EXPECT_EQ(r.hooked_with, "raw tracepoints");
    EXPECT_GT(r.pages_compared, 0u) << "the guest dirtied nothing: the comparison proves nothing";
    EXPECT_GE(r.pushes, r.pages_compared) << "every reported page was at least one ring entry";
    if (!GetParam().c.reaper) {
        EXPECT_GT(r.full_exits, 0u) << "the ring-full exit path was not exercised";
    }
    // The slots' real sizes, learnt from the pushes, fit the regions.
    ASSERT_EQ(r.slot_usage.size(), 3u);
    for (const dtrack::BpfSlotUsage& u : r.slot_usage) {
        EXPECT_TRUE(u.tracked);
        EXPECT_LE(u.seen_end, u.capacity) << "slot " << u.slot;
    }
}

INSTANTIATE_TEST_SUITE_P(
    BpfWorkloads, BpfVsRing,
    testing::Values(Case{"sequential_1vcpu", {.vcpus = 1, .pattern = dtvm::Pattern::sequential}},
                    Case{"random_2vcpu", {.vcpus = 2, .pattern = dtvm::Pattern::random, .measure_push_cost = true}},
                    Case{"hotcold_2vcpu", {.vcpus = 2, .pattern = dtvm::Pattern::hotcold}},
                    // Only KVM_EXIT_DIRTY_RING_FULL harvests: kvm_dirty_ring_exit fires.
                    Case{"random_2vcpu_small_ring_no_reaper",
                         {.vcpus = 2, .pattern = dtvm::Pattern::random, .ring_entries = 256, .reaper = false}}),
    [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// The tp/ rung of the ladder: in a child with a private mount namespace and
// no tracefs, BpfSource must mount tracefs itself, say so, and see the same
// pages as the ring.
TEST(BpfTracepoints, MountTracefsAndAgreeWithTheRing) {
    DTRACK_REQUIRE_KVM();
    DTRACK_REQUIRE_BPF();
    const std::string tracefs_before = dtrack::mounted_tracefs();
    const dtrack::probe::Outcome outcome = dtrack_test::run_without_tracefs([] {
        const dtrack_test::RingComparison r = dtrack_test::compare_bpf_with_ring(
            {.vcpus = 2, .pattern = dtvm::Pattern::random, .epochs = 3, .hooks = dtrack::BpfHooks::tracepoints});
        std::string text = r.summary();
        for (const std::string& n : r.notes) text += "\n  note: " + n;
        for (const std::string& m : r.mismatches) text += "\n  MISMATCH: " + m;
        const bool ok = r.mismatches.empty() && r.hooked_with == "tracepoints" && r.pages_compared > 0;
        return dtrack::probe::Outcome{ok, text};
    });
    std::printf("  %s\n", outcome.text.c_str());
    EXPECT_TRUE(outcome.ok) << outcome.text;
    EXPECT_NE(outcome.text.find("dtrack mounted it at /sys/kernel/tracing"), std::string::npos)
        << "the tracefs mount was not reported";
    EXPECT_EQ(dtrack::mounted_tracefs(), tracefs_before) << "the child's mounts leaked out of its namespace";
}

}  // namespace
