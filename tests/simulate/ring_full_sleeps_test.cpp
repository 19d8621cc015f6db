// Ring-full sleeps in a replayed guest (trace_ring_full.hpp): QEMU 8.1's
// dirty-limit actuator, where a vCPU sleeps only when its dirty ring fills.
#include <gtest/gtest.h>

#include "consumers/precopy/trace_ring_full.hpp"

using dtrack::precopy::RingFullSleeps;

namespace {

// One vCPU over one region of 1M pages, 4096-entry rings.
RingFullSleeps one_vcpu(double ran_before_s = 0) {
    RingFullSleeps rings(1, 4096, {1 << 20}, ran_before_s);
    rings.set_writers({1});
    return rings;
}

}  // namespace

TEST(RingFullSleeps, AFullRingSleepsItsShareOfTheTimeSinceTheLastWake) {
    RingFullSleeps rings = one_vcpu();
    rings.wrote(0, 0, 4000);
    EXPECT_EQ(rings.advance(0.5, {0.75}), std::vector<double>{4000});
    EXPECT_TRUE(rings.awake(0)) << "4000 entries do not fill 4096";
    rings.wrote(0, 4000, 100);
    rings.advance(0.5, {0.75});
    EXPECT_EQ(rings.fills(), 1u);
    ASSERT_FALSE(rings.awake(0));
    // Ran 1 s since it started: 0.75 / 0.25 of that, 3 s.
    EXPECT_NEAR(rings.next_wake_s(), 3.0, 1e-9);
    rings.advance(2.5, {0.75});
    EXPECT_FALSE(rings.awake(0));
    rings.advance(0.5, {0.75});
    EXPECT_TRUE(rings.awake(0));
    // The next stretch counts from the wake: another full ring 1 s later sleeps 3 s again.
    rings.wrote(0, 10000, 4096);
    rings.advance(1, {0.75});
    EXPECT_NEAR(rings.next_wake_s(), 3.0, 1e-9);
}

TEST(RingFullSleeps, PagesWrittenAgainBeforeASyncPushNoEntries) {
    RingFullSleeps rings = one_vcpu();
    for (int i = 0; i < 100; ++i) rings.wrote(0, 0, 1000);  // a hot set, rewritten
    EXPECT_EQ(rings.advance(1, {0.9}), std::vector<double>{1000});
    EXPECT_TRUE(rings.awake(0)) << "1000 distinct pages do not fill a 4096-entry ring";
    rings.reset();  // a sync: clean again, and the ring empty
    rings.wrote(0, 0, 1000);
    EXPECT_EQ(rings.advance(1, {0.9}), std::vector<double>{1000});
    EXPECT_EQ(rings.fills(), 0u) << "a hot set smaller than the ring never fills it between syncs";
}

TEST(RingFullSleeps, BeforeTheLimitEngagesAFillSleepsNothingAndRestartsTheCount) {
    RingFullSleeps rings = one_vcpu(/*ran_before_s=*/10);
    rings.wrote(0, 0, 4096);
    rings.advance(1, {0});
    EXPECT_EQ(rings.fills(), 1u);
    EXPECT_TRUE(rings.awake(0));
    // Engaged now: the next fill sleeps for the 1 s since the last one, not the 12 s since the start.
    rings.wrote(0, 4096, 4096);
    rings.advance(1, {0.5});
    EXPECT_NEAR(rings.next_wake_s(), 1.0, 1e-9);
}

TEST(RingFullSleeps, NewPagesGoToTheWritersByTheirSharesAndOnlyAFullRingSleeps) {
    RingFullSleeps rings(2, 4096, {1 << 20}, 0);
    rings.set_writers({0.75, 0.25});
    rings.wrote(0, 0, 6000);
    EXPECT_EQ(rings.advance(1, {0.5, 0.5}), (std::vector<double>{4500, 1500}));
    EXPECT_FALSE(rings.awake(0));
    EXPECT_TRUE(rings.awake(1));
    EXPECT_NEAR(rings.next_wake_s(), 1.0, 1e-9);
}

// QEMU empties only the full vCPU's ring while its limit is in service: the
// others' pages stay writable (their rewrites push nothing) and their rings
// keep counting toward their own fills.
TEST(RingFullSleeps, AFullRingIsEmptiedAloneAndOnlyItsPagesAreProtectedAgain) {
    RingFullSleeps rings(2, 4096, {1 << 20}, 0);
    rings.set_writers({1, 0});
    rings.wrote(0, 0, 4096);  // vCPU 0 fills
    rings.set_writers({0, 1});
    rings.wrote(0, 10000, 4000);  // vCPU 1 nearly does
    EXPECT_EQ(rings.advance(1, {0.5, 0.5}), (std::vector<double>{4096, 4000}));
    ASSERT_FALSE(rings.awake(0));
    ASSERT_TRUE(rings.awake(1));
    rings.wrote(0, 10000, 4000);  // vCPU 1's own pages again: writable still
    EXPECT_EQ(rings.advance(0.1, {0.5, 0.5}), (std::vector<double>{0, 0}));
    EXPECT_TRUE(rings.awake(1)) << "vCPU 1's ring was emptied at vCPU 0's fill";
    rings.wrote(0, 0, 96);  // vCPU 0's pages, protected again at its fill: 96 new entries fill vCPU 1's ring
    EXPECT_EQ(rings.advance(0.1, {0.5, 0.5}), (std::vector<double>{0, 96}));
    EXPECT_FALSE(rings.awake(1));
    EXPECT_EQ(rings.fills(), 2u);
}
