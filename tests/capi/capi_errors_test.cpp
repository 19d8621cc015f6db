// The C ABI's error convention: bad input is a negative errno, and
// dt_last_error() names the cause and the fix; nothing is changed; no
// exception leaves the library; errors are per thread.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/capi_memory.hpp"
#include "dtrack/dtrack.h"
#include "support/sanitizers.hpp"

namespace {

using capi_test::Pages;
using capi_test::take_pages;

// A call that must be refused with -EINVAL and a message that begins with
// the entry point's name and holds `cause` and a fix.
struct BadCall {
    const char* what;
    const char* entry;
    std::function<int64_t()> call;
    const char* cause;
};

void expect_refused(const BadCall& c) {
    const int64_t rc = c.call();
    EXPECT_EQ(rc, -EINVAL) << c.what << ": " << dt_last_error();
    const std::string message = dt_last_error();
    EXPECT_EQ(message.rfind(std::string(c.entry) + ": ", 0), 0u)
        << c.what << ": '" << message << "' does not begin with " << c.entry;
    EXPECT_NE(message.find(c.cause), std::string::npos) << c.what << ": '" << message << "' does not name the cause";
    EXPECT_NE(message.find("; fix: "), std::string::npos) << c.what << ": '" << message << "' has no fix";
    EXPECT_STRNE(dt_last_error_fix(), "") << c.what;
}

TEST(CApiErrors, BadArgumentsAreEinvalNamingTheEntryPointTheCauseAndTheFix) {
    Pages pages(128);
    CAPI_UFFD_OR_SKIP(t, pages);
    dt_tracker* tr = t.tracker;
    uint64_t word = 0;
    dt_ring* ring = nullptr;
    dt_watcher* watcher = nullptr;
    dt_throttle* throttle = nullptr;
    dt_rounds* rounds = nullptr;
    dt_memory memory = {
        .region = 0, .host = pages.data(), .pages = pages.count(), .page_size = 4096, .guest_phys_base = 0};
    const std::vector<BadCall> calls = {
        {"NULL out", "dt_tracker_create", [] { return dt_tracker_create(nullptr); }, "`out` is NULL"},
        {"NULL tracker", "dt_sync", [] { return dt_sync(nullptr, DT_SYNC_ROUND, nullptr); }, "`tracker` is NULL"},
        {"empty memslot", "dt_add_memslot", [&] { return dt_add_memslot(tr, "s", 0, 0, 0); }, "has 0 pages"},
        {"memslot KVM cannot have", "dt_add_memslot", [&] { return dt_add_memslot(tr, "s", 5u << 16, 0, 16); },
         "is not one KVM can have"},
        {"unaligned host range", "dt_add_host_range", [&] { return dt_add_host_range(tr, "h", pages.data() + 1, 1); },
         "not a range of whole pages"},
        {"unknown sync kind", "dt_sync", [&] { return dt_sync(tr, dt_sync_kind(7), nullptr); }, "sync kind 7"},
        {"no such region", "dt_take_pages",
         [&] {
             return dt_take_pages(
                 tr, 9, 0, 1, [](void*, uint64_t) {}, nullptr);
         },
         "no region 9"},
        {"NULL page callback", "dt_take_pages", [&] { return dt_take_pages(tr, 0, 0, 1, nullptr, nullptr); },
         "`fn` is NULL"},
        {"bitmap too short", "dt_take_bitmap", [&] { return dt_take_bitmap(tr, 0, 0, 128, &word, 1); },
         "the bitmap has 1 words"},
        {"counters without sz", "dt_get_counters",
         [&] {
             dt_counters c = {};
             return dt_get_counters(tr, &c);
         },
         "set sz = sizeof(struct dt_counters)"},
        {"ring options without sz", "dt_ring_enable",
         [&] {
             dt_ring_opts o = {};
             return dt_ring_enable(tr, -1, &o, &ring);
         },
         "struct dt_ring_opts: sz is 0"},
        {"uffd on a missing region", "dt_uffd_track", [&] { return dt_uffd_track(tr, 3); }, "no region 3"},
        {"throttle beyond 99%", "dt_throttle_create",
         [&] {
             dt_rounds* r = nullptr;
             if (dt_rounds_create(tr, &r) != 0) return int64_t(1);
             dt_throttle_opts o = {.sz = sizeof o, .max_pct = 150};
             const int rc = dt_throttle_create(
                 r, &o, [](void*, int) {}, nullptr, &throttle);
             dt_rounds_destroy(r);
             return int64_t(rc);
         },
         "max_pct 150"},
        {"send without pause", "dt_precopy_send",
         [&] {
             if (dt_rounds_create(tr, &rounds) != 0) return int64_t(1);
             dt_send_opts o = {.sz = sizeof o};
             const int rc = dt_precopy_send(rounds, &memory, 1, -1, &o, nullptr);
             dt_rounds_destroy(rounds);
             return int64_t(rc);
         },
         "pause_vcpus or resume_vcpus is NULL"},
        {"receive with two kinds of TLS", "dt_precopy_receive",
         [&] {
             dt_receive_opts o = {.sz = sizeof o, .tls = {.x509_dir = "/x", .psk_file = "/y"}};
             return dt_precopy_receive(&memory, 1, -1, &o, nullptr);
         },
         "both tls.x509_dir and tls.psk_file"},
        {"receive into nothing", "dt_precopy_receive",
         [&] { return dt_precopy_receive(nullptr, 0, -1, nullptr, nullptr); }, "no regions"},
        {"receive with a page size the wire cannot carry", "dt_precopy_receive",
         [&] {
             dt_memory odd = memory;
             odd.page_size = 1000;
             return dt_precopy_receive(&odd, 1, -1, nullptr, nullptr);
         },
         "memory[0] (region 0): page_size 1000 is not a power of two"},
        {"receive into a region listed twice", "dt_precopy_receive",
         [&] {
             const dt_memory twice[] = {memory, memory};
             return dt_precopy_receive(twice, 2, -1, nullptr, nullptr);
         },
         "memory[1] (region 0): region 0 is listed twice (also memory[0])"},
    };
    for (const BadCall& c : calls) expect_refused(c);
    EXPECT_EQ(ring, nullptr);
    EXPECT_EQ(watcher, nullptr);
    EXPECT_EQ(throttle, nullptr);
}

// A second region for a memslot would never get a dirty bit (each source
// files a slot's pages under one region); a range that wraps past 2^64
// holds no address.
TEST(CApiErrors, AMemslotAddedTwiceOrEndingPastTheAddressSpaceIsRefusedAndNothingIsAdded) {
    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    ASSERT_EQ(dt_add_memslot(tracker, "slot 7", 7, 1u << 20, 16), 0) << dt_last_error();
    const std::vector<BadCall> calls = {
        {"a memslot added twice", "dt_add_memslot", [&] { return dt_add_memslot(tracker, "again", 7, 2u << 20, 16); },
         "memslot 7 is already region 0 ('slot 7')"},
        {"a memslot past the end", "dt_add_memslot",
         [&] { return dt_add_memslot(tracker, "wraps", 8, ~0ULL - 4095, 2); },
         "2 pages of 4096 bytes from 18446744073709547520 run past the end of the 64-bit address space"},
        {"a host range past the end", "dt_add_host_range",
         [&] { return dt_add_host_range(tracker, "wraps", reinterpret_cast<void*>(~0ULL - 4095), 2); },
         "run past the end of the 64-bit address space"},
    };
    for (const BadCall& c : calls) expect_refused(c);
    dt_counters c = {.sz = sizeof c};
    ASSERT_EQ(dt_get_counters(tracker, &c), 0);
    EXPECT_EQ(c.regions, 1u) << "a refused region was added";
    // The last page of the address space is a page like any other.
    EXPECT_EQ(dt_add_memslot(tracker, "top", 8, ~0ULL - 4095, 1), 1) << dt_last_error();
    dt_tracker_destroy(tracker);
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
    EXPECT_EQ(dt_watcher_create(rounds, &newer.known, &watcher), 0)
        << "a newer field left at zero: " << dt_last_error();
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

// A refusal of the kernel carries its errno, told in words: the fd is not
// open, or not a KVM VM's (the ring used to say the kernel had no dirty ring,
// whatever the errno; the log accepted any fd until its first sync).
TEST(CApiErrors, ARingOrLogOnAnFdThatIsNoVmSaysWhatTheFdIs) {
    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    ASSERT_EQ(dt_add_memslot(tracker, "slot 0", 0, 0, 16), 0) << dt_last_error();
    const int not_a_vm = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    ASSERT_GE(not_a_vm, 0);
    const struct {
        int fd, err;
        std::string says;
    } cases[] = {{-1, EBADF, "vm_fd -1 is not an open file descriptor"},
                 {not_a_vm, ENOTTY, "vm_fd " + std::to_string(not_a_vm) + " is not a KVM VM"}};
    for (const auto& c : cases) {
        dt_ring* ring = nullptr;
        dt_log* log = nullptr;
        const std::pair<std::string, std::function<int()>> calls[] = {
            {"dt_ring_enable", [&] { return dt_ring_enable(tracker, c.fd, nullptr, &ring); }},
            {"dt_log_enable", [&] { return dt_log_enable(tracker, c.fd, nullptr, &log); }},
        };
        for (const auto& [entry, call] : calls) {
            EXPECT_EQ(call(), -c.err) << entry << " on fd " << c.fd << ": " << dt_last_error();
            const std::string message = dt_last_error();
            EXPECT_EQ(message.rfind(entry + ": " + c.says, 0), 0u) << message;
            EXPECT_NE(message.find("fix: pass the fd KVM_CREATE_VM returned"), std::string::npos) << message;
        }
        EXPECT_EQ(ring, nullptr);
        EXPECT_EQ(log, nullptr);
    }
    dt_counters counters = {.sz = sizeof counters};
    ASSERT_EQ(dt_get_counters(tracker, &counters), 0);
    EXPECT_EQ(counters.sources, 0u) << "a refused source was added";
    ::close(not_a_vm);
    dt_tracker_destroy(tracker);
}

// poll() ignores a negative fd and a listening or datagram socket never
// brings a stream: dt_precopy_receive waited out its io_timeout on each
// before saying it timed out. Each is refused at once with its errno.
TEST(CApiErrors, AMigrationOverAnFdThatIsNoConnectedStreamSocketIsRefusedAtOnce) {
    Pages pages(16);
    const dt_memory memory = {
        .region = 0, .host = pages.data(), .pages = pages.count(), .page_size = 4096, .guest_phys_base = 0};
    const int not_a_socket = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    int datagrams[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, datagrams), 0);
    const int listening = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address = {.sun_family = AF_UNIX, .sun_path = {}};  // Linux: an autobound abstract address
    ASSERT_EQ(::bind(listening, reinterpret_cast<sockaddr*>(&address), sizeof(sa_family_t)), 0);
    ASSERT_EQ(::listen(listening, 1), 0);
    const struct {
        int fd, err;
        const char* says;
    } cases[] = {{-1, EBADF, "fd -1 is not an open file descriptor"},
                 {not_a_socket, ENOTSOCK, "is not a socket"},
                 {datagrams[0], EPROTOTYPE, "is not a stream socket"},
                 {listening, ENOTCONN, "is a socket that is not connected"}};
    const dt_receive_opts options = {.sz = sizeof options, .io_timeout_ms = 4000};
    for (const auto& c : cases) {
        const auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(dt_precopy_receive(&memory, 1, c.fd, &options, nullptr), -c.err) << c.says << ": " << dt_last_error();
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(options.io_timeout_ms))
            << c.says << ": it waited for the io_timeout";
        const std::string message = dt_last_error();
        EXPECT_EQ(message.rfind("dt_precopy_receive: fd ", 0), 0u) << message;
        EXPECT_NE(message.find(c.says), std::string::npos) << message;
        EXPECT_NE(message.find("fix: pass a connected stream socket"), std::string::npos) << message;
    }

    // The sender too, before its rounds start.
    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    ASSERT_EQ(dt_add_host_range(tracker, "pages", pages.data(), pages.count()), 0) << dt_last_error();
    dt_rounds* rounds = nullptr;
    ASSERT_EQ(dt_rounds_create(tracker, &rounds), 0);
    const dt_send_opts send = {
        .sz = sizeof send, .pause_vcpus = [](void*) {}, .resume_vcpus = [](void*) {}, .io_timeout_ms = 4000};
    EXPECT_EQ(dt_precopy_send(rounds, &memory, 1, -1, &send, nullptr), -EBADF) << dt_last_error();
    EXPECT_EQ(std::string(dt_last_error()).rfind("dt_precopy_send: fd -1 is not an open file descriptor", 0), 0u)
        << dt_last_error();
    EXPECT_EQ(dt_rounds_syncs(rounds, DT_SYNC_ROUND), 0u) << "the refused send synced";
    dt_rounds_destroy(rounds);
    dt_tracker_destroy(tracker);
    for (int fd : {not_a_socket, datagrams[0], datagrams[1], listening}) ::close(fd);
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
