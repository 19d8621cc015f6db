// The ring protocol (DirtyRingReader) against KernelRingModel, on every
// machine: no /dev/kvm needed. The same properties on real KVM are tested in
// tests/vm/oracle_test.cpp and tests/kvm (ring_jam_test, ring_reset_signal_test).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <random>
#include <thread>

#include "dtrack/rounds.hpp"
#include "dtrack/watcher.hpp"
#include "support/model_vm.hpp"

namespace ring_model {
namespace {

const std::vector<ModelSlot> two_slots = {{.id = 0, .pages = 1536}, {.id = 1, .pages = 512}};
constexpr uint32_t small_ring = 256;  // soft-full at 192 entries

// A guest's access pattern: mostly runs of neighbouring pages (forwards and
// backwards, so the reset coalesces them into masks), some random pages.
struct Writer {
    std::mt19937_64 rng;
    uint64_t next = 0;
    int step = 1;
    void operator()(ModelVm& vm, uint32_t vcpu, const std::vector<ModelSlot>& slots) {
        const size_t slot = rng() % 4 == 0 ? 1 : 0;
        if (rng() % 16 == 0) {
            next = rng() % slots[slot].pages;
            step = rng() % 2 ? 1 : -1;
        }
        next = (next + slots[slot].pages + step) % slots[slot].pages;
        vm.write(vcpu, slot, rng() % 8 == 0 ? rng() % slots[slot].pages : next);
    }
};

void expect_epoch_exact(const EpochCheck& c, const std::string& where) {
    EXPECT_TRUE(c.harvested) << where;
    EXPECT_EQ(c.lost, 0u) << where << ": page " << c.first_lost_page << " of slot " << c.first_lost_slot
                          << " was written and not reported";
    EXPECT_EQ(c.taken, c.written) << where << ": without a jam, exactly the written pages";
}

// The oracle over many random interleavings of two vCPUs' writes, full
// exits (emptying what `reap` says), reaper passes and the consumer's
// takes, all on one thread.
void expect_every_page_written_reported(dtrack::FullExitReap reap) {
    for (uint64_t seed = 0; seed < 60; ++seed) {
        ModelVm vm(two_slots, 2, small_ring);
        vm.full_exit_reap = reap;
        std::mt19937_64 rng(seed);
        Writer writers[2] = {{std::mt19937_64(seed * 2)}, {std::mt19937_64(seed * 2 + 1)}};
        for (int epoch = 0; epoch < 12; ++epoch) {
            const int ops = int(rng() % 3000);
            for (int i = 0; i < ops; ++i) {
                const uint64_t op = rng() % 64;
                if (op == 0) vm.reader->reap();
                else writers[op % 2](vm, uint32_t(op % 2), two_slots);
            }
            expect_epoch_exact(vm.end_epoch(), "seed " + std::to_string(seed) + " epoch " + std::to_string(epoch));
        }
        const dtrack::KvmRingCounters rc = vm.reader->counters();
        ASSERT_EQ(rc.jams, 0u) << "seed " << seed;
        ASSERT_EQ(vm.full_exit_errors, 0u);
        ASSERT_EQ(vm.stuck_vcpus, 0u);
        if (::testing::Test::HasFailure()) return;
    }
}

TEST(RingModel, EveryPageWrittenSinceTheLastTakeIsReported) {
    expect_every_page_written_reported(dtrack::FullExitReap::every_ring);
}

TEST(RingModel, EveryPageWrittenIsReportedWhenAFullExitEmptiesOnlyItsOwnRing) {
    expect_every_page_written_reported(dtrack::FullExitReap::own_ring);
}

// QEMU's full exit while its dirty limit is in service: the exiting vCPU's
// ring is emptied and its pages write-protected again; another vCPU's
// entries stay in its ring and its pages stay writable, so its rewrites
// push nothing and its ring fills only with pages new to it.
TEST(RingModel, AnOwnRingFullExitLeavesTheOtherRingsAndTheirPagesAlone) {
    ModelVm vm(two_slots, 2, small_ring);
    for (uint64_t p = 0; p < 10; ++p) vm.write(1, 1, p);
    uint64_t pushed = 0;
    for (uint64_t p = 0; vm.kernel.write(0, 0, p) != WriteOutcome::ring_full; ++p) ++pushed;
    ASSERT_EQ(pushed, vm.kernel.soft_limit());
    ASSERT_TRUE(vm.reader->on_ring_full(0, dtrack::FullExitReap::own_ring));
    EXPECT_EQ(vm.kernel.writable_pages(), 10u) << "vCPU 1's pages were write-protected again at vCPU 0's exit";
    for (uint64_t p = 0; p < 10; ++p) EXPECT_EQ(vm.kernel.write(1, two_slots[1].id, p), WriteOutcome::unseen);
    EXPECT_EQ(vm.tracker.bitmap(0).count(), pushed) << "vCPU 0's pages, published at its exit";
    EXPECT_EQ(vm.tracker.bitmap(1).count(), 0u) << "vCPU 1's entries read before it filled or a sync";

    // Every ring emptied (the default) protects vCPU 1's pages too.
    ModelVm every(two_slots, 2, small_ring);
    for (uint64_t p = 0; p < 10; ++p) every.write(1, 1, p);
    for (uint64_t p = 0; every.kernel.write(0, 0, p) != WriteOutcome::ring_full; ++p) {
    }
    ASSERT_TRUE(every.reader->on_ring_full(0));
    EXPECT_EQ(every.kernel.writable_pages(), 0u);

    // Nothing is lost: the sync reads vCPU 1's ring.
    const EpochCheck c = vm.end_epoch();
    EXPECT_EQ(c.lost, 0u);
    EXPECT_EQ(c.taken, pushed + 10);
    EXPECT_EQ(vm.kernel.writable_pages(), 0u);
}

// Two vCPU threads write while a reaper thread drains; the vCPUs stop at
// each epoch's end for the oracle.
TEST(RingModel, NoPageIsLostWithAConcurrentReaper) {
    ModelVm vm(two_slots, 2, small_ring);
    std::atomic<bool> stop{false};
    std::thread reaper([&] {
        while (!stop.load()) vm.reader->reap();
    });
    uint64_t full_exits = 0;
    for (int epoch = 0; epoch < 40; ++epoch) {
        std::thread vcpus[2];
        for (uint32_t v = 0; v < 2; ++v)
            vcpus[v] = std::thread([&vm, v, epoch] {
                Writer w{std::mt19937_64(epoch * 2 + v)};
                for (int i = 0; i < 5000; ++i) w(vm, v, two_slots);
            });
        for (std::thread& t : vcpus) t.join();
        expect_epoch_exact(vm.end_epoch(), "epoch " + std::to_string(epoch));
        if (::testing::Test::HasFailure()) break;
    }
    stop = true;
    reaper.join();
    const dtrack::KvmRingCounters rc = vm.reader->counters();
    full_exits = rc.full_exits;
    std::printf("  %llu reaper passes, %llu full exits\n", (unsigned long long)rc.reaper_passes,
                (unsigned long long)full_exits);
    EXPECT_EQ(rc.jams, 0u);
    EXPECT_EQ(vm.full_exit_errors, 0u);
    EXPECT_EQ(vm.stuck_vcpus, 0u);
}

// A full exit that a reaper pass beats to the ring: the vCPU thread finds
// nothing to read because the reaper read it, not because the kernel's index
// ran ahead of the reader's. That is no jam: nothing re-armed, nothing marked
// without evidence, no full re-send. A resync there scans the rings of
// running vCPUs, where a push landing mid-scan, or (deterministic here) the
// first push after an overflow, looks like a gap.
TEST(RingModel, AFullExitTheReaperEmptiedFirstIsNotAJam) {
    ModelVm* model = nullptr;
    bool push_before_reset = false;
    dtrack::KvmRingOptions options{.before_reset = [&] {
        // vCPU 1 runs on while vCPU 0's thread empties the rings.
        if (std::exchange(push_before_reset, false)) model->kernel.write(1, 1, 7);
    }};
    ModelVm vm(two_slots, 2, small_ring, options);
    model = &vm;
    // vCPU 1 overflows its ring under the emulator: one jam, handled.
    for (uint64_t p = 0; p < 300; ++p) vm.write(1, 0, p, /*emulated=*/true);
    ASSERT_EQ(vm.end_epoch().taken, vm.total_pages());
    ASSERT_EQ(vm.reader->counters().jams, 1u);
    const uint64_t rearms = vm.rearm_calls;

    // vCPU 0 runs until its ring is soft-full: KVM_EXIT_DIRTY_RING_FULL.
    uint64_t pushed = 0;
    for (uint64_t p = 400; vm.kernel.write(0, 0, p) != WriteOutcome::ring_full; ++p) ++pushed;
    ASSERT_EQ(pushed, vm.kernel.soft_limit());
    vm.reader->reap();  // the reaper gets there before the vCPU thread
    push_before_reset = true;
    ASSERT_TRUE(vm.reader->on_ring_full(0));

    const EpochCheck c = vm.end_epoch();
    ASSERT_TRUE(c.harvested);
    EXPECT_EQ(vm.reader->counters().jams, 1u) << "a full exit raced by the reaper was taken for a jam";
    EXPECT_EQ(vm.rearm_calls, rearms);
    EXPECT_EQ(c.report.overapproximated, 0u) << "memory marked dirty without evidence: a full re-send";
    EXPECT_EQ(c.report.lost, 0u);
    EXPECT_EQ(c.taken, pushed + 1) << "exactly vCPU 0's pages and vCPU 1's one";
    EXPECT_EQ(vm.kernel.writable_pages(), 0u);
    // And the vCPU runs on.
    for (uint64_t p = 0; p < 3 * small_ring; ++p) vm.write(0, 1, p % two_slots[1].pages);
    expect_epoch_exact(vm.end_epoch(), "after the raced exit");
    EXPECT_EQ(vm.stuck_vcpus, 0u);
}

// Invariant 2: a page reaches the bitmap, where a consumer may take it and
// read its contents, only after the reset write-protected it again.
TEST(RingModel, PagesReachTheBitmapOnlyAfterTheReset) {
    ModelVm* model = nullptr;
    uint64_t resets_seen = 0, dirty_before_reset = 0, writable_before_reset = 0;
    dtrack::KvmRingOptions options{.before_reset = [&] {
        if (!model) return;
        ++resets_seen;
        for (dtrack::RegionId id = 0; id < model->tracker.region_count(); ++id)
            dirty_before_reset += model->tracker.bitmap(id).count();
        writable_before_reset += model->kernel.writable_pages();
    }};
    ModelVm vm(two_slots, 2, small_ring, options);
    model = &vm;
    Writer w{std::mt19937_64(1)};
    for (int epoch = 0; epoch < 20; ++epoch) {
        for (int i = 0; i < 150; ++i) w(vm, epoch % 2, two_slots);  // below the soft limit: no full exit
        const EpochCheck c = vm.end_epoch();                        // takes all: the bitmaps start empty
        expect_epoch_exact(c, "epoch " + std::to_string(epoch));
        EXPECT_GT(c.taken, 0u);
        EXPECT_EQ(vm.kernel.writable_pages(), 0u) << "after the harvest every page is protected again";
    }
    EXPECT_EQ(resets_seen, 20u);
    EXPECT_GT(writable_before_reset, 0u) << "the hook ran while the harvested pages were still writable";
    EXPECT_EQ(dirty_before_reset, 0u) << "pages were published before the reset re-protected them";
}

// The emulator pushes past the ring's end and overwrites entries never read:
// nothing tells which pages they named. The reader must notice, count it,
// re-arm, mark every slot wholly dirty, and lose nothing afterwards.
TEST(RingModel, AnOverflowIsDetectedCountedMarkedWhollyDirtyAndReArmed) {
    ModelVm vm(two_slots, 2, small_ring);
    // 300 pushes: 44 past the ring's end (more than size + soft limit in all
    // stalls the vCPU, see DISABLED_AnOverflowOfMoreThanSizePlusSoftLimit...).
    for (uint64_t p = 0; p < 300; ++p) vm.write(0, 0, (p * 7) % 1536, /*emulated=*/true);
    ASSERT_GT(vm.kernel.overwritten(), 0u) << "the model did not overflow";
    const EpochCheck jam = vm.end_epoch();
    ASSERT_TRUE(jam.harvested);
    EXPECT_EQ(jam.lost, 0u);
    EXPECT_EQ(jam.taken, vm.total_pages()) << "a jam must mark every page of every slot dirty";
    EXPECT_GE(jam.report.lost, 1u);
    const dtrack::KvmRingCounters rc = vm.reader->counters();
    EXPECT_GE(rc.jams, 1u);
    EXPECT_EQ(rc.rearms, rc.jams) << "every jam must write-protect the memory again";
    EXPECT_EQ(vm.rearm_calls, rc.rearms);
    EXPECT_FALSE(rc.blind);
    EXPECT_EQ(vm.kernel.writable_pages(), 0u) << "the re-arm left pages writable";
    // Afterwards: in step again, exact, nothing lost.
    Writer w{std::mt19937_64(5)};
    for (int epoch = 0; epoch < 10; ++epoch) {
        for (int i = 0; i < 2000; ++i) w(vm, epoch % 2, two_slots);
        expect_epoch_exact(vm.end_epoch(), "epoch " + std::to_string(epoch) + " after the jam");
    }
    EXPECT_EQ(vm.reader->counters().jams, rc.jams) << "one overflow, one jam";
    EXPECT_EQ(vm.stuck_vcpus, 0u);
}

// Known gap: when the emulator pushes size + soft limit entries or more past
// the last reset (here 3 laps), one lap of resets leaves the kernel's count
// of used entries at or above the soft limit with every entry already
// cleared: the vCPU exits full for ever, and the reader finds nothing to read
// or resync. Recovering means flagging cleared entries so the kernel's reset
// index walks on, without ever walking past its push index.
TEST(RingModel, DISABLED_AnOverflowOfMoreThanSizePlusSoftLimitStillLetsTheVcpuRun) {
    ModelVm vm(two_slots, 1, small_ring);
    for (uint64_t p = 0; p < 3 * small_ring; ++p) vm.write(0, 0, (p * 7) % 1536, /*emulated=*/true);
    vm.end_epoch();
    for (uint64_t p = 0; p < 10; ++p) vm.write(0, 1, p);
    EXPECT_EQ(vm.stuck_vcpus, 0u) << "the vCPU cannot run again";
    EXPECT_EQ(vm.end_epoch().lost, 0u);
}

// A reset cut short (6.18 bails out between entries on a pending signal)
// leaves the mask it was gathering writable: the reader must finish the
// reset, handle it as a jam (re-arm, mark everything) and lose nothing.
// Two vCPUs of 150 entries each; the reset stops after `cut` entries.
void expect_cut_reset_handled_as_a_jam(uint64_t cut) {
    ModelVm vm(two_slots, 2, small_ring);
    const uint64_t per_vcpu = 150;
    for (uint32_t v = 0; v < 2; ++v)
        for (uint64_t p = 0; p < per_vcpu; ++p) vm.write(v, 0, v * 500 + p);
    vm.kernel.cut_next_reset_after(cut);
    const EpochCheck first = vm.end_epoch();
    ASSERT_TRUE(first.harvested);
    EXPECT_EQ(first.lost, 0u);
    ASSERT_EQ(vm.kernel.cut_resets(), 1u) << "the model did not cut the reset";
    const dtrack::KvmRingCounters rc = vm.reader->counters();
    EXPECT_EQ(rc.jams, 1u) << "a reset cut short after " << cut << " entries must be handled as a jam";
    EXPECT_EQ(rc.rearms, 1u);
    EXPECT_EQ(first.taken, vm.total_pages());
    EXPECT_EQ(vm.kernel.writable_pages(), 0u) << "pages left writable by the cut reset";
    // The same pages again: every write must be seen.
    for (uint32_t v = 0; v < 2; ++v)
        for (uint64_t p = 0; p < per_vcpu; ++p) vm.write(v, 0, v * 500 + p);
    expect_epoch_exact(vm.end_epoch(), "after the cut reset");
}

// Cut before the first entry, inside a mask, at a mask's edge, at the end of
// the first ring, and before the very last entry.
class RingModelCut : public ::testing::TestWithParam<int> {};

TEST_P(RingModelCut, AResetCutShortIsFinishedAndHandledAsAJam) { expect_cut_reset_handled_as_a_jam(GetParam()); }

INSTANTIATE_TEST_SUITE_P(RingModelCutPoints, RingModelCut, ::testing::Values(0, 1, 64, 70, 150, 299),
                         [](const ::testing::TestParamInfo<int>& i) {
                             return "After" + std::to_string(i.param) + "Entries";
                         });

// 6.18 checks for a signal before each entry, so it can bail out right after
// the last flagged entry. The count is then whole and no entry is left
// flagged, yet the last mask (up to 64 pages) was never re-protected; nothing
// in the ring or the count shows it. With catchable signals held back only a
// stop (SIGSTOP, the freezer, ptrace) can do it, and the kernel side reports
// that the thread was stopped during the call (KvmDirtyRings: a voluntary
// context switch across the ioctl), which the reader treats as a cut.
TEST(RingModel, AResetCutRightAfterItsLastEntryIsHandledAsAJam) { expect_cut_reset_handled_as_a_jam(300); }

// Faults at random: resets cut short at random points and emulator bursts,
// between ordinary writes, reaper passes and takes. Never a page lost.
TEST(RingModel, NoPageIsLostUnderRandomCutResetsAndOverflows) {
    for (uint64_t seed = 0; seed < 30; ++seed) {
        ModelVm vm(two_slots, 2, small_ring);
        std::mt19937_64 rng(seed + 1000);
        Writer writers[2] = {{std::mt19937_64(seed * 2)}, {std::mt19937_64(seed * 2 + 1)}};
        for (int epoch = 0; epoch < 10; ++epoch) {
            const int ops = int(rng() % 3000);
            for (int i = 0; i < ops; ++i) {
                const uint64_t op = rng() % 256;
                if (op < 4) vm.reader->reap();
                else if (op == 4) vm.kernel.cut_next_reset_after(rng() % 400);
                else if (op == 5) {
                    // An emulator burst of up to 200 pushes, then a reaper
                    // pass: the overflow stays below size + soft limit.
                    for (int b = 0; b < 200; ++b) vm.write(0, 0, rng() % 1536, /*emulated=*/true);
                    vm.reader->reap();
                } else writers[op % 2](vm, uint32_t(op % 2), two_slots);
            }
            const EpochCheck c = vm.end_epoch();
            ASSERT_TRUE(c.harvested);
            ASSERT_EQ(c.lost, 0u) << "seed " << seed << " epoch " << epoch << ": page " << c.first_lost_page
                                  << " of slot " << c.first_lost_slot << " lost";
        }
        const dtrack::KvmRingCounters rc = vm.reader->counters();
        EXPECT_EQ(rc.rearms, rc.jams) << "seed " << seed;
        EXPECT_EQ(vm.stuck_vcpus, 0u) << "seed " << seed;
    }
}

// --- errors nobody can drop ---------------------------------------------------

// The model, with a reset that fails when told to (the ioctl's error).
class FailingResets final : public dtrack::DirtyRingKernel {
public:
    explicit FailingResets(KernelRingModel& model) : model_(model) {}
    dtrack::Result<dtrack::RingResetResult> reset() override {
        if (std::exchange(fail_next, false)) return dtrack::errno_error("KVM_RESET_DIRTY_RINGS", EIO);
        return model_.reset();
    }
    bool fail_next = false;

private:
    KernelRingModel& model_;
};

// The reader as the tracker's source, as KvmRingSource wraps it.
class ReaderSource final : public dtrack::Source {
public:
    explicit ReaderSource(dtrack::DirtyRingReader& reader) : reader_(reader) {}
    std::string name() const override { return "ring-model"; }
    dtrack::Result<dtrack::HarvestReport> harvest(dtrack::Tracker&) override { return reader_.harvest(); }

private:
    dtrack::DirtyRingReader& reader_;
};

// A reaper pass that fails hands its error to the next harvest, whichever
// sync that is. When it is the watcher's background sync, the migration's
// next round sync must still see the error.
TEST(RingModel, AReaperErrorReachesTheRoundSyncEvenIfTheWatchersSyncMetItFirst) {
    using namespace std::chrono_literals;
    KernelRingModel kernel(two_slots, 1, small_ring);
    FailingResets failing(kernel);
    dtrack::Tracker tracker;
    for (const ModelSlot& s : two_slots) ASSERT_TRUE(tracker.add_region({.slot = s.id, .page_count = s.pages}).ok());
    dtrack::DirtyRingReader reader(failing, tracker, {});
    reader.add_ring(kernel.ring(0));
    tracker.add_source(std::make_unique<ReaderSource>(reader));
    dtrack::ManualClock clock;
    dtrack::Rounds rounds(tracker, clock);
    dtrack::Watcher watcher(rounds, {.poll = 1s, .threshold = 5s});
    rounds.start_migration();
    for (int round = 1; round <= 2; ++round) {  // into round 2, where the watcher may sync
        ASSERT_TRUE(rounds.sync(dtrack::SyncKind::round).ok());
        rounds.begin_round();
        clock.advance(1s);
        ASSERT_EQ(watcher.tick(),
                  round == 1 ? dtrack::Watcher::Decision::first_round : dtrack::Watcher::Decision::round_moved);
        rounds.end_round();
    }
    kernel.write(0, 0, 1);
    failing.fail_next = true;
    reader.reap();  // fails: the error waits for the next harvest

    clock.advance(5s);
    ASSERT_EQ(watcher.tick(), dtrack::Watcher::Decision::background_sync);
    EXPECT_EQ(watcher.failed_syncs(), 1u) << "the watcher dropped its sync's report";
    ASSERT_TRUE(watcher.last_error().has_value());
    EXPECT_NE(watcher.last_error()->what.find("KVM_RESET_DIRTY_RINGS"), std::string::npos);

    const dtrack::SyncReport round = rounds.sync(dtrack::SyncKind::round);
    ASSERT_EQ(round.errors.size(), 1u) << "the watcher's sync consumed the reaper's error: the migration never saw it";
    EXPECT_NE(round.errors[0].what.find("KVM_RESET_DIRTY_RINGS"), std::string::npos) << round.errors[0].what;
    EXPECT_TRUE(rounds.sync(dtrack::SyncKind::round).ok()) << "reported once per kind of reader";
    EXPECT_EQ(tracker.counters().sources[0].failures, 1u) << "one failure, counted once";
}

// A jam whose re-arm fails: every later harvest marks everything (blind),
// and the VMM hears why instead of the error being dropped.
TEST(RingModel, AFailedRearmIsReportedAndLeavesTheReaderBlind) {
    dtrack::KvmRingOptions options{
        .rearm = [] { return dtrack::Status(dtrack::errno_error("KVM_SET_USER_MEMORY_REGION", EINVAL)); }};
    ModelVm vm(two_slots, 1, small_ring, options);
    for (uint64_t p = 0; p < 300; ++p) vm.write(0, 0, p, /*emulated=*/true);
    auto failed = vm.reader->harvest();
    ASSERT_FALSE(failed.ok()) << "the re-arm's error was dropped";
    EXPECT_NE(failed.error().what.find("re-arming"), std::string::npos) << failed.error().what;
    EXPECT_NE(failed.error().what.find("KVM_SET_USER_MEMORY_REGION"), std::string::npos) << failed.error().what;
    EXPECT_TRUE(vm.reader->counters().blind);
    EXPECT_EQ(vm.reader->counters().rearms, 0u);
    const EpochCheck c = vm.end_epoch();  // the next harvest hands out what was published
    ASSERT_TRUE(c.harvested);
    EXPECT_EQ(c.lost, 0u);
    EXPECT_EQ(c.taken, vm.total_pages());
    EXPECT_EQ(c.report.lost, 1u) << "the jam";
}

// --- what the counters and reports say -------------------------------------

TEST(RingModel, AJamCountsOneLostEventAndTheOverApproximatedPages) {
    ModelVm vm(two_slots, 1, small_ring);
    for (uint64_t p = 0; p < 10; ++p) vm.write(0, 1, p);
    vm.end_epoch();
    for (uint64_t p = 0; p < 300; ++p) vm.write(0, 0, p, /*emulated=*/true);
    const EpochCheck c = vm.end_epoch();
    ASSERT_TRUE(c.harvested);
    EXPECT_EQ(c.report.lost, 1u) << "one event per jam";
    // Pages in the ring were marked with evidence; the rest of both slots without.
    EXPECT_EQ(c.report.overapproximated + c.report.pages, vm.total_pages());
    EXPECT_EQ(c.report.new_dirty, vm.total_pages());
    const dtrack::KvmRingCounters rc = vm.reader->counters();
    EXPECT_EQ(rc.jams, 1u);
    EXPECT_EQ(rc.rearms, 1u);
    EXPECT_EQ(rc.short_resets, 0u);
    // The next harvest reports no loss and nothing marked without evidence.
    for (uint64_t p = 0; p < 10; ++p) vm.write(0, 0, p);
    const EpochCheck after = vm.end_epoch();
    EXPECT_EQ(after.report.lost, 0u);
    EXPECT_EQ(after.report.overapproximated, 0u);
    EXPECT_EQ(after.report.pages, 10u);
}

TEST(RingModel, ACutResetIsCountedAsShortAndAsAJam) {
    ModelVm vm(two_slots, 1, small_ring);
    for (uint64_t p = 0; p < 100; ++p) vm.write(0, 0, p);
    vm.kernel.cut_next_reset_after(70);
    const EpochCheck c = vm.end_epoch();
    const dtrack::KvmRingCounters rc = vm.reader->counters();
    EXPECT_GE(rc.short_resets, 1u);
    EXPECT_EQ(rc.entries_reset, 100u) << "the reset was finished";
    EXPECT_EQ(rc.jams, 1u);
    EXPECT_EQ(c.report.lost, 1u);
    EXPECT_EQ(c.report.pages, 100u);
}

TEST(RingModel, WithoutARearmEveryLaterHarvestMarksEverything) {
    ModelVm vm(two_slots, 1, small_ring, {}, /*with_rearm=*/false);
    for (uint64_t p = 0; p < 300; ++p) vm.write(0, 0, p, /*emulated=*/true);
    EXPECT_EQ(vm.end_epoch().taken, vm.total_pages());
    const dtrack::KvmRingCounters rc = vm.reader->counters();
    EXPECT_EQ(rc.jams, 1u);
    EXPECT_EQ(rc.rearms, 0u);
    EXPECT_TRUE(rc.blind);
    for (int epoch = 0; epoch < 3; ++epoch) {
        vm.write(0, 0, 1000 + epoch);  // the overwritten pages stay writable: writes to them push nothing
        const EpochCheck c = vm.end_epoch();
        EXPECT_EQ(c.lost, 0u);
        EXPECT_EQ(c.taken, vm.total_pages()) << "blind: every harvest marks every slot";
        EXPECT_EQ(c.report.lost, 0u) << "the jam was counted once";
    }
}

TEST(RingModel, AnEntryOutsideEveryRegionIsCountedLostAndCoveredByMarkingEverything) {
    // The model has a slot the tracker does not: its entries cannot be placed.
    KernelRingModel kernel({{.id = 0, .pages = 128}, {.id = 9, .pages = 64}}, 1, small_ring);
    dtrack::Tracker tracker;
    tracker.add_region({.name = "slot 0", .slot = 0, .page_count = 128}).value();
    dtrack::DirtyRingReader reader(kernel, tracker, {});
    reader.add_ring(kernel.ring(0));
    kernel.write(0, 0, 5);
    kernel.write(0, 9, 1);
    kernel.write(0, 9, 2);
    auto r = reader.harvest();
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->lost, 2u) << "one per entry that names no tracked page";
    EXPECT_EQ(r->pages, 1u);
    EXPECT_EQ(tracker.bitmap(0).count(), 128u) << "covered by marking every slot once";
    EXPECT_EQ(r->overapproximated, 127u);
    EXPECT_EQ(reader.counters().jams, 0u) << "not a jam: the ring is in step";
}

}  // namespace
}  // namespace ring_model
