// Sender and receiver end to end, in one process: a "guest" thread keeps
// writing the source memory and reports each write to the tracker through a
// source (as a dirty-tracking mechanism would); pausing the VM parks that
// thread. The receiver's memory must equal the sender's byte for byte. Then
// the ways it goes wrong: a receiver that closes, stops reading, never
// answers, or gets corrupted bytes; every one ends in bounded time with the
// guest running again. No assertion depends on how fast this machine is.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/sender.hpp"
#include "dtrack/precopy/wire_format.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t page_size = 4096;
using steady = std::chrono::steady_clock;

// --- memory ---------------------------------------------------------------------------

// Two regions; the second is not a multiple of 64 pages.
class Ram {
public:
    static constexpr uint64_t base1 = 1ULL << 30;
    explicit Ram(uint8_t fill) {
        for (uint64_t pages : {1024, 259}) storage_.emplace_back(pages * page_size, fill);
        regions_.push_back(GuestMemory{0, storage_[0].data(), 1024, page_size, 0});
        regions_.push_back(GuestMemory{1, storage_[1].data(), 259, page_size, base1});
    }
    // Every 5th page zero, every 7th random (incompressible), the rest a
    // compressible pattern of words.
    void fill_pattern() {
        std::mt19937_64 rng(7);
        for (const GuestMemory& m : regions_)
            for (uint64_t p = 0; p < m.pages; ++p) {
                uint64_t* words = reinterpret_cast<uint64_t*>(m.page(p));
                for (uint64_t w = 0; w < page_size / 8; ++w)
                    words[w] = p % 5 == 0 ? 0 : p % 7 == 0 ? rng() : (uint64_t{m.region} << 40 | p << 16 | w);
            }
    }
    const std::vector<GuestMemory>& regions() const { return regions_; }
    uint64_t pages() const { return 1024 + 259; }

private:
    std::vector<std::vector<uint8_t>> storage_;
    std::vector<GuestMemory> regions_;
};

// "" when equal, else where they first differ.
std::string difference(const Ram& a, const Ram& b) {
    for (size_t r = 0; r < a.regions().size(); ++r)
        for (uint64_t p = 0; p < a.regions()[r].pages; ++p)
            if (std::memcmp(a.regions()[r].page(p), b.regions()[r].page(p), page_size) != 0)
                return "region " + std::to_string(r) + " page " + std::to_string(p) + " differs";
    return "";
}

// --- dirty tracking -----------------------------------------------------------------------

// The tracker's source: the pages the guest reported writing since the last
// harvest. `before_harvest` lets a test script writes at exact syncs.
class WriteLog : public Source {
public:
    std::string name() const override { return "test-writes"; }

    void wrote(RegionId region, uint64_t page) {
        std::lock_guard lock(mutex_);
        pending_.emplace_back(region, page);
    }

    Result<HarvestReport> harvest(Tracker& tracker) override {
        ++harvests;
        if (fail_harvest == harvests) return Error{EIO, "scripted harvest failure", ""};
        if (before_harvest) before_harvest(harvests);
        std::vector<std::pair<RegionId, uint64_t>> batch;
        {
            std::lock_guard lock(mutex_);
            batch.swap(pending_);
        }
        HarvestReport report;
        for (auto [region, page] : batch) {
            ++report.pages;
            report.new_dirty += tracker.bitmap(region).mark(page);
            report.add_region(region, 1);
        }
        return report;
    }

    std::function<void(int harvest)> before_harvest;
    int harvests = 0;
    int fail_harvest = 0;  // harvest number that fails; 0 = none

private:
    std::mutex mutex_;
    std::vector<std::pair<RegionId, uint64_t>> pending_;
};

// Writes one page: a stamp into one of its words, or now and then zeros.
// A real guest races the sender's copy the same way; the dirty bit set
// after the write makes the page go again.
void write_page(const GuestMemory& m, uint64_t page, uint64_t stamp, WriteLog& log) {
    uint8_t* p = m.page(page);
    if (stamp % 97 == 0) std::memset(p, 0, page_size);
    else std::memcpy(p + (stamp % (page_size / 8)) * 8, &stamp, 8);
    log.wrote(m.region, page);  // after the write, as the kernel reports it
}

// --- the guest and its VM control --------------------------------------------------------------

// A thread that writes memory at a modest rate: 90% to a hot set of 32
// pages, 10% anywhere. pause_vcpus() returns once it is parked.
class Guest : public VmControl {
public:
    Guest(const Ram& ram, WriteLog& log) : ram_(ram), log_(log) {}
    ~Guest() override { stop(); }

    void start() {
        {
            std::lock_guard lock(mutex_);
            thread_running_ = true;
        }
        thread_ = std::thread([this] { loop(); });
    }
    void stop() {
        {
            std::lock_guard lock(mutex_);
            quit_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    void pause_vcpus() override {
        std::function<void()> hook;
        {
            std::unique_lock lock(mutex_);
            ++pauses_;
            pause_ = true;
            cv_.notify_all();
            cv_.wait(lock, [&] { return parked_ || !thread_running_; });
            hook = on_pause;
        }
        if (hook) hook();
    }
    void resume_vcpus() override {
        std::lock_guard lock(mutex_);
        ++resumes_;
        pause_ = false;
        cv_.notify_all();
    }

    int pauses() const {
        std::lock_guard lock(mutex_);
        return pauses_;
    }
    int resumes() const {
        std::lock_guard lock(mutex_);
        return resumes_;
    }
    bool paused() const {
        std::lock_guard lock(mutex_);
        return pause_;
    }
    uint64_t writes() const { return writes_.load(); }

    // Waits (at most 10 s) until the guest made `n` more writes.
    bool wait_for_writes(uint64_t n) {
        const uint64_t target = writes() + n;
        for (auto until = steady::now() + 10s; steady::now() < until; std::this_thread::sleep_for(1ms))
            if (writes() >= target) return true;
        return false;
    }

    std::function<void()> on_pause;  // runs after the guest is parked

private:
    void loop() {
        std::mt19937_64 rng(42);
        uint64_t stamp = 0;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                if (quit_) break;
                if (pause_) {
                    parked_ = true;
                    cv_.notify_all();
                    cv_.wait(lock, [&] { return !pause_ || quit_; });
                    parked_ = false;
                    continue;
                }
            }
            for (int i = 0; i < 16; ++i) {
                const bool hot = rng() % 10 != 0;
                const size_t region = hot ? 0 : rng() % 2;
                const GuestMemory& m = ram_.regions()[region];
                write_page(m, hot ? rng() % 32 : rng() % m.pages, ++stamp, log_);
                ++writes_;
            }
            std::this_thread::sleep_for(100us);
        }
        std::lock_guard lock(mutex_);
        thread_running_ = false;
        cv_.notify_all();
    }

    const Ram& ram_;
    WriteLog& log_;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool quit_ = false, pause_ = false, parked_ = false, thread_running_ = false;
    int pauses_ = 0, resumes_ = 0;
    std::atomic<uint64_t> writes_{0};
};

// --- connections and peers ------------------------------------------------------------------

// A connected pair: {sender's end, receiver's end}.
std::pair<int, int> socket_pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    return {fds[0], fds[1]};
}

std::pair<int, int> tcp_pair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const int server = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    return {client, server};
}

// Reads and drops everything until EOF or `stop`.
void drain(int fd, const std::atomic<bool>& stop) {
    uint8_t buf[65536];
    while (!stop) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10) <= 0) continue;
        if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
}

// Copies `from` to `to` until EOF, then ends the direction; with `flip_at`,
// inverts the byte at that stream offset on the way.
void pump(int from, int to, std::optional<uint64_t> flip_at) {
    uint8_t buf[65536];
    uint64_t offset = 0;
    bool writable = true;
    for (ssize_t n; (n = ::recv(from, buf, sizeof buf, 0)) > 0; offset += n) {
        if (flip_at && *flip_at >= offset && *flip_at < offset + n) buf[*flip_at - offset] ^= 0xFF;
        for (ssize_t done = 0; writable && done < n;) {
            const ssize_t w = ::send(to, buf + done, n - done, MSG_NOSIGNAL);
            if (w <= 0) writable = false;  // the far side is gone: keep draining
            else done += w;
        }
    }
    ::shutdown(to, SHUT_WR);
}

struct MigrationRun {
    Outcome outcome;
    std::optional<Result<ReceiveReport>> received;
    steady::duration wall{};
};

// --- the fixture -------------------------------------------------------------------------------

struct PrecopyLoopback : testing::Test {
    Ram src{0}, dst{0xAA};
    Tracker tracker;
    WriteLog* log = nullptr;
    bool ready = set_up_tracker();
    Rounds rounds{tracker};
    Guest guest{src, *log};

    bool set_up_tracker() {
        src.fill_pattern();
        for (const GuestMemory& m : src.regions())
            tracker
                .add_region(Region{.name = "slot " + std::to_string(m.region),
                                   .slot = m.region,
                                   .base = m.base,
                                   .page_size = page_size,
                                   .page_count = m.pages})
                .value();
        log = static_cast<WriteLog*>(&tracker.add_source(std::make_unique<WriteLog>()));
        return true;
    }

    // Runs the sender here and `peer` (which owns and closes the receiver's
    // end) on another thread. The default peer is a Receiver into dst.
    MigrationRun migrate(SenderOptions options,
                         std::function<void(int fd, MigrationRun& run, std::atomic<bool>& sender_done)> peer = {},
                         bool tcp = false) {
        if (!peer)
            peer = [this](int fd, MigrationRun& run, std::atomic<bool>&) {
                run.received.emplace(Receiver(dst.regions(), {.io_timeout = 10s}).run(fd));
                ::close(fd);
            };
        auto [sender_fd, receiver_fd] = tcp ? tcp_pair() : socket_pair();
        MigrationRun run;
        std::atomic<bool> sender_done{false};
        std::thread peer_thread([&, fd = receiver_fd] { peer(fd, run, sender_done); });
        Sender sender(tracker, rounds, src.regions(), guest, std::move(options));
        const auto start = steady::now();
        run.outcome = sender.run(sender_fd);
        run.wall = steady::now() - start;
        sender_done = true;
        ::close(sender_fd);
        peer_thread.join();
        return run;
    }

    // A live migration that must complete with identical memory.
    MigrationRun expect_live_migration(SenderOptions options, bool tcp = false) {
        options.max_time = 60s;  // only a guard against hanging: never reached
        options.downtime_limit = 1s;
        guest.start();
        EXPECT_TRUE(guest.wait_for_writes(1000));
        MigrationRun run = migrate(std::move(options), {}, tcp);
        const Outcome& o = run.outcome;
        EXPECT_EQ(o.status, OutcomeStatus::completed) << to_string(o.status) << ": " << o.message;
        EXPECT_TRUE(run.received && run.received->ok()) << (!run.received        ? "no result"
                                                            : run.received->ok() ? ""
                                                                                 : run.received->error().message());
        // The guest stays paused: it lives on the receiver now.
        EXPECT_EQ(guest.pauses(), 1);
        EXPECT_EQ(guest.resumes(), 0);
        EXPECT_EQ(difference(src, dst), "");
        if (run.received && run.received->ok()) {
            const ReceiveReport& r = run.received->value();
            EXPECT_TRUE(r.digest_match);
            EXPECT_EQ(r.pages, o.pages_sent);
            EXPECT_EQ(r.zero_pages, o.zero_pages);
            EXPECT_EQ(r.rounds, o.rounds);
            EXPECT_EQ(r.bytes, o.bytes_on_wire);
        }
        EXPECT_GE(o.rounds, 2u);  // the full pass and the paused final pass
        EXPECT_GE(o.pages_sent, src.pages());
        EXPECT_GT(o.zero_pages, 0u);   // every 5th page starts zero; the guest rewrites some
        EXPECT_GE(o.round_syncs, 3u);  // the clean start, after round 1, after the pause
        EXPECT_EQ(o.background_syncs, 0u);
        EXPECT_GT(o.downtime.count(), 0);
        EXPECT_FALSE(rounds.migrating());
        return run;
    }

    void expect_guest_running_again() {
        EXPECT_EQ(guest.pauses(), guest.resumes());
        EXPECT_FALSE(guest.paused());
        EXPECT_TRUE(guest.wait_for_writes(100)) << "the guest does not run after the failed migration";
        EXPECT_FALSE(rounds.migrating());
    }
};

}  // namespace

// --- migrations that complete ------------------------------------------------------------------

TEST_F(PrecopyLoopback, CopiesMemoryWhileTheGuestWrites) { expect_live_migration({}); }

TEST_F(PrecopyLoopback, CopiesMemoryWithCompression) {
    const MigrationRun run = expect_live_migration({.compression = Compression::zlib});
    // The pattern pages compress; without it the contents alone would be more.
    const Outcome& o = run.outcome;
    EXPECT_LT(o.bytes_on_wire, (o.pages_sent - o.zero_pages) * page_size);
}

// Every compression with the sent-page cache off and on: the receiver's copy
// and digest match, and with the cache the guest's re-sent stamps go as deltas.
struct PrecopyLoopbackEncodings : PrecopyLoopback, testing::WithParamInterface<std::tuple<Compression, bool>> {};

std::string encoding_name(const testing::TestParamInfo<std::tuple<Compression, bool>>& info) {
    return std::string(to_string(std::get<0>(info.param))) + (std::get<1>(info.param) ? "_cache" : "_no_cache");
}

TEST_P(PrecopyLoopbackEncodings, CopiesMemoryWithEveryCompressionAndTheCacheOffOrOn) {
    const auto [method, cache] = GetParam();
    SenderOptions options{.compression = method, .xbzrle_cache_bytes = cache ? 8ULL << 20 : 0};
    const MigrationRun run = expect_live_migration(std::move(options));
    const Outcome& o = run.outcome;
    if (run.received && run.received->ok()) {
        EXPECT_EQ(run.received->value().delta_pages, o.delta_pages);
    }
    if (!cache) {
        EXPECT_EQ(o.delta_pages + o.cache_hits + o.cache_misses + o.cache_overflows, 0u);
        return;
    }
    EXPECT_GT(o.cache_hits, 0u);
    EXPECT_EQ(o.cache_hits + o.cache_misses, o.pages_sent - src.pages()) << "every page after round 1 is looked up";
    EXPECT_GT(o.delta_pages, 0u);
    EXPECT_LE(o.delta_pages, o.cache_hits);
    EXPECT_EQ(o.cache_overflows, 0u) << "8 MiB holds all 1283 pages";
}

INSTANTIATE_TEST_SUITE_P(NoneZlibZstdTimesCache, PrecopyLoopbackEncodings,
                         testing::Combine(testing::Values(Compression::none, Compression::zlib, Compression::zstd),
                                          testing::Bool()),
                         encoding_name);

TEST_F(PrecopyLoopback, CopiesMemoryUnderABandwidthCap) {
    constexpr uint64_t cap = 32ULL << 20;
    double highest = 0;
    int reports = 0;
    const MigrationRun run = expect_live_migration({.bandwidth = cap, .progress = [&](const Progress& p) {
                                                        highest = std::max(highest, p.bandwidth);
                                                        ++reports;
                                                    }});
    EXPECT_GE(reports, 1);
    EXPECT_LE(highest, double(cap));
    // The token bucket allows a 50 ms burst, then `cap` bytes per second.
    const double seconds = std::chrono::duration<double>(run.outcome.total_time).count();
    EXPECT_LE(double(run.outcome.bytes_on_wire), cap / 20.0 + cap * seconds + 65536);
}

TEST_F(PrecopyLoopback, CopiesMemoryOverTcp) {
    expect_live_migration({.compression = Compression::zlib}, /*tcp=*/true);
}

TEST_F(PrecopyLoopback, RoundsGoOnUntilTheRestFitsTheDowntimeLimit) {
    // No guest thread: writes happen at exact harvests, 50 pages at each of
    // harvests 2..5. Harvest 1 is the clean start; with a zero downtime limit
    // only an empty bitmap switches over (harvest 6: below the digest's own
    // cost no round can go), then the paused harvest 7.
    uint64_t stamp = 0;
    log->before_harvest = [&](int harvest) {
        if (harvest < 2 || harvest > 5) return;
        for (uint64_t k = 0; k < 50; ++k) write_page(src.regions()[0], (harvest * 50 + k) % 1024, ++stamp, *log);
    };
    std::vector<uint64_t> remaining;
    const MigrationRun run = migrate({.downtime_limit = 0ms, .max_time = 60s, .progress = [&](const Progress& p) {
                                          remaining.push_back(p.remaining_pages);
                                      }});
    const Outcome& o = run.outcome;
    ASSERT_EQ(o.status, OutcomeStatus::completed) << o.message;
    EXPECT_EQ(remaining, (std::vector<uint64_t>{50, 50, 50, 50, 0}));
    EXPECT_EQ(o.rounds, 6u);  // the full pass, four dirty passes, the empty paused pass
    EXPECT_EQ(o.round_syncs, 7u);
    EXPECT_EQ(o.pages_sent, src.pages() + 4 * 50);
    EXPECT_GT(o.estimated_downtime.count(), 0) << "the switchover's digest costs time whatever is left";
    EXPECT_LT(o.estimated_downtime, 1s) << "4 MiB to hash";
    EXPECT_EQ(tracker.counters().rounds, 6u);
    EXPECT_EQ(difference(src, dst), "");
    ASSERT_TRUE(run.received->ok()) << run.received->error().message();
    EXPECT_EQ(run.received->value().rounds, 6u);
}

TEST_F(PrecopyLoopback, HotPagesDeferredToTheFinalRoundAreSentThereAndTheCopyMatches) {
    // No guest thread: at harvests 2..6 the same 80 hot pages and 40 new cold
    // ones are written. At 4 MiB/s a 100 ms limit carries about 100 pages, so
    // no round fits until the writes stop; from the second dirty round on,
    // deferral keeps hot pages back (as many as fit beside the cold ones).
    // They are written again after being kept, so a final round that did not
    // send them would leave the receiver a stale copy and a wrong digest.
    uint64_t stamp = 0;
    std::vector<int> sends(1024);
    log->before_harvest = [&](int harvest) {
        if (harvest < 2 || harvest > 6) return;
        for (uint64_t p = 0; p < 80; ++p) write_page(src.regions()[0], p, ++stamp, *log);
        for (uint64_t k = 0; k < 40; ++k) write_page(src.regions()[0], 100 + harvest * 40 + k, ++stamp, *log);
    };
    const MigrationRun run = migrate({.bandwidth = 4ULL << 20,
                                      .downtime_limit = 100ms,
                                      .max_time = 60s,
                                      .defer_hot = HotPageDeferralOptions{.rounds = 2}});
    const Outcome& o = run.outcome;
    ASSERT_EQ(o.status, OutcomeStatus::completed) << o.message;
    ASSERT_TRUE(run.received->ok()) << run.received->error().message();
    EXPECT_TRUE(run.received->value().digest_match);
    EXPECT_EQ(difference(src, dst), "");
    EXPECT_GT(o.deferred_pages, 0u) << "the hot pages were never deferred: the test proves nothing";
    // Without deferral every dirty round sends all 120 pages it found.
    EXPECT_LT(o.pages_sent, src.pages() + 5 * 120) << "deferral sent nothing less";
}

TEST_F(PrecopyLoopback, DeferralRoundsOutsideOneToEightAreAnErrorBeforeAnythingIsSent) {
    const MigrationRun run = migrate({.max_time = 10s, .defer_hot = HotPageDeferralOptions{.rounds = 9}});
    EXPECT_EQ(run.outcome.status, OutcomeStatus::error);
    EXPECT_NE(run.outcome.message.find("outside 1..8"), std::string::npos) << run.outcome.message;
    EXPECT_EQ(run.outcome.bytes_on_wire, 0u);
}

// --- migrations that fail, and leave the guest running ------------------------------------------

TEST_F(PrecopyLoopback, ReceiverClosingAtOnceIsReceiverFailed) {
    guest.start();
    const MigrationRun run = migrate({.max_time = 30s}, [](int fd, MigrationRun&, std::atomic<bool>&) {
        uint8_t head[10];
        (void)!::read(fd, head, sizeof head);
        ::close(fd);
    });
    EXPECT_EQ(run.outcome.status, OutcomeStatus::receiver_failed) << run.outcome.message;
    EXPECT_NE(run.outcome.message.find("the receiver"), std::string::npos) << run.outcome.message;
    EXPECT_EQ(guest.pauses(), 0);
    expect_guest_running_again();
}

TEST_F(PrecopyLoopback, ReceiverClosingDuringSwitchoverResumesTheGuest) {
    std::atomic<bool> paused{false};
    guest.on_pause = [&] { paused = true; };
    guest.start();
    const MigrationRun run =
        migrate({.downtime_limit = 10s, .max_time = 30s}, [&](int fd, MigrationRun&, std::atomic<bool>&) {
            drain(fd, paused);  // a receiver that reads along, then dies at the switchover
            ::close(fd);
        });
    EXPECT_EQ(run.outcome.status, OutcomeStatus::receiver_failed) << run.outcome.message;
    EXPECT_EQ(guest.pauses(), 1);
    EXPECT_EQ(guest.resumes(), 1);
    EXPECT_GT(run.outcome.downtime.count(), 0);  // how long the guest stood still
    expect_guest_running_again();
}

TEST_F(PrecopyLoopback, ReceiverThatStopsReadingEndsAtMaxTime) {
    guest.start();
    const auto max_time = 1s;
    const MigrationRun run = migrate({.max_time = max_time}, [](int fd, MigrationRun&, std::atomic<bool>& sender_done) {
        while (!sender_done) std::this_thread::sleep_for(10ms);  // never reads
        ::close(fd);
    });
    EXPECT_EQ(run.outcome.status, OutcomeStatus::timed_out) << run.outcome.message;
    EXPECT_NE(run.outcome.message.find("max_time of 1000 ms reached"), std::string::npos) << run.outcome.message;
    EXPECT_LT(run.wall, max_time + 3s);
    EXPECT_EQ(guest.pauses(), 0);
    expect_guest_running_again();
}

TEST_F(PrecopyLoopback, ReceiverThatStopsReadingEndsAtIoTimeoutWithoutMaxTime) {
    const MigrationRun run = migrate({.io_timeout = 500ms}, [](int fd, MigrationRun&, std::atomic<bool>& sender_done) {
        while (!sender_done) std::this_thread::sleep_for(10ms);
        ::close(fd);
    });
    EXPECT_EQ(run.outcome.status, OutcomeStatus::timed_out) << run.outcome.message;
    EXPECT_NE(run.outcome.message.find("for 500 ms (io_timeout)"), std::string::npos) << run.outcome.message;
    EXPECT_LT(run.wall, 500ms + 3s);
}

TEST_F(PrecopyLoopback, ReceiverThatNeverAnswersTimesOutAndResumes) {
    guest.start();
    const MigrationRun run =
        migrate({.downtime_limit = 10s, .io_timeout = 1s}, [](int fd, MigrationRun&, std::atomic<bool>& sender_done) {
            drain(fd, sender_done);  // reads it all, answers nothing
            ::close(fd);
        });
    EXPECT_EQ(run.outcome.status, OutcomeStatus::timed_out) << run.outcome.message;
    EXPECT_NE(run.outcome.message.find("waiting for the receiver's acknowledgement"), std::string::npos)
        << run.outcome.message;
    EXPECT_EQ(guest.pauses(), 1);
    EXPECT_LT(run.wall, 20s);
    expect_guest_running_again();
}

TEST_F(PrecopyLoopback, CorruptedBytesAreRefusedAndNamed) {
    // Flip one byte deep in round 1, then one in the header's version field.
    for (const uint64_t flip_at : {300000ULL, 9ULL}) {
        SCOPED_TRACE("flipped byte " + std::to_string(flip_at));
        Ram fresh(0xAA);
        const MigrationRun run = migrate({.max_time = 30s}, [&](int fd, MigrationRun& r, std::atomic<bool>&) {
            auto [near, far] = socket_pair();
            std::thread receiver([&, far = far] {
                r.received.emplace(Receiver(fresh.regions(), {.io_timeout = 10s}).run(far));
                ::close(far);
            });
            std::thread up([&, near = near] { pump(near, fd, std::nullopt); });
            pump(fd, near, flip_at);
            up.join();
            receiver.join();
            ::close(near);
            ::close(fd);
        });
        ASSERT_TRUE(run.received && !run.received->ok()) << "the receiver accepted a corrupt stream";
        const std::string what = run.received->error().what;
        EXPECT_NE(what.find(" at byte "), std::string::npos) << what;
        if (flip_at == 9) {
            const uint32_t flipped = wire::version ^ 0xFF00;  // byte 9 inverted
            EXPECT_EQ(what, "stream header at byte 8: unsupported stream version " + std::to_string(flipped) +
                                " (this side speaks version " + std::to_string(wire::version) + ")");
        } else {
            EXPECT_NE(what.find("checksum mismatch (stream corrupt)"), std::string::npos) << what;
        }
        const OutcomeStatus status = run.outcome.status;
        EXPECT_TRUE(status == OutcomeStatus::rejected_by_receiver || status == OutcomeStatus::receiver_failed)
            << to_string(status) << ": " << run.outcome.message;
        if (status == OutcomeStatus::rejected_by_receiver) {
            EXPECT_NE(run.outcome.message.find(what), std::string::npos) << run.outcome.message;
        }
        EXPECT_EQ(guest.pauses(), guest.resumes());
    }
}

TEST_F(PrecopyLoopback, HarvestFailureAtSwitchoverIsAnErrorAndResumes) {
    log->fail_harvest = 3;  // 1: clean start, 2: after round 1 (switch over), 3: the paused sync
    const MigrationRun run = migrate({.downtime_limit = 10s, .max_time = 30s});
    EXPECT_EQ(run.outcome.status, OutcomeStatus::error) << run.outcome.message;
    EXPECT_NE(run.outcome.message.find("scripted harvest failure"), std::string::npos) << run.outcome.message;
    EXPECT_EQ(guest.pauses(), 1);
    EXPECT_EQ(guest.resumes(), 1);
    ASSERT_TRUE(run.received && !run.received->ok());  // the stream just stopped
    EXPECT_NE(run.received->error().what.find("the stream ended"), std::string::npos) << run.received->error().what;
}

TEST_F(PrecopyLoopback, MemoryThatDoesNotMatchTheTrackerIsRefused) {
    std::vector<GuestMemory> wrong = src.regions();
    wrong[1].pages = 260;
    auto [a, b] = socket_pair();
    Sender sender(tracker, rounds, wrong, guest, {});
    const Outcome o = sender.run(a);
    EXPECT_EQ(o.status, OutcomeStatus::error);
    EXPECT_EQ(o.message, "bad guest memory: region 1 has 260 pages of 4096 bytes, the tracker 259 of 4096");
    EXPECT_EQ(guest.pauses(), 0);
    ::close(a);
    ::close(b);
}
