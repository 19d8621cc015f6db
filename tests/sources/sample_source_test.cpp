// SampleSource on a child process that writes pages of a big anonymous
// buffer on command: exact mode finds exactly the written pages; sample
// mode's 95% interval holds the true count in most trials; neither mode
// reads a page that is not there, so a mostly untouched, huge-page backed
// target keeps its memory as it was; a missing PID, a killed child, a
// refused permission and unmapped pages give what the header promises.
#include <gtest/gtest.h>

#include "support/as_nobody.hpp"
#include "support/dirty_pages.hpp"
#include "support/test_seed.hpp"
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <vector>

#include "dtrack/process_memory.hpp"
#include "dtrack/sample_source.hpp"
#include "dtrack/tracker.hpp"

using namespace dtrack;

namespace {

using dtrack_test::random_pages;
using dtrack_test::take_dirty;

constexpr uint64_t page_size = 4096;

// A forked child with `pages` pages of private anonymous memory at
// address(). It writes pages (a new value each time) or unmaps them when
// told through a pipe, acknowledges, and waits for the next command. The
// child only calls read, write, munmap and _exit: safe after fork.
class WriterChild {
public:
    // `huge`: the buffer asks for transparent huge pages (MADV_HUGEPAGE), as
    // QEMU does for guest RAM: one read fault there allocates 2 MiB. `at`:
    // the buffer's address (not ok() when it is taken), else the kernel's choice.
    explicit WriterChild(uint64_t pages, bool huge = false, void* at = nullptr) : pages_(pages) {
        void* p = ::mmap(at, pages * page_size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED_NOREPLACE : 0), -1, 0);
        if (p == MAP_FAILED || (at && p != at)) return;
        base_ = static_cast<char*>(p);
        if (huge) ::madvise(p, pages * page_size, MADV_HUGEPAGE);
        int to_child[2], to_parent[2];
        if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(to_child[1]);
            ::close(to_parent[0]);
            serve(to_child[0], to_parent[1]);
        }
        ::close(to_child[0]);
        ::close(to_parent[1]);
        commands_ = to_child[1];
        acks_ = to_parent[0];
        ::munmap(base_, pages * page_size);  // the parent's copy; the child has its own at the same address
    }
    ~WriterChild() {
        ::close(commands_);
        ::close(acks_);
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    bool ok() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    uint64_t address() const { return reinterpret_cast<uint64_t>(base_); }
    uint64_t pages() const { return pages_; }
    Region region() const {
        return Region{.name = "child buffer",
                      .space = AddressSpace::host_virtual,
                      .base = address(),
                      .page_size = page_size,
                      .page_count = pages_};
    }

    void write_pages(const std::set<uint64_t>& pages) {
        command(op_write, std::vector<uint64_t>(pages.begin(), pages.end()));
    }
    void unmap_pages(uint64_t first, uint64_t count) { command(op_unmap, {first, count}); }
    // The child's resident memory, from /proc/PID/smaps_rollup.
    uint64_t rss_kib() const {
        std::ifstream in("/proc/" + std::to_string(pid_) + "/smaps_rollup");
        std::string key;
        uint64_t kib = 0;
        while (in >> key) {
            if (key == "Rss:" && in >> kib) return kib;
            in.ignore(1 << 12, '\n');
        }
        return 0;
    }
    void kill(bool reap) {
        ::kill(pid_, SIGKILL);
        if (reap) ::waitpid(pid_, nullptr, 0), reaped_ = true;
    }

private:
    enum : uint64_t { op_write = 1, op_unmap = 2 };

    static bool read_all(int fd, void* p, size_t n) {
        for (char* c = static_cast<char*>(p); n;) {
            const ssize_t r = ::read(fd, c, n);
            if (r <= 0) return false;
            c += r, n -= size_t(r);
        }
        return true;
    }
    static bool write_all(int fd, const void* p, size_t n) {
        for (const char* c = static_cast<const char*>(p); n;) {
            const ssize_t r = ::write(fd, c, n);
            if (r <= 0) return false;
            c += r, n -= size_t(r);
        }
        return true;
    }

    [[noreturn]] void serve(int in, int out) {
        uint64_t value = 0;
        for (uint64_t head[2]; read_all(in, head, sizeof head);) {  // {op, argument count}
            uint64_t args[512];
            for (uint64_t left = head[1]; left;) {
                const uint64_t n = std::min<uint64_t>(left, 512);
                if (!read_all(in, args, n * 8)) ::_exit(1);
                for (uint64_t i = 0; i < n && head[0] == op_write; ++i)
                    *reinterpret_cast<volatile uint64_t*>(base_ + args[i] * page_size) = ++value;
                if (head[0] == op_unmap) ::munmap(base_ + args[0] * page_size, args[1] * page_size);
                left -= n;
            }
            if (!write_all(out, "k", 1)) break;
        }
        ::_exit(0);
    }

    void command(uint64_t op, const std::vector<uint64_t>& args) {
        const uint64_t head[2] = {op, args.size()};
        ASSERT_TRUE(write_all(commands_, head, sizeof head));
        ASSERT_TRUE(write_all(commands_, args.data(), args.size() * 8));
        char ack;
        ASSERT_TRUE(read_all(acks_, &ack, 1)) << "the writer child died";
    }

    uint64_t pages_;
    char* base_ = nullptr;
    pid_t pid_ = -1;
    int commands_ = -1, acks_ = -1;
    bool reaped_ = false;
};

// A PID that no process has: a child that exited and was reaped.
pid_t unused_pid() {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    ::waitpid(pid, nullptr, 0);
    return pid;
}

// Waits (up to 5 s) until `pid` has died but is not yet reaped.
void wait_until_zombie(pid_t pid) {
    for (int i = 0; i < 500; ++i) {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        std::getline(stat, line);
        const size_t paren = line.rfind(')');  // "pid (comm) S ..."
        if (paren != std::string::npos && line.compare(paren + 2, 1, "Z") == 0) return;
        ::usleep(10000);
    }
}

// --- exact mode -------------------------------------------------------------------

TEST(SampleSource, ExactModeFindsExactlyTheWrittenPages) {
    WriterChild child(4096);
    ASSERT_TRUE(child.ok());
    Tracker tracker;
    const RegionId id = tracker.add_region(child.region()).value();
    auto source = SampleSource::track(tracker, child.pid(), {id});
    ASSERT_TRUE(source.ok()) << source.error().message();
    SampleSource& hash = static_cast<SampleSource&>(tracker.add_source(std::move(*source)));
    EXPECT_EQ(hash.name(), "hash");

    SyncReport quiet = tracker.sync();
    ASSERT_TRUE(quiet.ok()) << quiet.errors[0].message();
    EXPECT_EQ(quiet.pages, 0u);

    std::mt19937_64 rng(std::random_device{}());
    std::set<uint64_t> present;  // every page written so far: the rest was never touched
    for (int round = 0; round < 3; ++round) {
        const std::set<uint64_t> written = random_pages(rng, child.pages(), 1 + rng() % 600);
        child.write_pages(written);
        present.insert(written.begin(), written.end());
        const SyncReport r = tracker.sync();
        ASSERT_TRUE(r.ok()) << r.errors[0].message();
        EXPECT_FALSE(r.estimate);
        EXPECT_EQ(r.pages, written.size());
        EXPECT_EQ(take_dirty(tracker, id), written) << "round " << round;
        const SampleEstimate e = hash.last_estimate();
        EXPECT_EQ(e.pages, double(written.size()));
        EXPECT_EQ(e.bound, 0.0);
        // Only what is there is read: the pages written so far.
        EXPECT_EQ(e.sampled, present.size());
        EXPECT_EQ(e.total, present.size());
        EXPECT_EQ(hash.last_read_stats().pages_read, present.size());
    }
    // Reads are batched: many pages per process_vm_readv call.
    std::set<uint64_t> all;
    for (uint64_t p = 0; p < child.pages(); ++p) all.insert(p);
    child.write_pages(all);
    ASSERT_TRUE(tracker.sync().ok());
    const SampleReadStats stats = hash.last_read_stats();
    EXPECT_EQ(stats.pages_read, child.pages());
    EXPECT_EQ(stats.present, child.pages());
    EXPECT_LE(stats.read_calls, child.pages() / 64);
}

TEST(SampleSource, ExactModeOverTheWholeProcessFindsTheBufferWrites) {
    WriterChild child(2048);
    ASSERT_TRUE(child.ok());
    auto regions = process_regions(child.pid());
    ASSERT_TRUE(regions.ok()) << regions.error().message();
    bool covered = false;
    for (const Region& r : *regions) {
        EXPECT_EQ(r.space, AddressSpace::host_virtual);
        EXPECT_NE(r.name, "[vvar]");
        EXPECT_NE(r.name, "[vsyscall]");
        EXPECT_NE(r.name, "[vdso]");
        covered |= r.base <= child.address() && child.address() + child.pages() * page_size <= r.end();
    }
    EXPECT_TRUE(covered) << "no region holds the child's buffer";

    Tracker tracker;
    auto ids = add_process_regions(tracker, child.pid());
    ASSERT_TRUE(ids.ok());
    auto source = SampleSource::track(tracker, child.pid(), *ids);
    ASSERT_TRUE(source.ok()) << source.error().message();
    tracker.add_source(std::move(*source));
    ASSERT_TRUE(tracker.sync().ok());
    for (RegionId id : *ids) take_dirty(tracker, id);  // whatever the child's runtime touched

    std::mt19937_64 rng(std::random_device{}());
    const std::set<uint64_t> written = random_pages(rng, child.pages(), 200);
    child.write_pages(written);
    ASSERT_TRUE(tracker.sync().ok());
    std::set<uint64_t> found;  // buffer pages reported dirty
    for (RegionId id : *ids) {
        const Region& r = tracker.region(id);
        for (uint64_t p : take_dirty(tracker, id)) {
            const uint64_t addr = r.base + p * page_size;
            if (addr >= child.address() && addr < child.address() + child.pages() * page_size)
                found.insert((addr - child.address()) / page_size);
        }
    }
    EXPECT_EQ(found, written);
}

TEST(SampleSource, UnmappedPagesAreNeitherReadNorWritesButCounted) {
    WriterChild child(1024);
    ASSERT_TRUE(child.ok());
    Tracker tracker;
    const RegionId id = tracker.add_region(child.region()).value();
    auto source = SampleSource::track(tracker, child.pid(), {id}, {.pages_per_read = 64});
    ASSERT_TRUE(source.ok()) << source.error().message();
    SampleSource& hash = static_cast<SampleSource&>(tracker.add_source(std::move(*source)));

    std::set<uint64_t> first;
    for (uint64_t p = 95; p < 115; ++p) first.insert(p);
    first.insert(1022);
    child.write_pages(first);
    ASSERT_TRUE(tracker.sync().ok());
    EXPECT_EQ(take_dirty(tracker, id), first);

    child.unmap_pages(100, 10);
    child.unmap_pages(1020, 4);  // the very end
    const std::set<uint64_t> written{0, 99, 110, 500, 1019};
    child.write_pages(written);
    const SyncReport r = tracker.sync();
    ASSERT_TRUE(r.ok()) << r.errors[0].message();
    EXPECT_EQ(take_dirty(tracker, id), written) << "a page that went away is not a write";
    const SampleReadStats stats = hash.last_read_stats();
    EXPECT_EQ(stats.dropped, 11u) << "the hashed pages that were unmapped";
    EXPECT_EQ(stats.unreadable, 0u) << "unmapped pages are not even tried";
    EXPECT_EQ(stats.pages_read, 21u - 11 + 3) << "the present pages: 95-99, 110-114, and 0, 500, 1019";
}

// What the kernel says is not there is never read: a target whose memory is
// mostly untouched and backed by transparent huge pages (QEMU's guest RAM)
// keeps its memory as it was, and the figures still match its writes.
TEST(SampleSource, ReadingAMostlyUntouchedHugePageTargetAddsNoMemoryToIt) {
    constexpr uint64_t pages = (1ULL << 30) / page_size;     // 1 GiB
    constexpr uint64_t touched = (16ULL << 20) / page_size;  // 16 MiB of it
    WriterChild child(pages, true);
    ASSERT_TRUE(child.ok());
    std::set<uint64_t> first;
    for (uint64_t p = 0; p < touched; ++p) first.insert(p);
    child.write_pages(first);
    const uint64_t rss_before = child.rss_kib();
    ASSERT_GE(rss_before, touched * 4) << "the child's own writes are resident";

    std::mt19937_64 rng(std::random_device{}());
    for (SampleMode mode : {SampleMode::sample, SampleMode::exact}) {
        SCOPED_TRACE(mode == SampleMode::exact ? "exact" : "sample");
        Tracker tracker;
        const RegionId id = tracker.add_region(child.region()).value();
        auto source = SampleSource::track(tracker, child.pid(), {id}, {.mode = mode, .max_error = 0.02});
        ASSERT_TRUE(source.ok()) << source.error().message();
        SampleSource& sampler = static_cast<SampleSource&>(tracker.add_source(std::move(*source)));
        for (int interval = 0; interval < 3; ++interval) {
            const std::set<uint64_t> written = random_pages(rng, touched, 500 + rng() % 2000);
            child.write_pages(written);
            ASSERT_TRUE(tracker.sync().ok());
            take_dirty(tracker, id);
            const SampleEstimate e = sampler.last_estimate();
            const SampleReadStats stats = sampler.last_read_stats();
            // Exact: the count. Sampled: inside twice the 95% bound (a miss of
            // the bound itself is a 1-in-20 event; of twice it, 1 in 10,000).
            EXPECT_NEAR(e.pages, double(written.size()), mode == SampleMode::exact ? 0 : 2 * e.bound) << interval;
            EXPECT_LE(stats.present, touched + 512) << "the population is what is there, not the 1 GiB";
            EXPECT_LE(stats.pages_read, stats.present);
        }
    }
    // A few pages of slack: the child's stack and pipe buffers.
    EXPECT_LE(child.rss_kib(), rss_before + 64) << "sampling made the target's memory grow";
}

TEST(SampleSource, HashingMorePresentPagesThanTheLimitAllowsIsRefusedWithTheFix) {
    WriterChild child(1024);
    ASSERT_TRUE(child.ok());
    std::set<uint64_t> written;
    for (uint64_t p = 0; p < 512; ++p) written.insert(p);
    child.write_pages(written);
    Tracker tracker;
    const RegionId id = tracker.add_region(child.region()).value();
    // 512 present pages need 8 KiB of hashes; allow 4 KiB.
    auto source = SampleSource::track(tracker, child.pid(), {id}, {.mode = SampleMode::exact, .max_state_bytes = 4096});
    ASSERT_FALSE(source.ok());
    EXPECT_EQ(source.error().errno_value, ENOMEM);
    EXPECT_NE(source.error().message().find("512 present pages"), std::string::npos) << source.error().message();
    EXPECT_NE(source.error().fix.find("sample instead"), std::string::npos) << source.error().message();
    // Sampling keeps what it reads within the limit whatever is present.
    auto sampled = SampleSource::track(tracker, child.pid(), {id},
                                       {.mode = SampleMode::sample, .sample_pages = 64, .max_state_bytes = 4096});
    ASSERT_TRUE(sampled.ok()) << sampled.error().message();
}

// --- sample mode ------------------------------------------------------------------

TEST(SampleSource, SampleSizeAndEstimateArithmetic) {
    EXPECT_EQ(sample_size_for(0.01, 1'000'000'000), 9604u);  // the textbook 1.96^2 / (4 x 0.01^2)
    EXPECT_EQ(sample_size_for(0.05, 8192), 367u);            // smaller: the population is finite
    EXPECT_EQ(sample_size_for(0.001, 100), 100u);            // never more than there is
    // All pages looked at: a count, no bound.
    SampleEstimate all = estimate_changed(40, 100, 100);
    EXPECT_EQ(all.pages, 40.0);
    EXPECT_EQ(all.bound, 0.0);
    // No sampled page changed: still a bound above zero (Wilson, not the normal approximation).
    SampleEstimate none = estimate_changed(0, 400, 100000);
    EXPECT_EQ(none.pages, 0.0);
    EXPECT_GT(none.bound, 0.005 * 100000);
    EXPECT_LT(none.bound, 0.02 * 100000);
    // Half changed: about 1.96 x sqrt(1/4 / 400) = 4.9% of the pages.
    SampleEstimate half = estimate_changed(200, 400, 1000000);
    EXPECT_NEAR(half.pages, 500000, 1);
    EXPECT_NEAR(half.bound / 1000000, 0.049, 0.001);
}

// Chance decides each trial's sample (a hash of the page's address and the
// sampler's seed) and its written pages, so the test is seeded: the seed
// chooses both, and the buffer sits at a fixed address (ASLR moved it, and
// with it the sample: 2 runs in 300 failed, a bound 1.105x max_error). The
// claims hold for most seeds, not all: of DTRACK_SEED=1..1000, 986 passed;
// in the 14 others one trial drew a small sample and its bound passed 1.1x
// max_error. The interval held in 184 to 200 trials, 193 on average; seed
// 1 (this one) 192.
TEST(SampleSource, SampleEstimateHoldsTheTrueCountWithinItsBound) {
    constexpr uint64_t pages = 8192;
    constexpr int trials = 200;
    constexpr double max_error = 0.05;
    const uint64_t seed = dtrack_test::test_seed(1);
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with DTRACK_SEED=" + std::to_string(seed) + ")");
    WriterChild child(pages, false, reinterpret_cast<void*>(uintptr_t(1) << 30));
    ASSERT_TRUE(child.ok()) << "the buffer's fixed address (1 GiB) is taken";
    std::set<uint64_t> all;  // every page present: the population is the whole buffer
    for (uint64_t p = 0; p < pages; ++p) all.insert(p);
    child.write_pages(all);
    std::mt19937_64 rng(seed);  // the written sets, and each trial's sample seed
    int held = 0;
    double worst_miss = 0;
    for (int t = 0; t < trials; ++t) {
        Tracker tracker;
        const RegionId id = tracker.add_region(child.region()).value();
        auto source = SampleSource::track(tracker, child.pid(), {id},
                                          {.mode = SampleMode::sample, .max_error = max_error, .seed = rng() | 1});
        ASSERT_TRUE(source.ok()) << source.error().message();
        SampleSource& sampler = static_cast<SampleSource&>(tracker.add_source(std::move(*source)));
        ASSERT_EQ(sampler.name(), "hash-sample");
        ASSERT_NEAR(double(sampler.sample_size()), double(sample_size_for(max_error, pages)),
                    5 * std::sqrt(double(sample_size_for(max_error, pages))))
            << "the sample is drawn page by page, so its size varies a little";

        // Anything from no page to every page, including the extremes.
        const uint64_t k = t % 10 == 0 ? (t % 20 == 0 ? 0 : pages) : rng() % (pages + 1);
        const std::set<uint64_t> written = random_pages(rng, pages, k);
        child.write_pages(written);
        const SyncReport r = tracker.sync();
        ASSERT_TRUE(r.ok()) << r.errors[0].message();
        ASSERT_TRUE(r.estimate);
        const SampleEstimate e = sampler.last_estimate();
        EXPECT_EQ(r.estimated_pages, e.pages);
        EXPECT_EQ(r.estimate_bound, e.bound);
        EXPECT_LE(e.bound, 1.1 * max_error * pages) << "the bound is wider than asked for";
        const double miss = std::abs(e.pages - double(k));
        held += miss <= e.bound;
        worst_miss = std::max(worst_miss, miss / e.bound);

        // Only sampled pages that changed are marked: all of them written ones.
        const std::set<uint64_t> dirty = take_dirty(tracker, id);
        EXPECT_EQ(dirty.size(), e.changed);
        for (uint64_t p : dirty) ASSERT_TRUE(written.count(p)) << "page " << p << " was not written";
    }
    std::printf(
        "  95%% interval held the true count in %d of %d trials (sample %llu of %llu pages); worst miss "
        "%.2fx the bound\n",
        held, trials, (unsigned long long)sample_size_for(max_error, pages), (unsigned long long)pages, worst_miss);
    EXPECT_GE(held, trials * 9 / 10);
}

// --- errors -----------------------------------------------------------------------

TEST(SampleSource, MissingProcessIsNamed) {
    const pid_t pid = unused_pid();
    const std::string expected = "no process " + std::to_string(pid);
    auto regions = process_regions(pid);
    ASSERT_FALSE(regions.ok());
    EXPECT_EQ(regions.error().what, expected);

    Tracker tracker;
    const RegionId id =
        tracker
            .add_region(Region{.name = "x", .space = AddressSpace::host_virtual, .base = 0x10000000, .page_count = 4})
            .value();
    auto source = SampleSource::track(tracker, pid, {id});
    ASSERT_FALSE(source.ok());
    EXPECT_EQ(source.error().what, expected);
}

TEST(SampleSource, KilledChildEndsTheRunWithExited) {
    for (bool reap : {false, true}) {  // a zombie, then a reaped process
        WriterChild child(256);
        ASSERT_TRUE(child.ok());
        Tracker tracker;
        const RegionId id = tracker.add_region(child.region()).value();
        auto source = SampleSource::track(tracker, child.pid(), {id});
        ASSERT_TRUE(source.ok()) << source.error().message();
        tracker.add_source(std::move(*source));
        child.write_pages({1, 2, 3});
        ASSERT_TRUE(tracker.sync().ok());

        child.kill(reap);
        if (!reap) wait_until_zombie(child.pid());  // the zombie is what is tested
        const SyncReport r = tracker.sync();
        ASSERT_EQ(r.errors.size(), 1u) << (reap ? "reaped" : "zombie");
        EXPECT_EQ(r.errors[0].what, "process " + std::to_string(child.pid()) + " exited");
        EXPECT_EQ(r.errors[0].errno_value, ESRCH);
        EXPECT_EQ(tracker.counters().sources[0].failures, 1u);
    }
}

TEST(SampleSource, NoPermissionSaysWhichRule) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
    WriterChild target(16);  // runs as root
    ASSERT_TRUE(target.ok());
    // A child becomes nobody and tries; it sends back the messages.
    const auto result = dtrack_test::run_as_nobody([&] {
        std::string text;
        auto regions = process_regions(target.pid());
        text += regions.ok() ? "maps: ok" : "maps: " + regions.error().message();
        Tracker tracker;
        const RegionId id = tracker.add_region(target.region()).value();
        auto source = SampleSource::track(tracker, target.pid(), {id});
        text += "\nread: " + (source.ok() ? std::string("ok") : source.error().message());
        return text;
    });
    ASSERT_TRUE(result) << "the helper could not become nobody";
    const std::string& text = *result;
    std::printf("  as nobody: %s\n", text.c_str());
    const std::string pid = std::to_string(target.pid());
    EXPECT_NE(text.find("maps: no permission to read the memory of process " + pid), std::string::npos) << text;
    EXPECT_NE(text.find("read: no permission to read the memory of process " + pid), std::string::npos) << text;
    EXPECT_NE(text.find("it runs as uid 0, you are uid 65534"), std::string::npos) << text;
}

}  // namespace
