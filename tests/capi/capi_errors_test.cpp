// The C ABI's error convention: bad input is a negative errno, and
// dt_last_error() names the cause and the fix; nothing is changed; no
// exception leaves the library; errors are per thread.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "capi/capi_memory.hpp"
#include "dtrack/dtrack.h"
#include "support/sanitizers.hpp"

namespace {

using capi_test::Pages;
using capi_test::take_pages;

// A call that must be refused with -EINVAL and a message holding `cause` and a fix.
struct BadCall {
    const char* what;
    std::function<int64_t()> call;
    const char* cause;
};

void expect_refused(const BadCall& c) {
    const int64_t rc = c.call();
    EXPECT_EQ(rc, -EINVAL) << c.what << ": " << dt_last_error();
    const std::string message = dt_last_error();
    EXPECT_NE(message.find(c.cause), std::string::npos) << c.what << ": '" << message << "' does not name the cause";
    EXPECT_NE(message.find("; fix: "), std::string::npos) << c.what << ": '" << message << "' has no fix";
    EXPECT_STRNE(dt_last_error_fix(), "") << c.what;
}

TEST(CApiErrors, BadArgumentsAreEinvalWithTheCauseAndTheFix) {
    Pages pages(128);
    CAPI_UFFD_OR_SKIP(t, pages);
    dt_tracker* tr = t.tracker;
    uint64_t word = 0;
    dt_ring* ring = nullptr;
    dt_watcher* watcher = nullptr;
    dt_throttle* throttle = nullptr;
    dt_rounds* rounds = nullptr;
    dt_memory memory = {.region = 0, .host = pages.data(), .pages = pages.count(), .page_size = 4096,
                        .guest_phys_base = 0};
    const std::vector<BadCall> calls = {
        {"NULL out", [] { return dt_tracker_create(nullptr); }, "`out` is NULL"},
        {"NULL tracker", [] { return dt_sync(nullptr, DT_SYNC_ROUND, nullptr); }, "`tracker` is NULL"},
        {"empty memslot", [&] { return dt_add_memslot(tr, "s", 0, 0, 0); }, "has 0 pages"},
        {"memslot KVM cannot have", [&] { return dt_add_memslot(tr, "s", 5u << 16, 0, 16); }, "is not one KVM can have"},
        {"unaligned host range", [&] { return dt_add_host_range(tr, "h", pages.data() + 1, 1); }, "not a range of whole pages"},
        {"unknown sync kind", [&] { return dt_sync(tr, dt_sync_kind(7), nullptr); }, "sync kind 7"},
        {"no such region", [&] { return dt_take_pages(tr, 9, 0, 1, [](void*, uint64_t) {}, nullptr); }, "no region 9"},
        {"NULL page callback", [&] { return dt_take_pages(tr, 0, 0, 1, nullptr, nullptr); }, "`fn` is NULL"},
        {"bitmap too short", [&] { return dt_take_bitmap(tr, 0, 0, 128, &word, 1); }, "the bitmap has 1 words"},
        {"counters without sz", [&] {
             dt_counters c = {};
             return dt_get_counters(tr, &c);
         }, "set sz = sizeof(struct dt_counters)"},
        {"ring options without sz", [&] {
             dt_ring_opts o = {};
             return dt_ring_enable(tr, -1, &o, &ring);
         }, "struct dt_ring_opts: sz is 0"},
        {"uffd on a missing region", [&] { return dt_uffd_track(tr, 3); }, "no region 3"},
        {"throttle beyond 99%", [&] {
             dt_rounds* r = nullptr;
             if (dt_rounds_create(tr, &r) != 0) return int64_t(1);
             dt_throttle_opts o = {.sz = sizeof o, .max_pct = 150};
             const int rc = dt_throttle_create(r, &o, [](void*, int) {}, nullptr, &throttle);
             dt_rounds_destroy(r);
             return int64_t(rc);
         }, "max_pct 150"},
        {"send without pause", [&] {
             if (dt_rounds_create(tr, &rounds) != 0) return int64_t(1);
             dt_send_opts o = {.sz = sizeof o};
             const int rc = dt_precopy_send(rounds, &memory, 1, -1, &o, nullptr);
             dt_rounds_destroy(rounds);
             return int64_t(rc);
         }, "pause_vcpus or resume_vcpus is NULL"},
        {"receive with two kinds of TLS", [&] {
             dt_receive_opts o = {.sz = sizeof o, .tls = {.x509_dir = "/x", .psk_file = "/y"}};
             return dt_precopy_receive(&memory, 1, -1, &o, nullptr);
         }, "both tls.x509_dir and tls.psk_file"},
        {"receive into nothing", [&] { return dt_precopy_receive(nullptr, 0, -1, nullptr, nullptr); }, "no regions"},
    };
    for (const BadCall& c : calls) expect_refused(c);
    EXPECT_EQ(ring, nullptr);
    EXPECT_EQ(watcher, nullptr);
    EXPECT_EQ(throttle, nullptr);
}

TEST(CApiErrors, ARefusedTakeTakesNothing) {
    Pages pages(128);
    CAPI_UFFD_OR_SKIP(t, pages);
    pages.write(100, 1);
    ASSERT_EQ(dt_sync(t.tracker, DT_SYNC_ROUND, nullptr), 0) << dt_last_error();
    uint64_t word = 0;
    EXPECT_EQ(dt_take_bitmap(t.tracker, uint32_t(t.region), 0, 128, &word, 1), -EINVAL);
    EXPECT_EQ(word, 0u);
    EXPECT_EQ(take_pages(t.tracker, uint32_t(t.region), pages.count()), std::set<uint64_t>{100})
        << "the refused take lost the page";
}

TEST(CApiErrors, RegionsAndSourcesAfterTheFirstSyncAreRefusedWithEbusy) {
    Pages pages(64), more(64);
    CAPI_UFFD_OR_SKIP(t, pages);
    ASSERT_EQ(dt_sync(t.tracker, DT_SYNC_ROUND, nullptr), 0) << dt_last_error();
    EXPECT_EQ(dt_add_host_range(t.tracker, "late", more.data(), more.count()), -EBUSY);
    EXPECT_NE(std::string(dt_last_error_fix()).find("before the first dt_sync"), std::string::npos) << dt_last_error();
    EXPECT_EQ(dt_uffd_track(t.tracker, uint32_t(t.region)), -EBUSY);
    dt_counters c = {.sz = sizeof c};
    ASSERT_EQ(dt_get_counters(t.tracker, &c), 0);
    EXPECT_EQ(c.regions, 1u) << "a refused region was added";
    EXPECT_EQ(c.sources, 1u) << "a refused source was added";
}

TEST(CApiErrors, ANewerCallersOptionsAreRefusedOnlyWhenTheySetAFieldThisLibraryDoesNotKnow) {
    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(tracker, &rounds), 0);
    struct {
        dt_watcher_opts known;
        uint64_t future_field;
    } newer = {};
    newer.known.sz = sizeof newer;
    dt_watcher* watcher = nullptr;
    EXPECT_EQ(dt_watcher_create(rounds, &newer.known, &watcher), 0) << "a newer field left at zero: " << dt_last_error();
    dt_watcher_destroy(watcher);
    watcher = nullptr;
    newer.future_field = 1;
    EXPECT_EQ(dt_watcher_create(rounds, &newer.known, &watcher), -EINVAL);
    EXPECT_NE(std::string(dt_last_error()).find("does not know"), std::string::npos) << dt_last_error();
    EXPECT_EQ(watcher, nullptr);
    dt_rounds_destroy(rounds);
    dt_tracker_destroy(tracker);
}

TEST(CApiErrors, OutOfMemoryIsEnomemNotAnExceptionAndAddsNothing) {
    if (dtrack_test::kSanitized)
        GTEST_SKIP() << "a sanitizer's allocator aborts on a 128 TiB request instead of throwing std::bad_alloc";
    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    // A memslot of 2^50 pages: its bitmap (128 TiB) cannot be allocated.
    EXPECT_EQ(dt_add_memslot(tracker, "huge", 0, 0, 1ULL << 50), -ENOMEM) << dt_last_error();
    EXPECT_NE(std::string(dt_last_error()).find("out of memory"), std::string::npos) << dt_last_error();
    dt_counters c = {.sz = sizeof c};
    ASSERT_EQ(dt_get_counters(tracker, &c), 0);
    EXPECT_EQ(c.regions, 0u);
    EXPECT_EQ(dt_add_memslot(tracker, "slot 0", 0, 0, 16), 0) << "the tracker is still usable: " << dt_last_error();
    dt_tracker_destroy(tracker);
}

TEST(CApiErrors, AKernelRefusalCarriesItsErrnoAndAMessage) {
    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    ASSERT_EQ(dt_add_memslot(tracker, "slot 0", 0, 0, 16), 0) << dt_last_error();
    const int not_a_vm = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    ASSERT_GE(not_a_vm, 0);
    dt_ring* ring = nullptr;
    const int rc = dt_ring_enable(tracker, not_a_vm, nullptr, &ring);
    EXPECT_LT(rc, 0);
    EXPECT_NE(rc, -EINVAL) << "the kernel's errno, not a refused argument: " << dt_last_error();
    EXPECT_STRNE(dt_last_error(), "");
    EXPECT_EQ(ring, nullptr);
    ::close(not_a_vm);
    dt_tracker_destroy(tracker);
}

TEST(CApiErrors, TheLastErrorIsPerThreadAndClearedByTheNextCall) {
    EXPECT_EQ(dt_tracker_create(nullptr), -EINVAL);
    const std::string mine = dt_last_error();
    ASSERT_FALSE(mine.empty());
    std::string other_thread = "unset";
    std::thread([&] { other_thread = dt_last_error(); }).join();
    EXPECT_EQ(other_thread, "") << "another thread saw this thread's error";
    EXPECT_EQ(dt_last_error(), mine) << "reading it changed it";
    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    EXPECT_STREQ(dt_last_error(), "") << "a call that succeeded left the old error";
    dt_tracker_destroy(tracker);
}

TEST(CApiErrors, HandlesMayBeDestroyedInAnyOrder) {
    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(tracker, &rounds), 0);
    dt_watcher* watcher = nullptr;
    ASSERT_EQ(dt_watcher_create(rounds, nullptr, &watcher), 0) << dt_last_error();
    ASSERT_EQ(dt_watcher_start(watcher), 0);
    dt_tracker_destroy(tracker);  // the rounds and the watcher still use it
    dt_rounds_destroy(rounds);
    EXPECT_EQ(dt_rounds_round(nullptr), 0u);
    dt_watcher_destroy(watcher);
    dt_tracker_destroy(nullptr);
}

TEST(CApiErrors, TheVersionIsTheHeadersAndTheLibrarys) {
    const std::string header = std::to_string(DT_VERSION_MAJOR) + "." + std::to_string(DT_VERSION_MINOR) + "." +
                               std::to_string(DT_VERSION_PATCH);
    EXPECT_EQ(std::string(dt_version()), header);
}

}  // namespace
