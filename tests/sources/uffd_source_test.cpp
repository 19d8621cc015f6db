// UffdSource on memory of the test itself: exactly the pages written, only
// the new ones after re-protection, first writes to untouched pages, and no
// page lost while threads write during harvests (the write-stamp oracle).
#include <gtest/gtest.h>

#include "support/as_nobody.hpp"
#include "support/anon_buffer.hpp"
#include "support/dirty_pages.hpp"
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "dtrack/process_memory.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/uffd_source.hpp"

using namespace dtrack;

namespace {

using dtrack_test::random_pages;
using dtrack_test::take_dirty;

constexpr uint64_t page_size = 4096;

using Buffer = dtrack_test::AnonBuffer;
using dtrack_test::region_of;

TEST(UffdSource, ReportsExactlyTheWrittenPagesThenOnlyNewOnes) {
    Buffer buf(4096);
    ASSERT_NE(buf.base, nullptr);
    std::memset(buf.base, 0, buf.pages * page_size);  // every page present before tracking
    Tracker tracker;
    const RegionId id = tracker.add_region(region_of(buf)).value();
    UFFD_TRACK_OR_SKIP(source, tracker, id);
    UffdSource& uffd = static_cast<UffdSource&>(tracker.add_source(std::move(*source)));

    SyncReport quiet = tracker.sync();
    ASSERT_TRUE(quiet.ok()) << quiet.errors[0].message();
    EXPECT_EQ(quiet.pages, 0u) << "nothing was written since track()";
    EXPECT_FALSE(quiet.estimate);

    std::mt19937_64 rng(std::random_device{}());
    for (int round = 0; round < 3; ++round) {
        const std::set<uint64_t> written = random_pages(rng, buf.pages, 50 + rng() % 400);
        for (uint64_t p : written) buf.write(p, char(round + 2));
        const SyncReport r = tracker.sync();
        ASSERT_TRUE(r.ok()) << r.errors[0].message();
        EXPECT_EQ(r.pages, written.size());
        EXPECT_FALSE(r.estimate) << "UffdSource is exact";
        EXPECT_EQ(take_dirty(tracker, id), written) << "round " << round;
    }
    // Harvesting re-protected everything: a write to an already reported page counts again.
    buf.write(7, 9);
    EXPECT_EQ(tracker.sync().pages, 1u);
    EXPECT_EQ(take_dirty(tracker, id), std::set<uint64_t>{7});
    EXPECT_GE(uffd.scan_calls(), 5u);
    EXPECT_FALSE(uffd.opened_with().empty());
}

// From outside, the kernel shows which memory a process arms for
// write-protection (VmFlags uw): exactly what UffdSource tracks, and not a
// buffer beside it (ThreadWriteFaults counts a thread's faults there only).
TEST(UffdSource, WriteProtectedRangesFindItsMemoryFromOutside) {
    Buffer tracked(64), beside(64);
    ASSERT_NE(tracked.base, nullptr);
    ASSERT_NE(beside.base, nullptr);
    const auto holds = [](const std::vector<AddressRange>& ranges, const Buffer& b) {
        return std::count_if(ranges.begin(), ranges.end(), [&](const AddressRange& r) {
            return r.begin <= b.address() && b.address() + b.pages * page_size <= r.end;
        });
    };
    auto before = write_protected_ranges(::getpid());
    ASSERT_TRUE(before.ok()) << before.error().message();
    EXPECT_EQ(holds(*before, tracked), 0);
    Tracker tracker;
    const RegionId id = tracker.add_region(region_of(tracked)).value();
    UFFD_TRACK_OR_SKIP(source, tracker, id);
    tracker.add_source(std::move(*source));
    auto after = write_protected_ranges(::getpid());
    ASSERT_TRUE(after.ok()) << after.error().message();
    EXPECT_EQ(holds(*after, tracked), 1) << "the tracked buffer, armed for write-protection";
    EXPECT_EQ(holds(*after, beside), 0) << "the buffer beside it is not";
}

TEST(UffdSource, ScatteredWritesOverflowTheScanVectorAndAreAllFound) {
    // Every other page written: 4096 separate runs, more than one
    // PAGEMAP_SCAN call can return, so the harvest goes on from walk_end.
    Buffer buf(8192);
    ASSERT_NE(buf.base, nullptr);
    std::memset(buf.base, 0, buf.pages * page_size);
    Tracker tracker;
    const RegionId id = tracker.add_region(region_of(buf)).value();
    UFFD_TRACK_OR_SKIP(source, tracker, id);
    UffdSource& uffd = static_cast<UffdSource&>(tracker.add_source(std::move(*source)));
    std::set<uint64_t> written;
    for (uint64_t p = 0; p < buf.pages; p += 2) buf.write(p), written.insert(p);
    const uint64_t calls_before = uffd.scan_calls();
    const SyncReport r = tracker.sync();
    ASSERT_TRUE(r.ok()) << r.errors[0].message();
    EXPECT_GE(uffd.scan_calls() - calls_before, 4u) << "expected the output vector to fill up";
    EXPECT_EQ(take_dirty(tracker, id), written);
}

TEST(UffdSource, CatchesFirstWritesToUntouchedPages) {
    Buffer buf(2048);  // never touched before tracking: no page is populated
    ASSERT_NE(buf.base, nullptr);
    Tracker tracker;
    const RegionId id = tracker.add_region(region_of(buf)).value();
    UFFD_TRACK_OR_SKIP(source, tracker, id);
    UffdSource& uffd = static_cast<UffdSource&>(tracker.add_source(std::move(*source)));

    std::mt19937_64 rng(std::random_device{}());
    const std::set<uint64_t> written = random_pages(rng, buf.pages, 300);
    // Reading untouched pages maps the zero page: not a write.
    uint64_t sum = 0;
    for (uint64_t p = 1; p < buf.pages; p += 3)
        if (!written.count(p)) sum += *reinterpret_cast<volatile char*>(buf.page(p));
    EXPECT_EQ(sum, 0u);
    for (uint64_t p : written) buf.write(p);
    ASSERT_TRUE(tracker.sync().ok());
    const std::set<uint64_t> dirty = take_dirty(tracker, id);
    if (uffd.protects_unpopulated()) {
        EXPECT_EQ(dirty, written);
    } else {
        // Without WP_UNPOPULATED a page first read after track() looks written
        // (over-reported), but a written one is never missed.
        for (uint64_t p : written) EXPECT_TRUE(dirty.count(p)) << "page " << p;
    }
    // Those pages are now populated and protected: the next write is caught too.
    buf.write(*written.begin(), 5);
    ASSERT_TRUE(tracker.sync().ok());
    EXPECT_EQ(take_dirty(tracker, id), std::set<uint64_t>{*written.begin()});
}

TEST(UffdSource, CatchesWritesByTheKernel) {
    // read(2) into the buffer: the kernel writes it, through the same fault path.
    Buffer buf(64);
    ASSERT_NE(buf.base, nullptr);
    std::memset(buf.base, 0, buf.pages * page_size);
    Tracker tracker;
    const RegionId id = tracker.add_region(region_of(buf)).value();
    UFFD_TRACK_OR_SKIP(source, tracker, id);
    tracker.add_source(std::move(*source));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ASSERT_EQ(::write(fds[1], "written by the kernel", 21), 21);
    EXPECT_EQ(::read(fds[0], buf.page(40), 21), 21);
    ::close(fds[0]);
    ::close(fds[1]);
    ASSERT_TRUE(tracker.sync().ok());
    EXPECT_EQ(take_dirty(tracker, id), std::set<uint64_t>{40});
}

TEST(UffdSource, WorksForAnUnprivilegedUser) {
    // vm.unprivileged_userfaultfd=0 refuses a plain userfaultfd to non-root;
    // UFFD_USER_MODE_ONLY is enough for write tracking, kernel writes included.
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
    const auto result = dtrack_test::run_as_nobody([&] {
        std::string text;
        Buffer buf(32);
        Tracker tracker;
        const RegionId id = tracker.add_region(region_of(buf)).value();
        // Changing uid made this process non-dumpable, unlike one a user
        // starts: its /proc/self/pagemap belongs to root. The error says so.
        auto refused = UffdSource::track(tracker, id);
        if (!refused) text = "not dumpable: " + refused.error().message() + "\n";
        ::prctl(PR_SET_DUMPABLE, 1);
        auto source = UffdSource::track(tracker, id);
        if (!source) {
            text += "track: " + source.error().message();
        } else {
            text += "opened with " + (*source)->opened_with();
            tracker.add_source(std::move(*source));
            buf.write(3);
            int fds[2];
            if (::pipe(fds) == 0 && ::write(fds[1], "k", 1) == 1 && ::read(fds[0], buf.page(9), 1) == 1) {
                const SyncReport r = tracker.sync();
                std::string pages;
                tracker.bitmap(id).for_each_page([&](uint64_t p) { pages += " " + std::to_string(p); });
                text += r.ok() ? "; dirty:" + pages : "; sync: " + r.errors[0].message();
            } else {
                text += "; read(2) into the buffer failed";
            }
        }
        return text;
    });
    ASSERT_TRUE(result) << "the child could not become nobody";
    const std::string& text = *result;
    std::printf("  as nobody: %s\n", text.c_str());
    if (text.find("WP_ASYNC") != std::string::npos) GTEST_SKIP() << text;
    EXPECT_NE(text.find("not dumpable: cannot open /proc/self/pagemap"), std::string::npos) << text;
    EXPECT_NE(text.find("; dirty: 3 9"), std::string::npos) << text;
}

// Invariant 1 with threads writing while the tracker harvests. Each write
// stores the current epoch into its page; the harvester bumps the epoch after
// each harvest. A write stamped s began after harvest s-1 ended, so some
// harvest numbered s or later must report its page.
TEST(UffdSource, NoPageIsLostWhileThreadsWrite) {
    constexpr uint64_t pages = 16384;
    constexpr int writers = 2, harvests = 150;
    Buffer buf(pages);
    ASSERT_NE(buf.base, nullptr);
    std::memset(buf.base, 0, pages * page_size);
    Tracker tracker;
    const RegionId id = tracker.add_region(region_of(buf)).value();
    UFFD_TRACK_OR_SKIP(source, tracker, id);
    tracker.add_source(std::move(*source));

    auto stamp = [&](uint64_t p) { return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(buf.page(p))); };
    std::atomic<uint64_t> epoch{1};
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> writes{0};
    std::vector<std::thread> threads;
    const uint64_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    for (int t = 0; t < writers; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937_64 rng(seed + t);
            uint64_t n = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                // A burst over a few neighbouring pages, then a jump: runs and scatter.
                const uint64_t first = rng() % pages, len = 1 + rng() % 8;
                for (uint64_t p = first; p < std::min(pages, first + len); ++p, ++n)
                    stamp(p).store(epoch.load(std::memory_order_acquire), std::memory_order_relaxed);
            }
            writes += n;
        });
    }

    std::vector<uint64_t> last_report(pages, 0);  // the last harvest that reported each page
    uint64_t reported = 0;
    auto harvest = [&](uint64_t e) {
        const SyncReport r = tracker.sync();
        ASSERT_TRUE(r.ok()) << r.errors[0].message();
        for (uint64_t p : take_dirty(tracker, id)) last_report[p] = e, ++reported;
    };
    for (uint64_t e = 1; e <= harvests; ++e) {
        std::this_thread::sleep_for(std::chrono::microseconds(500 + e % 7 * 300));
        harvest(e);
        epoch.store(e + 1, std::memory_order_release);
    }
    stop = true;
    for (auto& t : threads) t.join();
    harvest(harvests + 1);  // the writes of the last epoch

    uint64_t written = 0, lost = 0, first_lost = 0;
    for (uint64_t p = 0; p < pages; ++p) {
        const uint64_t s = stamp(p).load();
        if (s == 0) continue;
        ++written;
        if (last_report[p] < s && !lost++) first_lost = p;
    }
    std::printf("  %llu writes by %d threads, %llu pages written, %llu page reports in %d harvests, %llu lost\n",
                (unsigned long long)writes.load(), writers, (unsigned long long)written, (unsigned long long)reported,
                harvests + 1, (unsigned long long)lost);
    EXPECT_EQ(lost, 0u) << "first lost page " << first_lost << " stamped " << stamp(first_lost).load()
                        << ", last reported by harvest " << last_report[first_lost];
    EXPECT_GT(written, pages / 2) << "the writers barely ran: the check proves little";
}

TEST(UffdSource, HarvestCostIsReported) {
    Buffer buf(65536);  // 256 MiB
    ASSERT_NE(buf.base, nullptr);
    std::memset(buf.base, 0, buf.pages * page_size);
    Tracker tracker;
    const RegionId id = tracker.add_region(region_of(buf)).value();
    UFFD_TRACK_OR_SKIP(source, tracker, id);
    tracker.add_source(std::move(*source));
    ASSERT_TRUE(tracker.sync().ok());
    auto cost_of = [&](uint64_t stride) {
        uint64_t n = 0;
        for (uint64_t p = 0; p < buf.pages; p += stride) buf.write(p), ++n;
        const auto before = tracker.counters().sources[0].cost;
        const SyncReport r = tracker.sync();
        EXPECT_EQ(r.pages, n);
        take_dirty(tracker, id);
        return std::chrono::duration<double, std::micro>(tracker.counters().sources[0].cost - before).count();
    };
    const double idle = cost_of(buf.pages + 1), all = cost_of(1), scattered = cost_of(2);
    EXPECT_GT(all, 0);
    std::printf(
        "  harvest of %llu pages: nothing written %.0f us; all written %.0f us (%.1f us/1000 pages); "
        "every other page %.0f us (%.1f us/1000 written pages)\n",
        (unsigned long long)buf.pages, idle, all, all * 1000 / double(buf.pages), scattered,
        scattered * 2000 / double(buf.pages));
}

TEST(UffdSource, ClearErrors) {
    Tracker tracker;
    // Not mapped: map, then unmap the middle.
    Buffer buf(16);
    ASSERT_NE(buf.base, nullptr);
    ASSERT_EQ(::munmap(buf.page(8), 4 * page_size), 0);
    const RegionId holed = tracker.add_region(region_of(buf, "holed")).value();
    auto r = UffdSource::track(tracker, holed);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("is not mapped at 0x"), std::string::npos) << r.error().what;
    EXPECT_NE(r.error().what.find("holed"), std::string::npos) << r.error().what;

    // Guest-physical is KVM's business.
    const RegionId slot = tracker.add_region(Region{.name = "slot 0", .page_count = 16}).value();
    r = UffdSource::track(tracker, slot);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().fix.find("KvmRingSource"), std::string::npos) << r.error().message();

    // Not page-aligned.
    Region odd = region_of(buf, "odd");
    odd.base += 100;
    r = UffdSource::track(tracker, tracker.add_region(odd).value());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("whole pages"), std::string::npos) << r.error().what;

    // The same range twice.
    Buffer twice(8);
    const RegionId a = tracker.add_region(region_of(twice, "a")).value();
    UFFD_TRACK_OR_SKIP(first, tracker, a);
    r = UffdSource::track(tracker, tracker.add_region(region_of(twice, "b")).value());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("already registered"), std::string::npos) << r.error().message();
}

}  // namespace
