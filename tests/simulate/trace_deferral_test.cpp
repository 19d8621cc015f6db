// Hot-page deferral on a replayed recording (`dtrack simulate --trace
// --defer-hot`): the sender's own policy decides on the replay's real pages,
// so the pages kept back are those dirty at each of the last k syncs, and
// never more than the final round's budget.
#include <gtest/gtest.h>

#include <memory>

#include "dtrack/precopy/simulation.hpp"
#include "dtrack/precopy/trace_guest.hpp"
#include "dtrack/tracker.hpp"
#include "simulate/recording_header.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
using namespace std::chrono_literals;

namespace {

// Second by second the guest writes its hot pages 0-99 and 50 cold pages
// that no other second writes (1000 + 50 i ...).
InMemoryTrace hot_and_cold() {
    recording::Header h = test::one_region(4096);
    std::vector<recording::Interval> intervals;
    for (uint64_t i = 0; i < 8; ++i) {
        recording::Interval in;
        in.index = i;
        in.start_ns = i * 1'000'000'000;
        in.end_ns = (i + 1) * 1'000'000'000;
        in.dirty = {{0, 0, 100}, {0, 1000 + 50 * i, 50}};
        intervals.push_back(in);
    }
    return InMemoryTrace(std::move(h), std::move(intervals));
}

// One second of the guest, the round sync, the plan, and the round's sweep:
// what the plan deferred.
double round(TraceGuest& guest, Tracker& tracker, double capacity) {
    guest.run(1s, 0);
    EXPECT_TRUE(tracker.sync().ok());
    const std::optional<double> deferred = guest.plan_deferral({.rounds = 2}, capacity);
    EXPECT_TRUE(deferred.has_value());
    guest.begin_sweep(false);
    guest.take(1);
    return deferred.value_or(-1);
}

// The hot/cold replay attached to a tracker of its own (the whole simulation
// opens replays of its own besides).
class TraceDeferral : public testing::Test {
protected:
    void SetUp() override {
        auto opened = TraceGuest::open(trace);
        ASSERT_TRUE(opened) << opened.error().message();
        guest = std::move(*opened);
        ASSERT_TRUE(guest->attach(tracker).ok());
    }
    InMemoryTrace trace = hot_and_cold();
    std::unique_ptr<TraceGuest> guest;
    Tracker tracker;
};

}  // namespace

TEST_F(TraceDeferral, KeepsBackExactlyThePagesDirtyAtEachOfTheLastKSyncs) {
    EXPECT_EQ(round(*guest, tracker, 1e9), 0) << "one sync seen: nothing is hot yet";
    EXPECT_EQ(guest->dirty_pages(), 0);
    EXPECT_EQ(round(*guest, tracker, 1e9), 100);
    // The sweep took the cold pages and left the hot ones dirty.
    EXPECT_EQ(guest->dirty_pages(), 100);
    for (uint64_t p = 0; p < 100; ++p) EXPECT_TRUE(tracker.bitmap(0).test(p)) << p;
    EXPECT_EQ(tracker.bitmap(0).count(), 100u);
    // The final round: nothing kept, the sweep takes them all.
    guest->defer(0);
    guest->begin_sweep(false);
    EXPECT_EQ(guest->take(1).pages, 100);
    EXPECT_EQ(tracker.bitmap(0).count(), 0u);
}

TEST_F(TraceDeferral, NeverKeepsMoreThanTheFinalRoundsBudget) {
    round(*guest, tracker, 120);
    // 150 dirty, 100 hot: the final round carries 120, 50 of them the new
    // cold pages, so at most 70 hot ones may wait for it.
    EXPECT_EQ(round(*guest, tracker, 120), 70);
    EXPECT_EQ(tracker.bitmap(0).count(), 70u);
    for (uint64_t p = 1000; p < 4096; ++p) ASSERT_FALSE(tracker.bitmap(0).test(p)) << p;
    EXPECT_EQ(round(*guest, tracker, 40), 0) << "the cold pages alone fill the final round";
}

// The whole simulation with --defer-hot on a trace: fewer bytes than without,
// the final round within the downtime limit.
TEST_F(TraceDeferral, ASimulatedMigrationSendsLessAndEndsWithinTheDowntimeLimit) {
    SimulationOptions o{.bandwidth = 200 * 4104, .downtime_limit = 1000ms, .auto_converge = true};
    InMemoryTrace plain_trace = hot_and_cold(), deferring_trace = hot_and_cold();
    auto plain = TraceGuest::open(plain_trace);
    auto deferring = TraceGuest::open(deferring_trace);
    ASSERT_TRUE(plain && deferring);
    const SimulationResult without = simulate_precopy(**plain, o);
    o.defer_hot = HotPageDeferralOptions{.rounds = 2};
    const SimulationResult with = simulate_precopy(**deferring, o);
    ASSERT_TRUE(without.converged()) << without.why;
    ASSERT_TRUE(with.converged()) << with.why;
    EXPECT_GT(with.deferred_pages, 0);
    EXPECT_LE(with.bytes_on_wire, without.bytes_on_wire);
    EXPECT_LE(with.downtime_s, 1.0 + 1e-6);
}
