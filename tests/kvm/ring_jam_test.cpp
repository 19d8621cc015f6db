// A dirty ring that overflows must not lose pages. On this PVM host a guest
// under KVM's instruction emulator can push more entries in one KVM_RUN than
// the ring holds (docs/ARCHITECTURE.md §6); the ring then jams. KvmRingSource must notice,
// mark the slots wholly dirty, re-synchronize and let the guest go on.
#include <gtest/gtest.h>

#include <unistd.h>

#include <thread>

#include "dtrack/bpf_source.hpp"
#include "support/backends.hpp"
#include "dtvm/tracking/oracle.hpp"
#include "dtvm/vm/kvm_vm.hpp"

namespace {

TEST(RingJam, OverflowIsDetectedAndOverApproximated) {
    DTRACK_REQUIRE_KVM();
    if (!dtvm::host_is_pvm())
        GTEST_SKIP() << "the overflow needs KVM's emulator to run the guest; this host runs it natively";

    // Smallest ring, no reaper, and a guest that almost never exits: the
    // emulator runs batches of instructions past the ring's soft limit.
    dtvm::VmOptions vm{.mem_bytes = 24ULL << 20, .slots = 2, .vcpus = 1, .emulated = true};
    auto tracking = dtvm::Tracking::create(vm, {.mode = dtvm::TrackMode::ring, .ring_entries = 256, .reaper = false});
    ASSERT_TRUE(tracking.ok()) << tracking.error().message();
    dtvm::Vm& v = tracking.value()->vm();
    const uint64_t wss = 4096;
    ASSERT_TRUE(v.start({.pattern = dtvm::Pattern::sequential, .wss_pages = wss, .exit_every = 1u << 30}).ok());

    uint64_t jam_epochs = 0, writes_after_first_jam = 0, writes_at_first_jam = 0;
    for (int e = 0; e < 12; ++e) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        ASSERT_EQ(v.failure(), "");
        const uint64_t jams_before = tracking.value()->ring()->ring_counters().jams;
        auto r = dtvm::check_epoch(*tracking.value(), wss);
        ASSERT_TRUE(r.ok()) << r.error().message();
        const uint64_t jams = tracking.value()->ring()->ring_counters().jams;
        EXPECT_EQ(r->lost, 0u) << "epoch " << r->epoch << " lost " << r->lost << " pages (jams so far: " << jams << ")";
        if (jams > jams_before) {
            ++jam_epochs;
            // Over-approximation: the whole of every slot was reported.
            EXPECT_EQ(r->taken, v.workload_first_page() + v.workload_max_pages())
                << "a jam must mark every page of every slot dirty";
        }
        if (jams && !writes_at_first_jam) writes_at_first_jam = v.stats(0).writes;
        if (writes_at_first_jam) writes_after_first_jam = v.stats(0).writes - writes_at_first_jam;
    }
    const dtrack::KvmRingCounters rc = tracking.value()->ring()->ring_counters();
    std::printf("  %llu jams recovered in %llu epochs, %llu full exits, %llu guest writes after the first jam\n",
                (unsigned long long)rc.jams, (unsigned long long)jam_epochs, (unsigned long long)rc.full_exits,
                (unsigned long long)writes_after_first_jam);
    EXPECT_GE(rc.jams, 1u) << "the test did not provoke an overflow";
    EXPECT_EQ(rc.rearms, rc.jams) << "every jam must write-protect the memory again";
    EXPECT_FALSE(rc.blind);
    EXPECT_GT(writes_after_first_jam, 0u) << "the guest did not go on after the jam";
}

// The re-arm after a jam: pages whose ring entries were lost are never
// write-protected again. Here nothing resets the ring at all (no reaper, no
// harvest), so after its first sweep the guest's pages stay writable and it
// pushes nothing more, until rearm_dirty_logging() protects them again. The
// pushes are counted by the BPF source, which observes without resetting.
TEST(RingJam, RearmWriteProtectsPagesWhoseEntriesWereNeverReset) {
    DTRACK_REQUIRE_KVM();
    auto tracking = dtvm::Tracking::create({.mem_bytes = 16ULL << 20, .slots = 1, .vcpus = 1},
                                           {.mode = dtvm::TrackMode::ring, .ring_entries = 4096, .reaper = false});
    ASSERT_TRUE(tracking.ok()) << tracking.error().message();
    dtvm::Vm& v = tracking.value()->vm();
    dtrack::Tracker observer;
    observer.add_region({.name = "slot 0", .slot = v.slots()[0].id, .page_count = v.slots()[0].pages}).value();
    auto bpf = dtrack::BpfSource::attach(::getpid(), observer);
    ASSERT_TRUE(bpf.ok()) << bpf.error().message();
    observer.add_source(std::move(bpf.value()));
    auto pushes = [&] {
        const dtrack::SyncReport r = observer.sync();
        EXPECT_TRUE(r.ok());
        return r.pages;  // distinct pages pushed since the last look
    };

    const uint64_t wss = 256;  // far below the ring's soft limit: no full exit resets it either
    ASSERT_TRUE(v.start({.pattern = dtvm::Pattern::sequential, .wss_pages = wss, .exit_every = 64}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t first_sweep = pushes();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t without = pushes();
    v.pause();
    ASSERT_TRUE(v.kvm()->rearm_dirty_logging().ok());
    v.resume();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t with = pushes();
    std::printf("  pages pushed: %llu first sweep, %llu in 300 ms after it, %llu in 300 ms after a re-arm\n",
                (unsigned long long)first_sweep, (unsigned long long)without, (unsigned long long)with);
    EXPECT_GE(first_sweep, wss);
    EXPECT_LT(without, 8u) << "pages dirty and still writable push nothing";
    EXPECT_GE(with, wss) << "after the re-arm every page of the working set must push again";
    v.stop();
}

// Invariant 2 for the ring: a harvested page reaches the bitmap (where a
// consumer may take it and read its contents) only after
// KVM_RESET_DIRTY_RINGS write-protected it again. Before the reset, the
// bitmaps must still be empty.
TEST(RingPublish, PagesReachTheBitmapOnlyAfterTheReset) {
    DTRACK_REQUIRE_KVM();
    dtrack::Tracker* tracker = nullptr;
    uint64_t dirty_before_reset = ~0ULL;
    auto tracking = dtvm::Tracking::create({.mem_bytes = 16ULL << 20, .slots = 2, .vcpus = 2},
                                           {.mode = dtvm::TrackMode::ring, .reaper = false, .before_ring_reset = [&] {
                                                if (!tracker) return;
                                                dirty_before_reset = 0;
                                                for (dtrack::RegionId id = 0; id < tracker->region_count(); ++id)
                                                    dirty_before_reset += tracker->bitmap(id).count();
                                            }});
    ASSERT_TRUE(tracking.ok()) << tracking.error().message();
    dtvm::Vm& v = tracking.value()->vm();
    ASSERT_TRUE(v.start({.pattern = dtvm::Pattern::random, .wss_pages = 1024, .exit_every = 64}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    v.pause();
    tracker = &tracking.value()->tracker();
    const dtrack::SyncReport r = tracker->sync();
    ASSERT_TRUE(r.ok());
    uint64_t dirty_after = 0;
    for (dtrack::RegionId id = 0; id < tracker->region_count(); ++id) dirty_after += tracker->bitmap(id).count();
    EXPECT_GT(r.pages, 0u);
    EXPECT_GT(dirty_after, 0u);
    EXPECT_EQ(dirty_before_reset, 0u) << "pages were published before KVM_RESET_DIRTY_RINGS re-protected them";
    tracker = nullptr;
    v.stop();
}

}  // namespace
