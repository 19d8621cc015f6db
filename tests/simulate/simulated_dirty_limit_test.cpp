// The dirty limit in the simulation (dtrack simulate --dirty-limit): the
// engine's DirtyLimit, engaged by auto-converge's trigger and fed at the
// watcher's per-period syncs, holds each simulated vCPU its share of the
// time; a modelled guest that cannot converge without it converges with it,
// and a recording's pages are split over its vCPUs by their counts.
#include <gtest/gtest.h>

#include <map>

#include "dtrack/dirty_limit.hpp"
#include "dtrack/precopy/guest_model.hpp"
#include "dtrack/precopy/simulation.hpp"
#include "dtrack/precopy/trace_guest.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t GiB = 1ULL << 30, MiB = 1ULL << 20;

// 4 vCPUs writing 100 MiB/s each over a 2 GiB working set, a 100 MiB/s link:
// every round leaves the whole working set dirty.
GuestModel busy_guest() {
    GuestModel m;
    m.memory_bytes = 4 * GiB;
    m.working_set_bytes = 2 * GiB;
    m.rate = 400.0 * MiB;
    m.vcpus = 4;
    return m;
}

const DirtyLimitOptions quota{.quota = 2500, .period = 1000ms, .max_share = 0.999};

SimulationResult simulate(const GuestModel& m, std::optional<DirtyLimitOptions> limit) {
    ModelGuest guest(m);
    return simulate_precopy(guest, {.bandwidth = 100 * MiB, .dirty_limit = limit, .max_time = 1h});
}

}  // namespace

TEST(SimulatedDirtyLimit, BringsAGuestThatDoesNotConvergeWithoutItToConvergence) {
    const SimulationResult without = simulate(busy_guest(), std::nullopt);
    EXPECT_EQ(without.verdict, SimulationResult::Verdict::stuck) << without.why;
    EXPECT_FALSE(without.dirty_limit_engaged_s);

    const SimulationResult with = simulate(busy_guest(), quota);
    ASSERT_TRUE(with.converged()) << with.why;
    ASSERT_TRUE(with.dirty_limit_engaged_s);
    EXPECT_GT(with.background_syncs, 0u);  // the watcher's sync every period feeds it
    EXPECT_LE(with.downtime_s, 0.3);
    ASSERT_FALSE(with.dirty_limit.empty());
    EXPECT_GT(with.dirty_limit.back().share, 0.5);  // held most of the time to write 2500 pages/s of 25600
}

TEST(SimulatedDirtyLimit, ItsStepsFollowDirtyLimitsOwnNextShare) {
    // A working set so large that a period's writes are distinct pages: the
    // rate the limit measures is what the vCPU wrote. Round 1 takes 655 s;
    // the limit engages in round 2.
    GuestModel m = busy_guest();
    m.memory_bytes = 64 * GiB;
    m.working_set_bytes = 64 * GiB;
    ModelGuest guest(m);
    const SimulationResult r =
        simulate_precopy(guest, {.bandwidth = 100 * MiB, .dirty_limit = quota, .max_time = 800s});
    ASSERT_TRUE(r.dirty_limit_engaged_s) << r.why;
    std::map<uint32_t, double> share;  // each vCPU's, before the sample
    size_t moved = 0;
    const double own = 100.0 * MiB / 4096;  // pages/s a vCPU writes unheld
    for (const SimulatedLimitSample& s : r.dirty_limit) {
        EXPECT_DOUBLE_EQ(s.share, DirtyLimit::next_share(quota, s.rate, share[s.vcpu])) << "at " << s.at_s;
        // It wrote the share of the period it ran.
        EXPECT_NEAR(s.rate, own * (1 - share[s.vcpu]), own * 0.02 + 2) << "at " << s.at_s;
        moved += s.share != share[s.vcpu];
        share[s.vcpu] = s.share;
    }
    EXPECT_GE(moved, 4u);  // every vCPU was held
    EXPECT_GT(r.dirty_limit.size(), 4 * 8u);
    // Then held at its quota, within the limit's tolerance.
    for (const auto& [vcpu, last] : share) EXPECT_NEAR(own * (1 - last), quota.quota, 0.1 * quota.quota) << vcpu;
}

// --- a replayed recording ------------------------------------------------------------

namespace {

recording::Header two_vcpus(uint64_t pages, uint32_t vcpus) {
    recording::Header h;
    h.method = "test";
    h.interval_ns = 1'000'000'000;
    h.vcpus = vcpus;
    h.regions.push_back(Region{.name = "ram", .space = AddressSpace::host_virtual, .page_count = pages});
    return h;
}

// Second i writes 40 pages; the ring had 60 entries from vCPU 0 and 20 from
// vCPU 1 (a page counted again after each reset).
recording::Interval forty_pages(uint64_t i, bool counts) {
    recording::Interval in;
    in.index = i;
    in.start_ns = i * 1'000'000'000;
    in.end_ns = (i + 1) * 1'000'000'000;
    in.dirty = {{0, i * 40, 40}};
    if (counts) in.vcpu_pages = {60, 20};
    return in;
}

}  // namespace

TEST(SimulatedDirtyLimit, ARecordingsVcpusReportTheirRecordedCountsAtTheirPaceTimesTheShareTheyRun) {
    InMemoryTrace trace(two_vcpus(4096, 2), {forty_pages(0, true), forty_pages(1, true), forty_pages(2, true)});
    auto guest = TraceGuest::open(trace);
    ASSERT_TRUE(guest) << guest.error().message();
    Tracker tracker;
    ASSERT_TRUE((*guest)->attach(tracker));
    ASSERT_TRUE((*guest)->limit_vcpus());
    // vCPU 0 (3/4 of the entries) held half the time: the interval replays at
    // 3/4 * 1/2 + 1/4 = 5/8 of its speed, so it takes 1.6 s.
    (*guest)->vcpus().set_share(0, 0.5);
    (*guest)->run(1600ms, 0);
    EXPECT_EQ((*guest)->replayed_intervals(), 1u);
    ASSERT_EQ((*guest)->harvest(tracker).value(), 40u);
    // Each reported its recorded entries at its recorded pace times the
    // share of the time it ran: vCPU 0 60/s * 1/2, vCPU 1 its 20/s, over the 1.6 s.
    const std::vector<uint64_t> reported = (*guest)->vcpus().take_reported();
    ASSERT_EQ(reported.size(), 2u);
    EXPECT_NEAR(double(reported[0]), 30 * 1.6, 1);
    EXPECT_NEAR(double(reported[1]), 20 * 1.6, 1);
}

TEST(SimulatedDirtyLimit, ARecordingWithoutPerVcpuCountsNeedsTheVcpuCountAndSpreadsItsPagesEvenly) {
    InMemoryTrace trace(two_vcpus(4096, 0), {forty_pages(0, false), forty_pages(1, false)});
    auto blind = TraceGuest::open(trace);
    ASSERT_TRUE(blind);
    const Status refused = (*blind)->limit_vcpus();
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("no per-vCPU counts"), std::string::npos) << refused.error().message();
    EXPECT_NE(refused.error().fix.find("vCPU count"), std::string::npos);

    auto guest = TraceGuest::open(trace, {.vcpus = 2});
    ASSERT_TRUE(guest);
    Tracker tracker;
    ASSERT_TRUE((*guest)->attach(tracker));
    ASSERT_TRUE((*guest)->limit_vcpus());
    EXPECT_NE((*guest)->describe().find("spread evenly over 2 vCPUs"), std::string::npos) << (*guest)->describe();
    (*guest)->run(1s, 0);
    ASSERT_EQ((*guest)->harvest(tracker).value(), 40u);
    EXPECT_EQ((*guest)->vcpus().take_reported(), (std::vector<uint64_t>{20, 20}));
}
