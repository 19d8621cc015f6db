// ThreadWriteFaults and ThreadWriteFaultSource on real threads of the test,
// writing to memory UffdSource write-protects again at every harvest: each
// thread's write faults are the pages it newly dirtied, its own and not the
// others', round after round, also through the tracepoint fallback; per vCPU
// through a Tracker, a thread listed late counting from then; another
// process's threads are not counted; and what attach refuses, loading nothing.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "dtrack/thread_write_fault_source.hpp"
#include "dtrack/thread_write_faults.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/uffd_source.hpp"
#include "probe/probes.hpp"
#include "support/without_tracefs.hpp"
#include "support/anon_buffer.hpp"
#include "support/bpf_objects.hpp"
#include "support/writing_threads.hpp"

namespace {

using dtrack_test::AnonBuffer;
using dtrack_test::WritingThreads;

constexpr uint64_t range = 512;  // pages of the buffer each thread owns

// A buffer of `threads` ranges, every page present, as a region of `tracker`.
struct TrackedBuffer {
    TrackedBuffer(dtrack::Tracker& tracker, size_t threads) : buffer(threads * range) {
        if (!buffer.base) return;
        std::memset(buffer.base, 0, buffer.pages * AnonBuffer::page_size);
        id = tracker.add_region(dtrack_test::region_of(buffer)).value();
    }
    AnonBuffer buffer;
    dtrack::RegionId id = 0;
};

std::vector<uint64_t> first_pages(size_t threads) {
    std::vector<uint64_t> first;
    for (size_t i = 0; i < threads; ++i) first.push_back(i * range);
    return first;
}

// Four ranges of the test's memory, write-protected again at every sync by a
// UffdSource (source 0 of the tracker), and this process's write faults
// there counted.
class TrackedMemory : public testing::Test {
protected:
    void track() {
        DTRACK_REQUIRE_BPF();
        tracked.emplace(tracker, 4);
        ASSERT_NE(tracked->buffer.base, nullptr);
        UFFD_TRACK_OR_SKIP(uffd, tracker, tracked->id);
        tracker.add_source(std::move(*uffd));
        auto attached = dtrack::ThreadWriteFaults::attach(::getpid(), {.ranges = dtrack::tracked_ranges(tracker)});
        ASSERT_TRUE(attached.ok()) << attached.error().message();
        faults = std::move(*attached);
    }

    dtrack::Tracker tracker;
    std::optional<TrackedBuffer> tracked;
    std::unique_ptr<dtrack::ThreadWriteFaults> faults;
};

#define TRACK_OR_SKIP()                               \
    do {                                              \
        track();                                      \
        if (IsSkipped() || HasFatalFailure()) return; \
    } while (0)

class ThreadWriteFaults : public TrackedMemory {};
class ThreadWriteFaultSource : public TrackedMemory {};

TEST_F(ThreadWriteFaults, EachThreadCountsItsOwnFirstWritesAndCountsAgainAfterReprotection) {
    TRACK_OR_SKIP();
    WritingThreads threads(tracked->buffer, first_pages(3));
    const std::vector<pid_t> tids = threads.tids();

    const std::vector<std::vector<uint64_t>> rounds = {{100, 250, 400}, {400, 30, 250}, {0, 512, 1}};
    for (size_t r = 0; r < rounds.size(); ++r) {
        std::vector<uint64_t> before;
        for (pid_t tid : tids) before.push_back(faults->count(tid));
        threads.write(rounds[r]);
        // The same pages again before any re-protection: they are writable now, no fault.
        threads.write(rounds[r]);
        uint64_t written = 0;
        for (size_t t = 0; t < tids.size(); ++t) {
            EXPECT_EQ(faults->count(tids[t]) - before[t], rounds[r][t])
                << "round " << r << ", thread " << t << ": its write faults are its newly dirtied pages";
            written += rounds[r][t];
        }
        // The harvest write-protects them again, so the next round faults anew.
        const dtrack::SyncReport report = tracker.sync();
        ASSERT_TRUE(report.ok()) << report.errors[0].message();
        EXPECT_EQ(report.pages, written) << "round " << r;
    }
    const std::map<pid_t, uint64_t> all = faults->counts();
    for (pid_t tid : tids) {
        ASSERT_TRUE(all.count(tid)) << "thread " << tid << " is missing from counts()";
        EXPECT_EQ(all.at(tid), faults->count(tid));
    }
    EXPECT_EQ(faults->totals().unattributed, 0u);
    EXPECT_GE(faults->totals().write_faults, 100u + 250 + 400 + 400 + 30 + 250 + 512 + 1);
}

// A thread that writes tracked pages and, between them, pages of memory
// nobody tracks (a second mmap, as a runtime's arena or a sanitizer's shadow
// is): only the tracked ones are its newly dirtied pages. Without the ranges
// every write fault counted (ThreadSanitizer's shadow gave 101 for 100).
TEST_F(ThreadWriteFaults, FaultsOutsideTheTrackedRangesAreNotCounted) {
    TRACK_OR_SKIP();
    AnonBuffer untracked(300);
    ASSERT_NE(untracked.base, nullptr);
    ::madvise(untracked.base, untracked.pages * AnonBuffer::page_size, MADV_NOHUGEPAGE);  // a fault per page
    std::atomic<pid_t> tid{0};
    std::atomic<bool> go{false}, done{false};
    std::thread writer([&] {
        tid = pid_t(::syscall(SYS_gettid));
        go.wait(false);
        for (uint64_t p = 0; p < 300; ++p) {
            if (p < 100) tracked->buffer.write(p);
            untracked.write(p);
        }
        done = true;
        done.notify_all();
    });
    while (tid == 0) std::this_thread::yield();
    const uint64_t before = faults->count(tid);
    const dtrack::ThreadWriteFaultTotals totals_before = faults->totals();
    go = true;
    go.notify_all();
    done.wait(false);
    EXPECT_EQ(faults->count(tid) - before, 100u) << "its 100 tracked pages, not the 300 untracked ones";
    const dtrack::ThreadWriteFaultTotals totals = faults->totals();
    EXPECT_GE(totals.outside_ranges - totals_before.outside_ranges, 300u) << "the untracked faults, counted apart";
    writer.join();
}

// The tp/ rung (the record read at fixed offsets): in a child with a private
// mount namespace and no tracefs, attach mounts tracefs, says so, and counts
// the same faults.
TEST_F(ThreadWriteFaults, TheTracepointFallbackMountsTracefsAndCountsTheSame) {
    DTRACK_REQUIRE_BPF();
    const std::string tracefs_before = dtrack::mounted_tracefs();
    const dtrack::probe::Outcome outcome = dtrack_test::run_without_tracefs([] {
        dtrack::Tracker tracker;
        TrackedBuffer tracked(tracker, 2);
        auto uffd = dtrack::UffdSource::track(tracker, tracked.id);
        if (!uffd) return dtrack::probe::Outcome{false, uffd.error().message()};
        auto attached = dtrack::ThreadWriteFaults::attach(
            ::getpid(), {.hooks = dtrack::BpfHooks::tracepoints, .ranges = dtrack::tracked_ranges(tracker)});
        if (!attached) return dtrack::probe::Outcome{false, attached.error().message()};
        const dtrack::ThreadWriteFaults& counted_by = **attached;
        WritingThreads threads(tracked.buffer, first_pages(2));
        const std::vector<pid_t> tids = threads.tids();
        const uint64_t before[2] = {counted_by.count(tids[0]), counted_by.count(tids[1])};
        threads.write({70, 300});
        const uint64_t counted[2] = {counted_by.count(tids[0]) - before[0], counted_by.count(tids[1]) - before[1]};
        std::string text = "hooked with " + counted_by.hooked_with() + "; counted " + std::to_string(counted[0]) +
                           " and " + std::to_string(counted[1]) + " write faults for 70 and 300 pages";
        for (const std::string& n : counted_by.notes()) text += "\n  note: " + n;
        return dtrack::probe::Outcome{
            counted_by.hooked_with() == "tracepoints" && counted[0] == 70 && counted[1] == 300, text};
    });
    std::printf("  %s\n", outcome.text.c_str());
    EXPECT_TRUE(outcome.ok) << outcome.text;
    EXPECT_NE(outcome.text.find("dtrack mounted it at /sys/kernel/tracing"), std::string::npos)
        << "the tracefs mount was not reported";
    EXPECT_EQ(dtrack::mounted_tracefs(), tracefs_before) << "the child's mounts leaked out of its namespace";
}

TEST_F(ThreadWriteFaultSource, EachVcpusCountIsItsThreadsNewlyDirtiedPagesSinceThePreviousHarvest) {
    TRACK_OR_SKIP();
    // vCPUs 0-2 run from the start; vCPU 3's thread is created later, as a VMM does.
    WritingThreads vcpus(tracked->buffer, first_pages(3));
    auto& source = static_cast<dtrack::ThreadWriteFaultSource&>(
        tracker.add_source(std::make_unique<dtrack::ThreadWriteFaultSource>(*faults, vcpus.tids())));
    const auto per_vcpu = [&] { return tracker.counters().sources[1].pages_per_vcpu; };
    using Counts = std::vector<uint64_t>;

    ASSERT_TRUE(tracker.sync().ok());
    EXPECT_EQ(per_vcpu(), (Counts{0, 0, 0})) << "every listed vCPU has its entry, 0 included";

    vcpus.write({120, 0, 300});
    dtrack::SyncReport report = tracker.sync();
    ASSERT_TRUE(report.ok()) << report.errors[0].message();
    EXPECT_EQ(per_vcpu(), (Counts{120, 0, 300}));
    EXPECT_EQ(report.pages, 420u) << "only the uffd source reports pages";
    EXPECT_EQ(tracker.counters().sources[1].pages, 0u) << "the fault source marks no page";
    EXPECT_FALSE(report.estimate);

    // Re-protected by that harvest: the same pages count again, and the counters only grow.
    vcpus.write({120, 7, 0});
    ASSERT_TRUE(tracker.sync().ok());
    EXPECT_EQ(per_vcpu(), (Counts{240, 7, 300}));

    WritingThreads late(tracked->buffer, {3 * range});
    std::vector<pid_t> tids = vcpus.tids();
    tids.push_back(late.tids()[0]);
    source.set_vcpu_threads(tids);
    EXPECT_EQ(source.vcpu_threads(), tids);
    vcpus.write({1, 1, 1});
    late.write({64});
    ASSERT_TRUE(tracker.sync().ok());
    EXPECT_EQ(per_vcpu(), (Counts{241, 8, 301, 64})) << "the late thread counts from when it was listed";
}

// A child process whose two threads write fresh pages (each first write
// faults) while a thread of the test writes tracked pages: the child's
// threads are not counted, the test's is. The child is forked first, so that
// nothing the test writes afterwards is shared copy-on-write with it.
TEST_F(ThreadWriteFaults, ThreadsOfAnotherProcessAreNotCounted) {
    DTRACK_REQUIRE_BPF();
    int go[2], tids_pipe[2];
    ASSERT_EQ(::pipe(go), 0);
    ASSERT_EQ(::pipe(tids_pipe), 0);
    const pid_t child = ::fork();
    if (child == 0) {
        char byte;
        if (::read(go[0], &byte, 1) != 1) ::_exit(1);
        constexpr size_t pages = 256;
        const auto write_fresh_pages = [] {
            void* p = ::mmap(nullptr, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) ::_exit(1);
            ::madvise(p, pages * 4096, MADV_NOHUGEPAGE);  // a fault per page
            for (size_t i = 0; i < pages; ++i) static_cast<volatile char*>(p)[i * 4096] = 1;
        };
        pid_t tids[2] = {pid_t(::syscall(SYS_gettid)), 0};
        std::thread other([&] {
            tids[1] = pid_t(::syscall(SYS_gettid));
            write_fresh_pages();
        });
        write_fresh_pages();
        other.join();
        ::_exit(::write(tids_pipe[1], tids, sizeof tids) == sizeof tids ? 0 : 1);
    }
    ::close(go[0]);
    ::close(tids_pipe[1]);
    // However the test ends, the child does not outlive it.
    struct Reaper {
        pid_t pid;
        ~Reaper() {
            if (pid > 0) ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0);
        }
    } reaper{child};

    TRACK_OR_SKIP();
    WritingThreads ours(tracked->buffer, {0});
    const uint64_t ours_before = faults->count(ours.tids()[0]);

    ASSERT_EQ(::write(go[1], "w", 1), 1);
    ::close(go[1]);
    ours.write({200});
    pid_t child_tids[2] = {0, 0};
    EXPECT_EQ(::read(tids_pipe[0], child_tids, sizeof child_tids), ssize_t(sizeof child_tids));
    ::close(tids_pipe[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    reaper.pid = 0;
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child failed to write its pages";

    const std::map<pid_t, uint64_t> all = faults->counts();
    for (pid_t tid : child_tids) {
        ASSERT_GT(tid, 0);
        EXPECT_EQ(all.count(tid), 0u) << "thread " << tid << " of process " << child << " was counted";
    }
    EXPECT_EQ(faults->count(ours.tids()[0]) - ours_before, 200u) << "the test's own thread, meanwhile";
}

// Ranges are merged where they touch; an empty one, or more separate ones
// than the filter holds, is refused before anything is loaded.
TEST(ThreadWriteFaultsAttach, AnEmptyRangeOrTooManyAreRefusedAndNothingIsLoaded) {
    DTRACK_REQUIRE_BPF();
    const int before = dtrack_test::open_bpf_objects();
    std::vector<dtrack::AddressRange> touching, apart;
    for (uint64_t i = 0; i < 100; ++i) {
        touching.push_back({(i + 1) << 20, (i + 2) << 20});                // one range after merging
        apart.push_back({(2 * i + 1) << 20, ((2 * i + 1) << 20) + 4096});  // 100 separate ones
    }
    auto merged = dtrack::ThreadWriteFaults::attach(::getpid(), {.ranges = touching});
    EXPECT_TRUE(merged.ok()) << merged.error().message();
    merged = dtrack::Error{};  // detaches
    EXPECT_EQ(dtrack_test::open_bpf_objects(), before) << "the attached program was not unloaded";

    auto too_many = dtrack::ThreadWriteFaults::attach(::getpid(), {.ranges = apart});
    ASSERT_FALSE(too_many.ok());
    EXPECT_EQ(too_many.error().what, "100 separate address ranges, more than the 64 the write-fault filter holds");
    auto empty = dtrack::ThreadWriteFaults::attach(::getpid(), {.ranges = {{0x2000, 0x2000}}});
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().what, "address range [0x2000, 0x2000) is empty");
    EXPECT_EQ(dtrack_test::open_bpf_objects(), before) << "a refused attach left BPF objects behind";
}

TEST(ThreadWriteFaultsAttach, AMissingProcessIsNamedWithItsFixAndNothingIsLoaded) {
    const int before = dtrack_test::open_bpf_objects();
    const pid_t pid = dtrack_test::gone_pid();
    auto faults = dtrack::ThreadWriteFaults::attach(pid);
    ASSERT_FALSE(faults.ok());
    EXPECT_EQ(faults.error().errno_value, ESRCH);
    EXPECT_EQ(faults.error().what, "no process " + std::to_string(pid));
    EXPECT_EQ(faults.error().fix, "check the PID (pidof, ps)");
    EXPECT_EQ(dtrack_test::open_bpf_objects(), before) << "a refused attach left BPF objects behind";

    auto zero = dtrack::ThreadWriteFaults::attach(0);
    ASSERT_FALSE(zero.ok());
    EXPECT_EQ(zero.error().what, "pid 0 is not a process id");
    EXPECT_EQ(zero.error().fix, "give a PID > 0");
    EXPECT_EQ(dtrack_test::open_bpf_objects(), before);
}

}  // namespace
