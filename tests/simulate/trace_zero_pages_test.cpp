// `dtrack simulate --trace --zero-pages`: a replay's round 1 sends the
// guest's zero memory as zero-page flags, as the modelled guest's does,
// unless the replay wrote a page before the sweep reached it.
#include <gtest/gtest.h>

#include "dtrack/precopy/guest_model.hpp"
#include "dtrack/precopy/simulation.hpp"
#include "dtrack/precopy/trace_guest.hpp"
#include "simulate/recording_header.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t MiB = 1ULL << 20;

using test::one_region;

// Intervals [start, end) in ns that write pages [first, first + count).
recording::Interval writes(uint64_t index, uint64_t start_ns, uint64_t end_ns, uint64_t first, uint64_t count) {
    recording::Interval i;
    i.index = index;
    i.start_ns = start_ns;
    i.end_ns = end_ns;
    i.dirty = {{0, first, count}};
    return i;
}

}  // namespace

// A 256 MiB guest that writes only its first 64 MiB, 128 MiB of the rest
// zero: the model (zero=128M) and a recording of such a guest
// (--zero-pages 128M) send the same round 1, its zero pages as flags.
TEST(TraceZeroPages, RoundOneSendsThemAsFlagsAndAgreesWithTheModelGuest) {
    const uint64_t pages = 256 * MiB / 4096, working_set = 64 * MiB / 4096, zero = 128 * MiB / 4096;
    auto model = parse_guest_model("mem=256M,wss=64M,rate=16M,vcpus=1,zero=128M");
    ASSERT_TRUE(model) << model.error().message();
    ModelGuest modelled(*model);
    const SimulationOptions o{.bandwidth = 64 * MiB, .downtime_limit = 1000ms};
    const SimulationResult m = simulate_precopy(modelled, o);

    std::vector<recording::Interval> intervals;
    for (uint64_t i = 0; i < 4; ++i)
        intervals.push_back(writes(i, i * 1'000'000'000, (i + 1) * 1'000'000'000, 0, working_set));
    InMemoryTrace trace(one_region(pages), intervals);
    auto replayed = TraceGuest::open(trace, {.zero_pages = zero});
    ASSERT_TRUE(replayed) << replayed.error().message();
    const SimulationResult t = simulate_precopy(**replayed, o);

    ASSERT_FALSE(m.round_log.empty());
    ASSERT_FALSE(t.round_log.empty());
    EXPECT_NEAR(m.round_log[0].zero_pages, double(zero), 1e-6);
    EXPECT_NEAR(t.round_log[0].zero_pages, m.round_log[0].zero_pages, 1e-6);
    EXPECT_DOUBLE_EQ(t.round_log[0].pages, double(pages));
    EXPECT_NEAR(t.round_log[0].seconds, m.round_log[0].seconds, 1e-6);
}

// All of a 1 GiB guest is zero at the start; in its first instant it writes
// the last 1,000 pages, which the sweep reaches later: those go whole.
TEST(TraceZeroPages, APageTheGuestWritesBeforeTheSweepReachesItGoesWhole) {
    const uint64_t pages = 1024 * MiB / 4096;
    std::vector<recording::Interval> intervals{writes(0, 0, 1, pages - 1000, 1000)};
    for (uint64_t i = 1; i < 4; ++i)
        intervals.push_back(writes(i, 1 + (i - 1) * 1'000'000'000, 1 + i * 1'000'000'000, pages - 1000, 1000));
    InMemoryTrace trace(one_region(pages), intervals);
    auto guest = TraceGuest::open(trace, {.zero_pages = pages});
    ASSERT_TRUE(guest) << guest.error().message();
    // The watcher polls every 100 ms, so round 1 goes in steps that let the guest run.
    const SimulationResult r = simulate_precopy(
        **guest, {.bandwidth = 256 * 1024, .downtime_limit = 1000ms, .auto_converge = true, .background_sync = 400ms});
    ASSERT_FALSE(r.round_log.empty());
    EXPECT_DOUBLE_EQ(r.round_log[0].pages, double(pages));
    EXPECT_NEAR(r.round_log[0].zero_pages, double(pages - 1000), 1e-6);
}

TEST(TraceZeroPages, MoreThanTheRecordingsMemoryIsRefusedWithTheFix) {
    InMemoryTrace trace(one_region(1024), {writes(0, 0, 1'000'000'000, 0, 10)});
    auto guest = TraceGuest::open(trace, {.zero_pages = 1025});
    ASSERT_FALSE(guest);
    EXPECT_NE(guest.error().message().find("more than the recording's 1024 pages"), std::string::npos)
        << guest.error().message();
    EXPECT_FALSE(guest.error().fix.empty());
}

// --start-at: the migration starts 1 s into the recording, so the pages of
// its first second hold data at the start, and replaying begins after them.
TEST(TraceZeroPages, AStartInTheRecordingMakesTheEarlierIntervalsPagesData) {
    const uint64_t pages = 64 * MiB / 4096;
    std::vector<recording::Interval> intervals{writes(0, 0, 1'000'000'000, 0, 100)};
    for (uint64_t i = 1; i < 10; ++i)
        intervals.push_back(writes(i, i * 1'000'000'000, (i + 1) * 1'000'000'000, 100, 100));
    InMemoryTrace trace(one_region(pages), intervals);
    auto guest = TraceGuest::open(trace, {.zero_pages = pages});
    ASSERT_TRUE(guest) << guest.error().message();
    ASSERT_TRUE((*guest)->start_at(1s).ok());
    const SimulationResult r = simulate_precopy(**guest, {.bandwidth = 256 * 1024, .downtime_limit = 1000ms});
    ASSERT_FALSE(r.round_log.empty());
    EXPECT_NEAR(r.round_log[0].zero_pages, double(pages - 100), 1e-6);
    EXPECT_DOUBLE_EQ(r.round_log[0].remaining_pages, 100) << "the replay went on with pages 100-199";

    InMemoryTrace again(one_region(pages), {writes(0, 0, 1'000'000'000, 0, 100)});
    auto past = TraceGuest::open(again);
    ASSERT_TRUE(past);
    const Status s = (*past)->start_at(2s);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message().find("past the recording's end"), std::string::npos) << s.error().message();
}

// --start-at inside an interval (one of a recording's long intervals, as
// `dtrack record --interval 1s` writes them): the pages of that interval
// that come out before the start hold data at the start; they are not
// replayed as written after it.
TEST(TraceZeroPages, AStartInsideAnIntervalMakesItsShareBeforeTheStartData) {
    const uint64_t pages = 64 * MiB / 4096, warmed = 10'000;
    InMemoryTrace trace(one_region(pages),
                        {writes(0, 0, 2'000'000'000, 0, warmed), writes(1, 2'000'000'000, 3'000'000'000, warmed, 100)});
    auto guest = TraceGuest::open(trace, {.zero_pages = pages});
    ASSERT_TRUE(guest) << guest.error().message();
    ASSERT_TRUE((*guest)->start_at(1999ms).ok());
    const SimulationResult r = simulate_precopy(**guest, {.bandwidth = 256 * 1024, .downtime_limit = 1000ms});
    ASSERT_FALSE(r.round_log.empty());
    // 99.95% of the interval came before the start: about 9,995 of its pages.
    EXPECT_LE(r.round_log[0].zero_pages, double(pages - warmed + 50));
    EXPECT_GE(r.round_log[0].zero_pages, double(pages - warmed - 100));
}
