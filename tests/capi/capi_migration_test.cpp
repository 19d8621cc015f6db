// The migration loop through the C ABI: the watcher syncs in the background,
// the throttle calls the VMM back, and a precopy migration over a socketpair
// (plain and TLS PSK) leaves the destination equal to the source, page for
// page, while a guest thread keeps writing uffd-tracked memory.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "support/capi_memory.hpp"
#include "dtrack/dtrack.h"
#include "support/tls_files.hpp"

namespace {

using capi_test::Pages;
using namespace std::chrono_literals;

// Waits for `done` to hold; the deadline only guards against a hang.
template <typename F>
bool eventually(F&& done) {
    for (auto until = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < until;
         std::this_thread::sleep_for(5ms))
        if (done()) return true;
    return done();
}

TEST(CApiMigration, TheWatcherSyncsInTheBackgroundWhenARoundOutlastsTheThreshold) {
    Pages pages(64);
    CAPI_UFFD_OR_SKIP(t, pages);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(t.tracker, &rounds), 0);
    dt_watcher_opts o = {.sz = sizeof o, .poll_ms = 5, .threshold_ms = 20};
    dt_watcher* watcher = nullptr;
    ASSERT_EQ(dt_watcher_create(rounds, &o, &watcher), 0) << dt_last_error();

    ASSERT_EQ(dt_rounds_start_migration(rounds), 0);
    ASSERT_EQ(dt_watcher_start(watcher), 0);
    ASSERT_EQ(dt_rounds_begin_round(rounds), 0);  // round 1: the watcher leaves it alone
    ASSERT_EQ(dt_rounds_end_round(rounds), 0);
    ASSERT_EQ(dt_rounds_begin_round(rounds), 0);  // round 2 runs on, with no sync
    for (uint64_t p = 0; p < 8; ++p) pages.write(p, 3);

    dt_watcher_counters wc = {.sz = sizeof wc};
    EXPECT_TRUE(eventually([&] { return dt_watcher_get_counters(watcher, &wc) == 0 && wc.background_syncs > 0; }))
        << "no background sync";
    dt_watcher_stop(watcher);
    EXPECT_EQ(wc.failed_syncs, 0u);
    EXPECT_GE(dt_rounds_syncs(rounds, DT_SYNC_BACKGROUND), 1u);
    EXPECT_EQ(dt_rounds_syncs(rounds, DT_SYNC_ROUND), 0u);
    dt_counters c = {.sz = sizeof c};
    ASSERT_EQ(dt_get_counters(t.tracker, &c), 0);
    EXPECT_EQ(c.pages, 8u) << "the background sync harvested the writes";
    dt_watcher_destroy(watcher);
    dt_rounds_destroy(rounds);
}

// QEMU 9.2's periodic trigger through the C ABI: round 2 runs on without a
// sync, and the timer's tick syncs; a trigger the library does not know is
// refused.
TEST(CApiMigration, ThePeriodicWatcherSyncsAtItsTimersTickAndAnUnknownTriggerIsRefused) {
    Pages pages(64);
    CAPI_UFFD_OR_SKIP(t, pages);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(t.tracker, &rounds), 0);
    dt_watcher* watcher = nullptr;
    dt_watcher_opts bad = {.sz = sizeof bad, .trigger = 7};
    EXPECT_EQ(dt_watcher_create(rounds, &bad, &watcher), -EINVAL);
    EXPECT_NE(std::string(dt_last_error()).find("dt_watcher_opts.trigger is 7"), std::string::npos) << dt_last_error();
    EXPECT_EQ(watcher, nullptr);

    dt_watcher_opts o = {.sz = sizeof o, .poll_ms = 5, .threshold_ms = 20, .trigger = DT_SYNC_PERIODIC};
    ASSERT_EQ(dt_watcher_create(rounds, &o, &watcher), 0) << dt_last_error();
    ASSERT_EQ(dt_rounds_start_migration(rounds), 0);
    ASSERT_EQ(dt_watcher_start(watcher), 0);
    ASSERT_EQ(dt_rounds_begin_round(rounds), 0);
    ASSERT_EQ(dt_rounds_end_round(rounds), 0);
    ASSERT_EQ(dt_rounds_begin_round(rounds), 0);
    for (uint64_t p = 0; p < 8; ++p) pages.write(p, 3);
    dt_watcher_counters wc = {.sz = sizeof wc};
    EXPECT_TRUE(eventually([&] { return dt_watcher_get_counters(watcher, &wc) == 0 && wc.background_syncs > 0; }))
        << "no periodic sync";
    dt_watcher_stop(watcher);
    dt_counters c = {.sz = sizeof c};
    ASSERT_EQ(dt_get_counters(t.tracker, &c), 0);
    EXPECT_EQ(c.pages, 8u) << "the periodic sync harvested the writes";
    dt_watcher_destroy(watcher);
    dt_rounds_destroy(rounds);
}

TEST(CApiMigration, TheThrottleCallsTheVmmBackWhenTheGuestOutrunsTheTransfer) {
    Pages pages(512);
    CAPI_UFFD_OR_SKIP(t, pages);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(t.tracker, &rounds), 0);
    struct Applied {
        std::vector<int> pcts;
    } applied;
    dt_throttle_opts o = {.sz = sizeof o, .min_period_ms = 1};
    dt_throttle* throttle = nullptr;
    ASSERT_EQ(dt_throttle_create(
                  rounds, &o, [](void* user, int pct) { static_cast<Applied*>(user)->pcts.push_back(pct); }, &applied,
                  &throttle),
              0)
        << dt_last_error();

    ASSERT_EQ(dt_rounds_start_migration(rounds), 0);
    ASSERT_EQ(dt_rounds_sync(rounds, DT_SYNC_ROUND, nullptr), 0);  // opens the first period
    // Two periods each dirtying 100 pages against 1 page sent: both high,
    // so the throttle takes its first step (20%) at the second.
    for (uint64_t period = 0; period < 2; ++period) {
        for (uint64_t p = 0; p < 100; ++p) pages.write(period * 100 + p, 1);
        ASSERT_EQ(dt_rounds_add_transferred(rounds, capi_test::page_bytes), 0);
        std::this_thread::sleep_for(3ms);  // a period shorter than min_period is not judged yet
        ASSERT_EQ(dt_rounds_sync(rounds, DT_SYNC_ROUND, nullptr), 0) << dt_last_error();
    }
    EXPECT_EQ(applied.pcts, std::vector<int>{20});
    EXPECT_EQ(dt_throttle_pct(throttle), 20);
    EXPECT_FALSE(dt_throttle_at_max(throttle));
    ASSERT_EQ(dt_throttle_reset(throttle), 0);
    EXPECT_EQ(applied.pcts, (std::vector<int>{20, 0}));
    dt_throttle_destroy(throttle);
    // Destroyed: a period after it calls nobody back.
    for (uint64_t p = 200; p < 300; ++p) pages.write(p, 1);
    std::this_thread::sleep_for(3ms);
    ASSERT_EQ(dt_rounds_sync(rounds, DT_SYNC_ROUND, nullptr), 0);
    EXPECT_EQ(applied.pcts.size(), 2u);
    dt_rounds_destroy(rounds);
}

// A guest: a thread writing stamps into random pages until paused, as a
// vCPU would; the sender pauses it for the switchover.
class WritingGuest {
public:
    explicit WritingGuest(const Pages& pages) : pages_(pages), thread_([this] { run(); }) {}
    ~WritingGuest() {
        {
            std::lock_guard lock(mutex_);
            quit_ = true;
            paused_ = false;
        }
        cv_.notify_all();
        thread_.join();
    }
    static void pause(void* self) { static_cast<WritingGuest*>(self)->set_paused(true); }
    static void resume(void* self) { static_cast<WritingGuest*>(self)->set_paused(false); }
    uint64_t writes() const { return writes_; }
    // After round 1's sync, a word in each of the first 16 pages: round 1
    // sent (and cached) them, so the next round re-sends them whatever the
    // guest thread managed to write meanwhile. Parked meanwhile, so that no
    // two threads write one word.
    static void rewrite_after_round_one(void* self, const dt_progress* p) {
        if (p->round != 1) return;
        auto* guest = static_cast<WritingGuest*>(self);
        guest->set_paused(true);
        for (uint64_t page = 0; page < 16; ++page) {
            const uint64_t stamp = ~page;
            std::memcpy(guest->pages_.page(page), &stamp, 8);
        }
        guest->set_paused(false);
    }

private:
    void set_paused(bool paused) {
        std::unique_lock lock(mutex_);
        paused_ = paused;
        cv_.notify_all();
        if (paused) cv_.wait(lock, [&] { return parked_ || quit_; });  // no write after pause returns
    }
    void run() {
        std::mt19937_64 rng(42);
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                parked_ = paused_;
                cv_.notify_all();
                cv_.wait(lock, [&] { return !paused_ || quit_; });
                parked_ = false;
                if (quit_) return;
            }
            const uint64_t page = rng() % pages_.count(), stamp = ++writes_;
            std::memcpy(pages_.page(page) + (stamp % 512) * 8, &stamp, 8);
            if (stamp % 64 == 0) std::this_thread::sleep_for(100us);
        }
    }

    const Pages& pages_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool paused_ = false, parked_ = false, quit_ = false;
    std::atomic<uint64_t> writes_{0};
    std::thread thread_;
};

// What a test changes in dt_send_opts (sz 0: sizeof), and the result it gets back.
struct SendTuning {
    uint32_t compression = DT_COMPRESSION_UNSET;
    bool compress = false;
    uint64_t xbzrle_cache_bytes = 0;
    bool rewrite_after_round_one = false;  // pages round 1 sent are sure to go again
    size_t opts_sz = 0, result_sz = 0;
    dt_send_result* result = nullptr;
};

// Migrates `pages` (while a guest writes them) into a fresh copy over a
// socketpair, with these TLS settings on each end.
void migrate_and_compare(const dt_tls& sender_tls, const dt_tls& receiver_tls, const SendTuning& tuning = {}) {
    Pages source(1024), destination(1024);
    for (uint64_t p = 0; p < source.count(); p += 3)
        std::memset(source.page(p), int(p % 251) + 1, capi_test::page_bytes);
    CAPI_UFFD_OR_SKIP(t, source);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(t.tracker, &rounds), 0);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);

    dt_receive_result received = {.sz = sizeof received};
    int receive_rc = 1;
    std::string receive_error;
    std::thread receiver([&] {
        const dt_memory to = {.region = 0,
                              .host = destination.data(),
                              .pages = destination.count(),
                              .page_size = 4096,
                              .guest_phys_base = 0};
        dt_receive_opts o = {.sz = sizeof o, .tls = receiver_tls};
        receive_rc = dt_precopy_receive(&to, 1, fds[1], &o, &received);
        receive_error = dt_last_error();
    });

    dt_send_result sent = {.sz = tuning.result_sz ? tuning.result_sz : sizeof sent};
    if (tuning.result_sz)
        std::memset(reinterpret_cast<char*>(&sent) + tuning.result_sz, 0xee, sizeof sent - tuning.result_sz);
    int send_rc;
    {
        WritingGuest guest(source);
        // The guest is running before the migration starts: on a busy
        // machine a 4 MiB migration may otherwise end before its thread runs.
        while (guest.writes() < 64) std::this_thread::sleep_for(1ms);
        const dt_memory from = {.region = uint32_t(t.region),
                                .host = source.data(),
                                .pages = source.count(),
                                .page_size = 4096,
                                .guest_phys_base = 0};
        dt_send_opts o = {.sz = sizeof o,
                          .pause_vcpus = WritingGuest::pause,
                          .resume_vcpus = WritingGuest::resume,
                          .user = &guest,
                          .downtime_limit_ms = 1000,
                          .compress = tuning.compress,
                          .tls = sender_tls,
                          .compression = tuning.compression,
                          .xbzrle_cache_bytes = tuning.xbzrle_cache_bytes};
        if (tuning.rewrite_after_round_one) o.progress = WritingGuest::rewrite_after_round_one;
        if (tuning.opts_sz) o.sz = tuning.opts_sz;
        send_rc = dt_precopy_send(rounds, &from, 1, fds[0], &o, &sent);
        EXPECT_EQ(send_rc, 0) << dt_last_error();
        EXPECT_GT(guest.writes(), 0u) << "the guest never wrote during the migration";
    }  // the guest stays paused after a completed migration, then quits
    receiver.join();
    ::close(fds[0]);
    ::close(fds[1]);
    ASSERT_EQ(receive_rc, 0) << receive_error;
    EXPECT_EQ(sent.status, DT_SEND_COMPLETED);
    EXPECT_GE(sent.rounds, 1u);
    EXPECT_EQ(received.pages, sent.pages_sent);
    for (uint64_t p = 0; p < source.count(); ++p)
        ASSERT_EQ(std::memcmp(source.page(p), destination.page(p), capi_test::page_bytes), 0)
            << "page " << p << " differs";
    if (tuning.result) *tuning.result = sent;
    dt_rounds_destroy(rounds);
}

TEST(CApiMigration, PrecopyOverASocketpairCopiesMemoryPageForPage) { migrate_and_compare({}, {}); }

TEST(CApiMigration, PrecopyWithZstdAndTheSentPageCacheCountsDeltas) {
    dt_send_result sent{};
    migrate_and_compare({}, {},
                        {.compression = DT_COMPRESSION_ZSTD,
                         .xbzrle_cache_bytes = 8 << 20,
                         .rewrite_after_round_one = true,
                         .result = &sent});
    EXPECT_GE(sent.cache_hits, 16u);
    EXPECT_GE(sent.delta_pages, 16u);
    EXPECT_EQ(sent.cache_hits + sent.cache_misses, sent.pages_sent - 1024) << "every page after round 1 is looked up";
}

TEST(CApiMigration, CallersOfTheOlderSizedStructsStillMigrate) {
    // A caller built before the compression fields: `compress` is zlib, and
    // its smaller result struct gets no byte past its end.
    dt_send_result sent{};
    migrate_and_compare({}, {},
                        {.compress = true,
                         .opts_sz = offsetof(dt_send_opts, compression),
                         .result_sz = offsetof(dt_send_result, delta_pages),
                         .result = &sent});
    EXPECT_EQ(sent.sz, offsetof(dt_send_result, delta_pages));
    EXPECT_EQ(sent.delta_pages, 0xeeeeeeeeeeeeeeeeULL) << "written past the caller's sz";
    EXPECT_EQ(sent.cache_overflows, 0xeeeeeeeeeeeeeeeeULL) << "written past the caller's sz";
}

TEST(CApiMigration, ContradictoryOrUnknownSendOptionsAreRefusedBeforeAnythingIsSent) {
    Pages source(16);
    CAPI_UFFD_OR_SKIP(t, source);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(t.tracker, &rounds), 0);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    const dt_memory from = {.region = 0, .host = source.data(), .pages = 16, .page_size = 4096, .guest_phys_base = 0};
    struct {
        dt_send_opts o;
        const char* says;
    } cases[] = {
        {{.sz = sizeof(dt_send_opts), .compression = 9}, "dt_send_opts.compression is 9"},
        {{.sz = sizeof(dt_send_opts), .compress = true, .compression = DT_COMPRESSION_ZSTD},
         "dt_send_opts.compress asks for zlib and compression for zstd"},
        {{.sz = sizeof(dt_send_opts), .compression = DT_COMPRESSION_ZLIB, .compression_level = 10},
         "dt_send_opts.compression_level 10 is outside zlib's levels 1..9"},
        {{.sz = sizeof(dt_send_opts), .defer_hot_rounds = 9}, "dt_send_opts.defer_hot_rounds is 9"},
        {{.sz = sizeof(dt_send_opts), .defer_hot_rounds = 0xffffffffu}, "dt_send_opts.defer_hot_rounds is 4294967295"},
    };
    for (auto& c : cases) {
        c.o.pause_vcpus = c.o.resume_vcpus = [](void*) {};
        EXPECT_EQ(dt_precopy_send(rounds, &from, 1, fds[0], &c.o, nullptr), -EINVAL) << c.says;
        EXPECT_NE(std::string(dt_last_error()).find(c.says), std::string::npos) << dt_last_error();
    }
    EXPECT_EQ(dt_rounds_syncs(rounds, DT_SYNC_ROUND), 0u) << "a refused send synced";
    char byte;
    EXPECT_EQ(::recv(fds[1], &byte, 1, MSG_DONTWAIT), -1) << "a refused send wrote to the socket";
    ::close(fds[0]);
    ::close(fds[1]);
    dt_rounds_destroy(rounds);
}

TEST(CApiMigration, PrecopyOverTlsPskCopiesMemoryPageForPage) {
    const std::string keys = dtrack_test::psk_file("capi", "qemu:" + dtrack_test::psk_key(1) + "\n");
    migrate_and_compare({.psk_file = keys.c_str()}, {.psk_file = keys.c_str()});
}

TEST(CApiMigration, AWrongPskIsRefusedAndTheGuestRunsOn) {
    const std::string mine = dtrack_test::psk_file("capi-mine", "qemu:" + dtrack_test::psk_key(2) + "\n");
    const std::string theirs = dtrack_test::psk_file("capi-theirs", "qemu:" + dtrack_test::psk_key(3) + "\n");
    Pages source(64), destination(64);
    std::memset(destination.data(), 0x5a, 64 * capi_test::page_bytes);
    CAPI_UFFD_OR_SKIP(t, source);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(t.tracker, &rounds), 0);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    int receive_rc = 0;
    std::thread receiver([&] {
        const dt_memory to = {
            .region = 0, .host = destination.data(), .pages = 64, .page_size = 4096, .guest_phys_base = 0};
        dt_receive_opts o = {.sz = sizeof o, .io_timeout_ms = 5000, .tls = {.psk_file = theirs.c_str()}};
        receive_rc = dt_precopy_receive(&to, 1, fds[1], &o, nullptr);
        ::shutdown(fds[1], SHUT_RDWR);
    });
    struct Calls {
        int pauses = 0, resumes = 0;
    } calls;
    const dt_memory from = {.region = 0, .host = source.data(), .pages = 64, .page_size = 4096, .guest_phys_base = 0};
    dt_send_opts o = {.sz = sizeof o,
                      .pause_vcpus = [](void* c) { ++static_cast<Calls*>(c)->pauses; },
                      .resume_vcpus = [](void* c) { ++static_cast<Calls*>(c)->resumes; },
                      .user = &calls,
                      .io_timeout_ms = 5000,
                      .tls = {.psk_file = mine.c_str()}};
    dt_send_result sent = {.sz = sizeof sent};
    EXPECT_LT(dt_precopy_send(rounds, &from, 1, fds[0], &o, &sent), 0);
    EXPECT_STRNE(dt_last_error(), "");
    EXPECT_NE(sent.status, DT_SEND_COMPLETED);
    receiver.join();
    EXPECT_LT(receive_rc, 0);
    EXPECT_EQ(calls.pauses, calls.resumes) << "the guest was left paused";
    for (uint64_t i = 0; i < 64 * capi_test::page_bytes; ++i)
        ASSERT_EQ(destination.data()[i], 0x5a) << "a refused sender wrote the destination at byte " << i;
    ::close(fds[0]);
    ::close(fds[1]);
    dt_rounds_destroy(rounds);
}

}  // namespace
