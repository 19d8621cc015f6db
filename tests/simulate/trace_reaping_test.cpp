// SimulationOptions::reap_every (dtrack simulate --harvest): a source that
// harvests while a round runs (KVM's ring with a reaper, userfaultfd) lets
// the round take the pages written ahead of the sender's cursor; one read
// at syncs only (the dirty log) leaves every page written during a round to
// the next. Measured against dtvm on KVM, the second made the simulated
// rounds leave 16-20% more pages than the real ring's (BENCHMARKS.md §7).
#include <gtest/gtest.h>

#include "dtrack/precopy/simulation.hpp"
#include "dtrack/precopy/trace_guest.hpp"
#include "simulate/recording_header.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t MiB = 1ULL << 20;
constexpr uint64_t pages = 64 * MiB / 4096;  // four of the replay's 16 MiB chunks
constexpr uint64_t last_chunk = pages - 4096;

// A guest that writes all its memory in its first millisecond, then 8 new
// pages of its last chunk every 10 ms: round 2 sweeps all of memory, a
// chunk at a time, while the guest writes only at its end.
InMemoryTrace writes_all_then_its_last_chunk() {
    std::vector<recording::Interval> intervals(1);
    intervals[0].end_ns = 1'000'000;
    intervals[0].dirty = {{0, 0, pages}};
    for (uint64_t i = 1; i < 1000; ++i) {
        recording::Interval w;
        w.index = i;
        w.start_ns = 1'000'000 + (i - 1) * 10'000'000;
        w.end_ns = w.start_ns + 10'000'000;
        w.dirty = {{0, last_chunk + (i * 8) % 4096, 8}};
        intervals.push_back(w);
    }
    return InMemoryTrace(test::one_region(pages), intervals);
}

SimulationResult migrate(std::optional<std::chrono::milliseconds> reap_every) {
    InMemoryTrace trace = writes_all_then_its_last_chunk();
    auto guest = TraceGuest::open(trace);
    EXPECT_TRUE(guest) << guest.error().message();
    // 64 MiB/s: round 1 and round 2 take a second each, 800 pages written in each.
    return simulate_precopy(**guest, {.bandwidth = 64 * MiB, .downtime_limit = 1000ms, .reap_every = reap_every});
}

}  // namespace

TEST(TraceReaping, AtSyncsOnlyEveryPageWrittenDuringARoundWaitsForTheNext) {
    const SimulationResult r = migrate(std::nullopt);
    ASSERT_GE(r.round_log.size(), 2u);
    EXPECT_EQ(r.round_log[1].pages, double(pages)) << "round 2 sends all that the first millisecond wrote";
    // Written in round 2's second: 100 intervals of 8 pages.
    EXPECT_NEAR(r.round_log[1].remaining_pages, 800, 16);
}

TEST(TraceReaping, ContinuouslyARoundTakesThePagesWrittenAheadOfItsCursorAndLeavesOnlyThoseBehindIt) {
    const SimulationResult sync = migrate(std::nullopt), reaped = migrate(10ms);
    ASSERT_GE(reaped.round_log.size(), 2u);
    // The cursor reaches the last chunk three quarters into round 2: the
    // pages written before that go in round 2 (they were dirty already, so
    // it sends no more pages, but their new contents), those after wait.
    EXPECT_EQ(reaped.round_log[1].pages, double(pages));
    EXPECT_NEAR(reaped.round_log[1].remaining_pages, 200, 40);
    EXPECT_LT(reaped.bytes_on_wire, sync.bytes_on_wire) << "the final round carries less";
    EXPECT_LT(reaped.downtime_s, sync.downtime_s);
}

// The pages a reaper found between syncs are the next sync's newly dirty
// pages, as KvmRingSource reports its reaper's: auto-converge's trigger (the
// guest dirties more than half of what is sent) sees them. A guest writing
// 25.6k new pages a second over all its memory, on a link for 16k: throttled
// alike whichever way it is harvested.
TEST(TraceReaping, ThePagesAReaperFoundCountAtTheNextSyncSoAutoConvergeStillSeesThem) {
    std::vector<recording::Interval> intervals;
    for (uint64_t i = 0; i < 1000; ++i) {
        recording::Interval w;
        w.index = i;
        w.start_ns = i * 10'000'000;
        w.end_ns = w.start_ns + 10'000'000;
        w.dirty = {{0, (i * 256) % pages, 256}};
        intervals.push_back(w);
    }
    const auto run = [&](std::optional<std::chrono::milliseconds> reap_every) {
        InMemoryTrace trace(test::one_region(pages), intervals);
        auto guest = TraceGuest::open(trace);
        EXPECT_TRUE(guest) << guest.error().message();
        return simulate_precopy(**guest, {.bandwidth = 64 * MiB,
                                          .auto_converge = true,
                                          .reap_every = reap_every,
                                          .max_time = std::chrono::seconds(60)});
    };
    const SimulationResult sync = run(std::nullopt), reaped = run(10ms);
    ASSERT_FALSE(sync.throttle.empty()) << sync.why;
    ASSERT_FALSE(reaped.throttle.empty()) << "the reaped pages never reached auto-converge's trigger";
    EXPECT_NEAR(reaped.throttle.front().at_s, sync.throttle.front().at_s, 1.5);
}
