// The watcher's decisions, driven by a manual clock: no test sleeps.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>

#include "dtrack/throttle.hpp"
#include "dtrack/watcher.hpp"

using namespace dtrack;
using namespace std::chrono_literals;
using D = Watcher::Decision;

namespace {

// Dirties `pages` fresh pages at every harvest, as a busy guest would.
class BusySource : public Source {
public:
    uint64_t pages = 100;
    uint64_t next = 0;
    std::string name() const override { return "busy"; }
    Result<HarvestReport> harvest(Tracker& t) override {
        HarvestReport r;
        for (uint64_t i = 0; i < pages; ++i) r.new_dirty += t.bitmap(0).mark(next++ % t.bitmap(0).pages());
        r.pages = pages;
        return r;
    }
};

// Starts `watcher`'s thread, lets it wait, and stops it. A stop() that does
// not wake the thread would wait out the poll (an hour, say): instead of
// hanging the suite, this fails once `limit` has passed, leaving the stuck
// watcher to its thread (the test has failed; the process ends first).
testing::AssertionResult stops_within(std::unique_ptr<Watcher> watcher, std::chrono::milliseconds limit) {
    watcher->start();
    std::this_thread::sleep_for(20ms);  // into its wait
    auto stopped = std::make_shared<std::promise<void>>();
    std::future<void> done = stopped->get_future();
    const auto start = std::chrono::steady_clock::now();
    std::thread([w = watcher.release(), stopped] {
        w->stop();
        delete w;
        stopped->set_value();
    }).detach();
    if (done.wait_for(limit) != std::future_status::ready)
        return testing::AssertionFailure() << "stop() had not returned after " << limit.count()
                                           << " ms: it waits out the poll instead of waking the thread";
    const auto took = std::chrono::steady_clock::now() - start;
    if (took > limit) return testing::AssertionFailure() << "stop() took " << (took / 1ms) << " ms";
    return testing::AssertionSuccess();
}

struct WatcherTest : testing::Test {
    Tracker tracker;
    ManualClock clock;
    RegionId region = tracker.add_region(Region{.name = "ram", .page_count = 1 << 20}).value();
    Source& source = tracker.add_source(std::make_unique<BusySource>());
    Rounds rounds{tracker, clock};
    Watcher watcher{rounds, WatcherOptions{.poll = 1s, .threshold = 5s}};

    // Polls every second for `seconds`; returns the decisions.
    std::vector<D> poll_for(int seconds) {
        std::vector<D> d;
        for (int i = 0; i < seconds; ++i) {
            clock.advance(1s);
            d.push_back(watcher.tick());
        }
        return d;
    }
    void next_round() {
        rounds.end_round();
        ASSERT_TRUE(rounds.sync(SyncKind::round).ok());
        rounds.begin_round();
    }
};

TEST_F(WatcherTest, NothingWithoutAMigration) {
    EXPECT_EQ(watcher.tick(), D::not_migrating);
    EXPECT_EQ(rounds.syncs(SyncKind::background), 0u);
}

TEST_F(WatcherTest, NoSyncInRoundOne) {
    rounds.start_migration();
    ASSERT_TRUE(rounds.sync(SyncKind::round).ok());
    rounds.begin_round();
    for (D d : poll_for(30)) EXPECT_EQ(d, D::first_round);
    EXPECT_EQ(rounds.syncs(SyncKind::background), 0u);
}

TEST_F(WatcherTest, BackgroundSyncWhenARoundOutlastsTheThreshold) {
    rounds.start_migration();
    ASSERT_TRUE(rounds.sync(SyncKind::round).ok());
    rounds.begin_round();
    poll_for(2);
    next_round();  // round 2 starts with a fresh sync
    const std::vector<D> d = poll_for(11);
    // 1 s: the round moved; 2-4 s: the sync is recent; 5 s: background sync; then again 5 s later.
    EXPECT_EQ(d[0], D::round_moved);
    for (int i = 1; i < 4; ++i) EXPECT_EQ(d[i], D::synced_recently) << i;
    EXPECT_EQ(d[4], D::background_sync);
    for (int i = 5; i < 9; ++i) EXPECT_EQ(d[i], D::synced_recently) << i;
    EXPECT_EQ(d[9], D::background_sync);
    EXPECT_EQ(rounds.syncs(SyncKind::background), 2u);
    EXPECT_EQ(watcher.background_syncs(), 2u);
    // Two clocks: background syncs do not count as rounds.
    EXPECT_EQ(rounds.round(), 2u);
    EXPECT_EQ(tracker.counters().rounds, 2u);
    EXPECT_EQ(tracker.counters().syncs_background, 2u);
}

TEST_F(WatcherTest, NoSyncWhileRoundsKeepFinishing) {
    rounds.start_migration();
    ASSERT_TRUE(rounds.sync(SyncKind::round).ok());
    rounds.begin_round();
    for (int i = 0; i < 20; ++i) {
        clock.advance(3s);  // a round every 3 s: over a poll, under the threshold... and more
        next_round();
        clock.advance(1s);
        EXPECT_EQ(watcher.tick(), D::round_moved);
    }
    EXPECT_EQ(rounds.syncs(SyncKind::background), 0u);
}

TEST_F(WatcherTest, StopsWhenTheThrottleIsAtItsMaximum) {
    Throttle throttle(ThrottleOptions{.initial_pct = 99}, nullptr);
    Watcher w(rounds, WatcherOptions{}, [&] { return !throttle.at_max(); });
    rounds.on_period([&](const Period& p) { throttle.on_period(p); });
    rounds.start_migration();
    ASSERT_TRUE(rounds.sync(SyncKind::round).ok());
    rounds.begin_round();
    clock.advance(1s);
    next_round();
    // Nothing is transferred while the busy guest dirties: every period is "high".
    D last = D::not_migrating;
    const auto from = clock.now();
    for (int i = 0; i < 60 && last != D::done; ++i) {
        clock.advance(1s);
        last = w.tick();
    }
    EXPECT_TRUE(throttle.at_max());
    EXPECT_EQ(last, D::done);
    // 99% at the first step: two high periods of at least 1 s, each needing a
    // background sync 5 s after the previous sync, then one more poll.
    EXPECT_LE(clock.now() - from, 11s) << "the watcher took too long, in logical time, to stop";
    const uint64_t syncs = rounds.syncs(SyncKind::background);
    clock.advance(10s);
    EXPECT_EQ(w.tick(), D::done);
    EXPECT_EQ(rounds.syncs(SyncKind::background), syncs) << "no sync once nothing consumes it";
}

TEST_F(WatcherTest, EndsWithTheMigrationAndRestartsClean) {
    rounds.start_migration();
    ASSERT_TRUE(rounds.sync(SyncKind::round).ok());
    rounds.begin_round();
    clock.advance(1s);
    next_round();
    next_round();
    poll_for(12);
    EXPECT_GT(watcher.background_syncs(), 0u);
    rounds.finish_migration();
    EXPECT_EQ(watcher.tick(), D::done);

    // A new migration: counters and the remembered round start from zero, so
    // its round 1 is skipped again even though the last one ended at round 3.
    const auto started = std::chrono::steady_clock::now();
    watcher.start();
    watcher.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 900ms) << "stop() waited out the 1 s poll";
    EXPECT_EQ(watcher.background_syncs(), 0u);
    rounds.start_migration();
    EXPECT_EQ(rounds.syncs(SyncKind::background), 0u);
    ASSERT_TRUE(rounds.sync(SyncKind::round).ok());
    rounds.begin_round();
    for (D d : poll_for(10)) EXPECT_EQ(d, D::first_round);
}

TEST_F(WatcherTest, ThreadStopsAtOnceEvenMidWait) {
    // An hour's poll: only a stop() that wakes the thread returns in time.
    EXPECT_TRUE(stops_within(std::make_unique<Watcher>(rounds, WatcherOptions{.poll = std::chrono::hours(1)}), 5s));
}

}  // namespace

// --- the periodic trigger (QEMU 9.2's timer in migration/cpu-throttle.c) ------------

namespace {

// A migration whose round 2 starts at 2 s and then runs long, polled every
// second for 20 s; the seconds at which `trigger` synced in the background.
std::vector<int> background_sync_seconds(SyncTrigger trigger, std::chrono::seconds round_every = 1000s) {
    Tracker tracker;
    ManualClock clock;
    (void)tracker.add_region(Region{.name = "ram", .page_count = 1 << 20});
    tracker.add_source(std::make_unique<BusySource>());
    Rounds rounds{tracker, clock};
    Watcher watcher{rounds, WatcherOptions{.poll = 1s, .threshold = 5s, .trigger = trigger}};
    rounds.start_migration();
    EXPECT_TRUE(rounds.sync(SyncKind::round).ok());
    rounds.begin_round();
    std::vector<int> at;
    auto next_round = [&] {
        rounds.end_round();
        EXPECT_TRUE(rounds.sync(SyncKind::round).ok());
        rounds.begin_round();
    };
    for (int s = 1; s <= 20; ++s) {
        clock.advance(1s);
        if (s == 2 || (s > 2 && (s - 2) % round_every.count() == 0)) next_round();
        if (watcher.tick() == D::background_sync) at.push_back(s);
    }
    EXPECT_EQ(rounds.syncs(SyncKind::background), at.size());
    return at;
}

}  // namespace

TEST(WatcherPeriodicTrigger, SyncsOnTheTimersGridWhereTheRoundTimeTriggerCountsFromTheLastSync) {
    // Round 2's sync at 2 s: the round-time trigger syncs 5 s after each sync
    // (7, 12, 17); the timer ticks at 5, 10, 15, 20, skips the tick at 5 (a
    // round sync since the tick at 0), then syncs at every tick.
    EXPECT_EQ(background_sync_seconds(SyncTrigger::round_time), (std::vector<int>{7, 12, 17}));
    EXPECT_EQ(background_sync_seconds(SyncTrigger::periodic), (std::vector<int>{10, 15, 20}));
}

TEST(WatcherPeriodicTrigger, SkipsEachTickAfterWhichARoundEnded) {
    // Rounds every 4 s: a round sync falls between any two ticks 5 s apart.
    EXPECT_EQ(background_sync_seconds(SyncTrigger::periodic, 4s), std::vector<int>{});
    // Rounds every 7 s (syncs at 2, 9, 16): only the tick at 15 had none since the one before.
    EXPECT_EQ(background_sync_seconds(SyncTrigger::periodic, 7s), (std::vector<int>{15}));
    // The round-time trigger: 5 s after each sync, until the next round's.
    EXPECT_EQ(background_sync_seconds(SyncTrigger::round_time, 7s), (std::vector<int>{7, 14}));
}

TEST(WatcherPeriodicTrigger, NeverSyncsInRoundOne) {
    Tracker tracker;
    ManualClock clock;
    (void)tracker.add_region(Region{.name = "ram", .page_count = 1 << 20});
    tracker.add_source(std::make_unique<BusySource>());
    Rounds rounds{tracker, clock};
    Watcher watcher{rounds, WatcherOptions{.poll = 1s, .threshold = 5s, .trigger = SyncTrigger::periodic}};
    rounds.start_migration();
    ASSERT_TRUE(rounds.sync(SyncKind::round).ok());
    rounds.begin_round();
    for (int s = 1; s <= 30; ++s) {
        clock.advance(1s);
        EXPECT_EQ(watcher.tick(), s % 5 ? D::between_ticks : D::first_round) << s << " s";
    }
    EXPECT_EQ(rounds.syncs(SyncKind::background), 0u);
}
