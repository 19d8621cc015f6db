// dtrack simulate's library: the model against the closed-form forecast, the
// throttle's steps, what the background sync buys on a huge guest, and a
// replayed recording whose page sets are known.
#include <gtest/gtest.h>

#include <algorithm>

#include "dtrack/migration_forecast.hpp"
#include "dtrack/precopy/guest_model.hpp"
#include "dtrack/precopy/simulation.hpp"
#include "dtrack/precopy/trace_guest.hpp"
#include "simulate/recording_header.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t GiB = 1ULL << 30, MiB = 1ULL << 20;

GuestModel uniform(uint64_t mem, uint64_t wss, double rate, uint32_t vcpus = 4) {
    GuestModel m;
    m.memory_bytes = mem;
    m.working_set_bytes = wss;
    m.rate = rate;
    m.vcpus = vcpus;
    return m;
}

SimulationResult simulate(const GuestModel& m, uint64_t bandwidth, bool auto_converge = false,
                          std::optional<std::chrono::milliseconds> background = std::nullopt) {
    EXPECT_TRUE(check_guest_model(m).ok());
    ModelGuest guest(m);
    return simulate_precopy(guest,
                            {.bandwidth = bandwidth, .auto_converge = auto_converge, .background_sync = background});
}

std::vector<int> pcts(const SimulationResult& r) {
    std::vector<int> v;
    for (const auto& s : r.throttle) v.push_back(s.pct);
    return v;
}

}  // namespace

TEST(GuestModel, DistinctPagesFollowTheCouponCollector) {
    EXPECT_DOUBLE_EQ(distinct_pages(1000, 0), 0);
    EXPECT_NEAR(distinct_pages(1000, 1), 1, 1e-3);          // the first write always finds a clean page
    EXPECT_NEAR(distinct_pages(1000, 1000), 632.12, 0.01);  // 1 - 1/e of them
    EXPECT_NEAR(distinct_pages(1000, 1e6), 1000, 1e-6);     // never more than the set
}

TEST(GuestModel, ThrottleHoldsTheVcpusAsQemuDoes) {
    GuestModel busy = uniform(GiB, GiB, 100 * MiB, 2);  // no peak: the vCPUs are busy writing
    EXPECT_DOUBLE_EQ(busy.rate_when_held(0), 100.0 * MiB);
    EXPECT_DOUBLE_EQ(busy.rate_when_held(20), 80.0 * MiB);
    EXPECT_DOUBLE_EQ(busy.rate_when_held(99), 1.0 * MiB);
    GuestModel idling = busy;
    idling.peak = 200.0 * MiB;  // each vCPU could write 4x what it does: the throttle bites past 75%
    EXPECT_DOUBLE_EQ(idling.rate_when_held(50), 100.0 * MiB);
    EXPECT_DOUBLE_EQ(idling.rate_when_held(90), 40.0 * MiB);
}

// Without a throttle, where the forecast's linear dirtying holds (little of
// the working set is rewritten within a round), both say the same.
TEST(PrecopySimulation, AgreesWithTheClosedFormForecastWithoutAThrottle) {
    struct Case {
        uint64_t mem, wss;
        double rate, bandwidth;
    };
    const Case cases[] = {
        {64 * GiB, 64 * GiB, 100.0 * MiB, 1.0 * GiB},    // converges in a few rounds
        {16 * GiB, 16 * GiB, 400.0 * MiB, 1.0 * GiB},    // more rounds
        {1024 * GiB, 200 * GiB, 3.0 * GiB, 10.0 * GiB},  // the 1 TiB guest
        {16 * GiB, 4 * GiB, 2.0 * GiB, 1.0 * GiB},       // dirties faster than the link: never
        {1024 * GiB, 200 * GiB, 12.0 * GiB, 10.0 * GiB},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::to_string(c.mem / GiB) + " GiB, rate " + std::to_string(c.rate / MiB) + " MiB/s");
        const Forecast f = forecast_precopy(
            {.memory_bytes = c.mem, .working_set_bytes = c.wss, .dirty_bytes_per_s = c.rate, .bandwidth = c.bandwidth});
        const SimulationResult r = simulate(uniform(c.mem, c.wss, c.rate), uint64_t(c.bandwidth));
        EXPECT_EQ(r.converged(), f.converges) << r.why;
        if (f.converges) {
            EXPECT_NEAR(double(r.rounds), double(f.rounds), 1.0);
            // The forecast dirties linearly; the model never dirties a page
            // twice in a round, so it is as fast or a little faster.
            EXPECT_LE(r.total_s, f.total_s * 1.01);
            EXPECT_GE(r.total_s, f.total_s * 0.85);
        } else {
            EXPECT_EQ(r.verdict, SimulationResult::Verdict::stuck);
        }
    }
}

TEST(PrecopySimulation, AutoConvergeStepsFollowTheThrottlesRules) {
    // 4 GiB/s of writes over 16 GiB against 1 GiB/s: only the throttle ends it.
    const GuestModel m = uniform(64 * GiB, 16 * GiB, 4.0 * GiB);
    const SimulationResult off = simulate(m, GiB);
    EXPECT_EQ(off.verdict, SimulationResult::Verdict::stuck);
    EXPECT_TRUE(off.throttle.empty());

    const SimulationResult on = simulate(m, GiB, /*auto_converge=*/true);
    ASSERT_TRUE(on.converged()) << on.why;
    // 20% first, then +10% per step; each step takes two high periods of at
    // least a second, so steps are at least two seconds apart.
    const std::vector<int> seen = pcts(on);
    ASSERT_FALSE(seen.empty());
    for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], std::min(20 + 10 * int(i), 99));
    for (size_t i = 1; i < on.throttle.size(); ++i) EXPECT_GE(on.throttle[i].at_s - on.throttle[i - 1].at_s, 2.0);
    // It stepped until the rounds could shrink: 4 GiB/s held to under 1 GiB/s.
    EXPECT_LT(m.rate_when_held(on.final_throttle_pct), 1.0 * GiB);
    EXPECT_GE(m.rate_when_held(seen.size() > 1 ? seen[seen.size() - 2] : 0), 0.5 * GiB);
}

TEST(PrecopySimulation, TheThrottleNeverPassesItsMaximum) {
    // Even held 99% of the time this guest outruns the link.
    GuestModel m = uniform(8 * GiB, 8 * GiB, 512.0 * GiB);
    const SimulationResult r = simulate(m, 1 * GiB, /*auto_converge=*/true, 5000ms);
    EXPECT_EQ(r.verdict, SimulationResult::Verdict::stuck) << r.why;
    EXPECT_EQ(r.final_throttle_pct, 99);
    EXPECT_EQ(pcts(r).back(), 99);
}

// The point of the watcher: on a guest whose rounds take minutes the
// throttle only moves at round syncs without it.
TEST(PrecopySimulation, TheBackgroundSyncMakesTheThrottleReactEarlierOnAHugeGuest) {
    // Rounds of over a minute: 800 GiB of working set against 10 GiB/s.
    const GuestModel m = uniform(1024 * GiB, 800 * GiB, 20.0 * GiB, 128);
    const SimulationResult with = simulate(m, 10 * GiB, true, 5000ms);
    const SimulationResult without = simulate(m, 10 * GiB, true, std::nullopt);
    ASSERT_TRUE(with.converged()) << with.why;
    ASSERT_TRUE(without.converged()) << without.why;
    EXPECT_GT(with.background_syncs, 0u);
    EXPECT_EQ(without.background_syncs, 0u);
    ASSERT_FALSE(with.throttle.empty());
    ASSERT_FALSE(without.throttle.empty());
    EXPECT_TRUE(std::any_of(with.throttle.begin(), with.throttle.end(),
                            [](const SimulatedThrottleStep& s) { return s.after == SyncKind::background; }));
    EXPECT_LT(with.throttle.front().at_s, without.throttle.front().at_s);
    EXPECT_LT(with.throttle.back().at_s, without.throttle.back().at_s);
    EXPECT_LT(with.total_s, 0.5 * without.total_s);  // 245 s against 631 s
}

TEST(PrecopySimulation, ABackgroundSyncMidRoundAddsThePagesAheadToThatRound) {
    // Same guest, the throttle off: the watcher has no consumer and stays off,
    // so the rounds are identical whatever --background-sync says.
    const GuestModel m = uniform(256 * GiB, 64 * GiB, 4.0 * GiB);
    const SimulationResult a = simulate(m, 10 * GiB, false, 5000ms);
    const SimulationResult b = simulate(m, 10 * GiB, false, std::nullopt);
    EXPECT_EQ(a.background_syncs, 0u);
    EXPECT_EQ(a.rounds, b.rounds);
    EXPECT_DOUBLE_EQ(a.total_s, b.total_s);
}

TEST(PrecopySimulation, ZeroPagesMakeRoundOneCheaper) {
    GuestModel m = uniform(64 * GiB, 8 * GiB, 10.0 * MiB);
    const SimulationResult full = simulate(m, GiB);
    m.zero_bytes = 48 * GiB;
    const SimulationResult sparse = simulate(m, GiB);
    ASSERT_FALSE(full.round_log.empty());
    EXPECT_NEAR(full.round_log[0].seconds, 64.0 * 4104.375 / 4096, 0.1);
    EXPECT_NEAR(sparse.round_log[0].seconds, 16.0 * 4104.375 / 4096 + 48.0 * 8.375 / 4096, 0.1);
    EXPECT_NEAR(sparse.round_log[0].zero_pages, 48.0 * GiB / 4096, 1);
}

// A sender slower than the link sets the pace: 1 GiB with contents at 100k
// pages/s takes 2.6 s where the link (1 GiB/s) takes 1 s. Its 3 GiB of zero
// pages cost it next to nothing (a read each; they go as 8-byte flags), so
// round 1 is the contents' time, and the rounds after it go at its pace too.
TEST(PrecopySimulation, ASenderSlowerThanTheLinkSetsThePaceAndZeroPagesCostItNothing) {
    GuestModel m = uniform(4 * GiB, GiB, 10.0 * MiB);
    m.zero_bytes = 3 * GiB;
    ModelGuest link_bound(m), cpu_bound(m);
    const SimulationOptions o{.bandwidth = GiB, .downtime_limit = 1000ms};
    SimulationOptions paced = o;
    paced.sender_pages_per_s = 1e5;
    const SimulationResult fast = simulate_precopy(link_bound, o);
    const SimulationResult slow = simulate_precopy(cpu_bound, paced);
    ASSERT_TRUE(fast.converged() && slow.converged()) << fast.why << slow.why;
    EXPECT_NEAR(fast.round_log[0].seconds, 3.0 * 8.375 / 4096 + 1.0 * 4104.375 / 4096, 0.01);
    EXPECT_NEAR(slow.round_log[0].zero_pages, 3.0 * GiB / 4096, 1);
    EXPECT_NEAR(slow.round_log[0].seconds, 1.0 * GiB / 4096 / 1e5, 0.01);
    EXPECT_NEAR(slow.round_log[0].pages, fast.round_log[0].pages, 1);
    EXPECT_NEAR(slow.bytes_on_wire / slow.pages_sent, fast.bytes_on_wire / fast.pages_sent, 64);
    ASSERT_GE(slow.round_log.size(), 2u);
    const SimulatedRound& second = slow.round_log[1];
    EXPECT_NEAR(second.seconds, second.pages / 1e5, 1e-3);
}

// A page sent again as a delta costs the sender a compare with its cached
// copy, not its pace for pages sent whole: with the whole guest cached and
// 8-byte writes, round 2's pages go as deltas at the link's pace (a few
// dozen bytes each), not at the sender's 10k pages/s.
TEST(PrecopySimulation, ADeltaCostsTheSenderNextToNothing) {
    ModelGuest guest(uniform(GiB, 256 * MiB, 40.0 * MiB));
    SimulationOptions o{.bandwidth = 64 * MiB, .downtime_limit = 1000ms};
    o.sender_pages_per_s = 1e4;
    o.page_bytes.xbzrle_cache_bytes = GiB;
    o.page_bytes.write_bytes = 8;
    const SimulationResult r = simulate_precopy(guest, o);
    ASSERT_GE(r.round_log.size(), 2u) << r.why;
    EXPECT_NEAR(r.round_log[0].seconds, 1.0 * GiB / 4096 / 1e4, 0.01) << "round 1 sends every page whole";
    const SimulatedRound& second = r.round_log[1];
    ASSERT_GT(second.pages, 1000);
    EXPECT_LT(second.seconds, second.pages / 1e4 / 10)
        << "deltas at the sender's pace would take " << second.pages / 1e4 << " s";
}

// Switchover hashes all guest memory while the guest is paused: 64 GiB at
// 1 TiB/s adds 62.5 ms to the downtime and the total. The sender counts it
// in its estimate, so the final round's pages get the rest of the limit:
// with it the migration switches over later or as late, never with a
// downtime past the limit.
TEST(PrecopySimulation, TheSwitchoverDigestIsInTheDowntimeAndTheEstimate) {
    const GuestModel m = uniform(64 * GiB, 8 * GiB, 200.0 * MiB);
    ModelGuest without_digest(m), with_digest(m);
    const SimulationResult a = simulate_precopy(without_digest, {.bandwidth = GiB});
    const SimulationResult b = simulate_precopy(with_digest, {.bandwidth = GiB, .digest_bytes_per_s = 1024.0 * GiB});
    ASSERT_TRUE(a.converged() && b.converged()) << a.why << b.why;
    EXPECT_GE(b.rounds, a.rounds);
    EXPECT_GT(b.downtime_s, 0.0625);
    EXPECT_LE(b.downtime_s, 0.3 + 1e-9);
    EXPECT_NEAR(b.estimated_downtime_s, b.downtime_s, 0.01);
    EXPECT_LE(b.estimated_downtime_s, 0.3);
    if (b.rounds == a.rounds) {
        EXPECT_NEAR(b.total_s - a.total_s, 0.0625, 0.01);
    }
}

// 200 GiB over a 10 GiB/s link take 20 s in round 1: a max-time of 10 s
// stops the round there, and the 100 GiB it sent by then count.
TEST(PrecopySimulation, MaxTimeStopsTheRoundWhereItIsAndKeepsTheBytesItSent) {
    ModelGuest guest(uniform(200 * GiB, GiB, double(GiB), 1));
    const SimulationResult r = simulate_precopy(guest, {.bandwidth = 10 * GiB, .max_time = 10s});
    EXPECT_EQ(r.verdict, SimulationResult::Verdict::timed_out);
    EXPECT_NEAR(r.total_s, 10, 1e-6);
    EXPECT_NEAR(r.bytes_on_wire, 100.0 * GiB, 1e3);
    ASSERT_EQ(r.round_log.size(), 1u);
    EXPECT_NEAR(r.round_log[0].seconds, 10, 1e-6);
    EXPECT_NEAR(r.round_log[0].pages, 100.0 * GiB / 4104.375, 1);
    EXPECT_DOUBLE_EQ(r.pages_sent, r.round_log[0].pages);
}

// --- a replayed recording ------------------------------------------------------------

namespace {

using test::one_region;

recording::Interval interval(uint64_t index, std::vector<recording::PageRun> runs) {
    recording::Interval i;
    i.index = index;
    i.start_ns = index * 1'000'000'000;
    i.end_ns = (index + 1) * 1'000'000'000;
    i.dirty = std::move(runs);
    return i;
}

// Wire bytes of n data pages in 64-page records.
double wire(double pages) { return pages * (4096 + 8 + 24.0 / 64); }

}  // namespace

TEST(TraceReplay, AKnownPageSetGivesTheKnownBytesPerRound) {
    // Second by second the guest writes pages 0-99, then 90-109 and 200-249
    // (overlapping the first set), and so on: any two seconds write 170
    // pages, 160 distinct ones.
    std::vector<recording::Interval> intervals;
    for (uint64_t i = 0; i < 8; ++i)
        intervals.push_back(i % 2 == 0 ? interval(i, {{0, 0, 100}}) : interval(i, {{0, 90, 20}, {0, 200, 50}}));
    InMemoryTrace trace(one_region(1024), intervals);
    auto guest = TraceGuest::open(trace);
    ASSERT_TRUE(guest) << guest.error().message();
    // Round 1 (1024 pages) takes exactly two seconds: two intervals end in it.
    const uint64_t bandwidth = uint64_t(wire(1024) / 2);
    const SimulationResult r = simulate_precopy(**guest, {.bandwidth = bandwidth, .downtime_limit = 1000ms});
    ASSERT_TRUE(r.converged()) << r.why;
    ASSERT_EQ(r.round_log.size(), 2u);
    EXPECT_DOUBLE_EQ(r.round_log[0].pages, 1024);
    EXPECT_DOUBLE_EQ(r.round_log[0].remaining_pages, 160);  // the union, not the sum (170)
    EXPECT_DOUBLE_EQ(r.round_log[1].pages, 160);            // the switchover round carries them
    EXPECT_NEAR(r.downtime_s, wire(160) / double(bandwidth), 1e-6);
    EXPECT_EQ((*guest)->replayed_intervals(), 2u);
}

// The sender takes 4096-page chunks, here two seconds each on the wire;
// the watcher's thread polls every 250 ms meanwhile, so round 2 (every page
// dirty again, 4 s; round 1 gets no background sync) gets one at 1, 2, 3
// and 4 s into it (a second since the last sync each time), not only where
// a chunk ends (2 and 4 s).
TEST(TraceReplay, TheWatcherPollsOnTimeWhileAChunkGoesOut) {
    std::vector<recording::Interval> intervals;
    for (uint64_t i = 0; i < 16; ++i) intervals.push_back(interval(i, {{0, 0, 8192}}));
    InMemoryTrace trace(one_region(8192), intervals);
    auto guest = TraceGuest::open(trace);
    ASSERT_TRUE(guest) << guest.error().message();
    const uint64_t bandwidth = uint64_t(wire(4096) / 2);
    const SimulationResult r = simulate_precopy(
        **guest, {.bandwidth = bandwidth, .auto_converge = true, .background_sync = 1000ms, .max_time = 8s});
    ASSERT_EQ(r.round_log.size(), 2u);
    EXPECT_NEAR(r.round_log[1].seconds, 4, 1e-6);
    EXPECT_EQ(r.round_log[1].background_syncs, 4u);
}

TEST(TraceReplay, AThrottledGuestReplaysItsRecordingMoreSlowly) {
    std::vector<recording::Interval> intervals;
    for (uint64_t i = 0; i < 4; ++i) intervals.push_back(interval(i, {{0, i * 10, 10}}));
    InMemoryTrace trace(one_region(64), intervals);
    auto guest = TraceGuest::open(trace);
    ASSERT_TRUE(guest);
    Tracker tracker;
    ASSERT_TRUE((*guest)->attach(tracker));
    (*guest)->run(2s, 50);  // held half the time: one recorded second
    EXPECT_EQ((*guest)->replayed_intervals(), 1u);
    EXPECT_EQ((*guest)->harvest(tracker).value(), 10u);
    (*guest)->run(6s, 0);  // the rest of the recording, and it starts again
    EXPECT_EQ((*guest)->loops(), 1u);
    EXPECT_EQ((*guest)->harvest(tracker).value(), 30u);  // pages 10-39; 0-9 were dirty already
}

TEST(TraceReplay, ASyncInTheMiddleOfAnIntervalFindsTheShareOfItThatCameBefore) {
    // One recorded second of 10,000 pages, replayed in two halves: each half
    // brings about half of them, and together every page exactly once.
    InMemoryTrace trace(one_region(20'000), {interval(0, {{0, 0, 10'000}})});
    auto guest = TraceGuest::open(trace);
    ASSERT_TRUE(guest);
    Tracker tracker;
    ASSERT_TRUE((*guest)->attach(tracker));
    (*guest)->run(500ms, 0);
    const uint64_t first_half = (*guest)->harvest(tracker).value();
    EXPECT_NEAR(double(first_half), 5000, 300);  // binomial: sd 50
    EXPECT_EQ((*guest)->replayed_intervals(), 0u);
    (void)tracker.take(0, 0, 20'000, [](uint64_t, uint64_t) {});  // sent: the next half must not bring them again
    (*guest)->run(500ms, 0);
    EXPECT_EQ((*guest)->harvest(tracker).value(), 10'000 - first_half);
    EXPECT_EQ((*guest)->replayed_intervals(), 1u);
}

TEST(TraceReplay, WithAPeakAPacedGuestIsSlowedOnlyWhereTheThrottleBitesItsOwnRate) {
    // Two vCPUs recorded writing 100 pages/s between them (409,600 bytes/s).
    std::vector<recording::Interval> intervals;
    for (uint64_t i = 0; i < 4; ++i) intervals.push_back(interval(i, {{0, i * 100, 100}}));
    recording::Header h = one_region(1024);
    h.vcpus = 2;
    // Flat out each vCPU writes 1,000 pages/s: held 50% the two still manage
    // 1,000/s, above their own 100/s, so the replay keeps its speed...
    InMemoryTrace paced(h, intervals);
    auto fast = TraceGuest::open(paced, {.peak = 1000 * 4096.0});
    ASSERT_TRUE(fast);
    Tracker t1;
    ASSERT_TRUE((*fast)->attach(t1));
    (*fast)->run(2s, 50);
    EXPECT_EQ((*fast)->replayed_intervals(), 2u);
    // ...held 99% they write 20 pages/s: a fifth of the recorded speed.
    (*fast)->run(5s, 99);
    EXPECT_EQ((*fast)->replayed_intervals(), 3u);
    // Without a peak the vCPUs are taken to be busy: held 50%, half the speed.
    InMemoryTrace busy(h, intervals);
    auto slow = TraceGuest::open(busy);
    ASSERT_TRUE(slow);
    Tracker t2;
    ASSERT_TRUE((*slow)->attach(t2));
    (*slow)->run(2s, 50);
    EXPECT_EQ((*slow)->replayed_intervals(), 1u);
}

// Found by the trace_guest fuzzer: 4096-page chunks of 512 MiB pages are
// 2 TiB, which a 256 MiB/s link took 8192 s to send past a max-time of
// 120 s. A chunk is 16 MiB, or one page where pages are larger.
TEST(TraceReplay, MaxTimeStopsTheRoundWithinOnePageWhateverThePageSize) {
    recording::Header h = one_region(65536);
    h.regions[0].page_size = 512u << 20;
    InMemoryTrace trace(h, {interval(0, {{0, 0, 65536}})});
    auto guest = TraceGuest::open(trace, {.max_bitmap_bytes = 1 << 20});
    ASSERT_TRUE(guest) << guest.error().message();
    const SimulationResult r = simulate_precopy(**guest, {.bandwidth = 256 * MiB, .max_time = 120s});
    EXPECT_EQ(r.verdict, SimulationResult::Verdict::timed_out);
    EXPECT_GE(r.total_s, 120);
    EXPECT_LE(r.total_s, 120 + 2.01);  // one page at 256 MiB/s
}

TEST(TraceReplay, APeakNeedsTheVcpuCountAndARecordingWithoutOneSaysSo) {
    InMemoryTrace trace(one_region(64), {interval(0, {{0, 0, 10}})});  // vcpus = 0: the method had no vCPU view
    auto g = TraceGuest::open(trace, {.peak = 1e6});
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().what.find("does not know the vCPUs"), std::string::npos) << g.error().what;
    EXPECT_TRUE(TraceGuest::open(trace, {.peak = 1e6, .vcpus = 4}));
}

TEST(TraceReplay, PagesOutsideTheRegionsFailTheSimulationAndSayWhere) {
    InMemoryTrace trace(one_region(64), {interval(0, {{0, 60, 10}})});
    auto guest = TraceGuest::open(trace);
    ASSERT_TRUE(guest);
    const SimulationResult r = simulate_precopy(**guest, {.bandwidth = 4096});
    EXPECT_EQ(r.verdict, SimulationResult::Verdict::failed);
    EXPECT_NE(r.why.find("outside its regions (region 0, pages 60 + 10)"), std::string::npos) << r.why;
}

TEST(TraceReplay, ARecordingWithoutIntervalsOrRegionsIsRefused) {
    InMemoryTrace empty(one_region(64), {});
    EXPECT_FALSE(TraceGuest::open(empty));
    InMemoryTrace no_regions(recording::Header{}, {interval(0, {})});
    auto g = TraceGuest::open(no_regions);
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().what.find("no regions"), std::string::npos);
}

// --- bad models -----------------------------------------------------------------------

TEST(GuestModel, BadSpecsNameTheCauseAndTheFix) {
    const std::pair<const char*, const char*> cases[] = {
        {"mem=1T,wss=2T,rate=1G", "larger than mem"},
        {"mem=1T,wss=200G", "rate is missing"},
        {"mem=-1T,wss=200G,rate=1G", "negative"},
        {"mem=1X,wss=200G,rate=1G", "not a size"},
        {"mem=1T,wss=200G,rate=1G,colour=red", "unknown key 'colour'"},
        {"mem=1T;wss=200G", "not a size"},
        {"mem=1T,wss,rate=1G", "not key=value"},
        {"mem=1T,wss=200G,rate=1G,vcpus=0", "vcpus=0"},
        {"mem=1T,wss=200G,rate=1G,hot=300G", "hot="},
        {"mem=1T,wss=200G,rate=1G,hot-share=150%", "not a share"},
        {"mem=1T,wss=200G,rate=1G,mem=2T", "given twice"},
        {"mem=1T,wss=200G,rate=8G,vcpus=2,peak=1G", "cannot write that fast"},
        {"mem=1T,wss=1T,rate=1G,zero=1G", "outside the working set"},
    };
    for (const auto& [spec, cause] : cases) {
        auto m = parse_guest_model(spec);
        ASSERT_FALSE(m) << spec;
        EXPECT_NE(m.error().what.find(cause), std::string::npos) << spec << ": " << m.error().what;
        EXPECT_FALSE(m.error().fix.empty()) << spec;
    }
    auto good = parse_guest_model("mem=1T,vcpus=128,wss=200G,rate=3G/s,hot=10%,hot-share=0.9,peak=100M");
    ASSERT_TRUE(good) << good.error().message();
    EXPECT_EQ(good->memory_bytes, 1024 * GiB);
    EXPECT_EQ(good->vcpus, 128u);
    EXPECT_EQ(good->hot_bytes, 20 * GiB);
    EXPECT_DOUBLE_EQ(good->rate, 3.0 * GiB);
    EXPECT_DOUBLE_EQ(good->peak, 100.0 * MiB);
}

// Hot-page deferral on a guest whose hot part is larger than the final round
// carries, held back by auto-converge for many rounds: the rounds keep hot
// pages back (within the downtime limit), so fewer bytes go and the
// migration ends sooner; the final round still fits the limit.
TEST(PrecopySimulation, HotPageDeferralSendsLessOnAHotColdGuestWithinTheDowntimeLimit) {
    auto spec = parse_guest_model("mem=16G,wss=4G,rate=1G,hot=512M,hot-share=99%");
    ASSERT_TRUE(spec.ok()) << spec.error().message();
    SimulationOptions o{.bandwidth = 256 * MiB, .downtime_limit = 1000ms, .auto_converge = true};
    ModelGuest plain(*spec);
    const SimulationResult without = simulate_precopy(plain, o);
    o.defer_hot = HotPageDeferralOptions{.rounds = 2};
    ModelGuest deferring(*spec);
    const SimulationResult with = simulate_precopy(deferring, o);
    ASSERT_TRUE(without.converged()) << without.why;
    ASSERT_TRUE(with.converged()) << with.why;
    EXPECT_EQ(without.deferred_pages, 0);
    EXPECT_GT(with.deferred_pages, 0);
    EXPECT_LT(with.bytes_on_wire, without.bytes_on_wire);
    EXPECT_LT(with.total_s, without.total_s);
    EXPECT_LE(with.downtime_s, 1.0 + 1e-6) << "the deferred pages fit the final round";
    std::printf("  without: %.1f s, %.2f GiB; with: %.1f s, %.2f GiB, %.0f page-rounds deferred, downtime %.0f ms\n",
                without.total_s, without.bytes_on_wire / GiB, with.total_s, with.bytes_on_wire / GiB,
                with.deferred_pages, with.downtime_s * 1000);
}

TEST(PrecopySimulation, DeferralRoundsOutsideOneToEightFailTheSimulationWithTheReason) {
    ModelGuest guest(uniform(GiB, GiB, 10 * MiB));
    const SimulationResult r =
        simulate_precopy(guest, {.bandwidth = 100 * MiB, .defer_hot = HotPageDeferralOptions{.rounds = 0}});
    EXPECT_EQ(r.verdict, SimulationResult::Verdict::failed);
    EXPECT_NE(r.why.find("outside 1..8"), std::string::npos) << r.why;
}
