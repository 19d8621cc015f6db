// Precopy migration of a running dtvm guest over TCP on 127.0.0.1, end to
// end: the destination's memory equals the source's page for page after
// switchover, on the KVM backend in ring and log mode and on the process
// backend with userfaultfd, under random workloads; and the faults an
// operator meets (receiver killed, receiver stalled, corrupt bytes) end
// cleanly with the guest running on, on both backends.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <random>
#include <thread>

#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/sender.hpp"
#include "dtrack/precopy/tcp.hpp"
#include "dtrack/throttle.hpp"
#include "dtrack/watcher.hpp"
#include "support/backends.hpp"
#include "support/sanitizers.hpp"
#include "support/test_seed.hpp"
#include "dtvm/tracking/tracking.hpp"
#include "dtvm/tracking/vm_precopy.hpp"

using namespace std::chrono_literals;
namespace precopy = dtrack::precopy;

namespace {

using dtvm::guest_memory;
using dtvm::VmPauser;

// Destination memory with the source's layout: plain buffers, no VM needed.
struct Destination {
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<precopy::GuestMemory> memory;
    explicit Destination(const dtvm::Vm& vm) {
        for (const auto& m : guest_memory(vm)) {
            buffers.emplace_back(m.bytes());
            memory.push_back({.region = m.region, .host = buffers.back().data(), .pages = m.pages, .base = m.base});
        }
    }
};

struct Guest {
    std::unique_ptr<dtvm::Tracking> tracking;
    dtvm::Vm& vm() { return tracking->vm(); }
    uint64_t writes() {
        uint64_t n = 0;
        for (uint32_t i = 0; i < vm().vcpu_count(); ++i) n += vm().stats(i).writes;
        return n;
    }
};

struct Setup {
    dtvm::Backend backend;
    dtvm::TrackMode mode;
};

std::string setup_name(const testing::TestParamInfo<Setup>& info) {
    return dtvm::backend_name(info.param.backend) + "_" + dtvm::track_mode_name(info.param.mode);
}

Guest start_guest(Setup setup, uint32_t vcpus, dtvm::Workload w) {
    auto t = dtvm::Tracking::create(
        {.mem_bytes = (96ULL << 20) + 3 * 4096, .slots = 3, .vcpus = vcpus, .backend = setup.backend},
        {.mode = setup.mode});
    EXPECT_TRUE(t.ok()) << t.error().message();
    if (!t.ok()) return {};
    Guest g{std::move(t.value())};
    w.wss_pages = std::min(w.wss_pages, g.vm().workload_max_pages());
    EXPECT_TRUE(g.vm().start(w).ok());
    return g;
}

struct Link {
    precopy::TcpListener listener = std::move(precopy::TcpListener::listen({"127.0.0.1", 0}).value());
    dtrack::UniqueFd sender_fd, receiver_fd;
    Link() {
        std::thread accept([&] { receiver_fd = std::move(*listener.accept(5s)); });
        sender_fd = std::move(*precopy::tcp_connect({"127.0.0.1", listener.port()}, 5s));
        accept.join();
    }
};

// Under a sanitizer the sender runs many times slower while a process-
// backend guest keeps its pace (ThreadSanitizer: 27 rounds in 60 s, never
// converging at an eighth of the rate), so the guest writes far slower
// there; the writes still race the copies, which is what the sanitizer checks.
uint64_t guest_rate(std::mt19937_64& rng) {
    const uint64_t rate = 20000 + rng() % 40000;
    return dtrack_test::kSanitized ? rate / 40 : rate;
}

// Migrates g's memory into `dst` over TCP on 127.0.0.1 with the Sender (on
// this thread) and a Receiver (on another).
struct Migrated {
    precopy::Outcome out;
    dtrack::Result<precopy::ReceiveReport> received = dtrack::Error{};
};
Migrated migrate_into(Guest& g, Destination& dst, dtrack::Rounds& rounds, precopy::SenderOptions options) {
    Link link;
    VmPauser control(g.vm());
    precopy::Sender sender(g.tracking->tracker(), rounds, guest_memory(g.vm()), control, std::move(options));
    Migrated m;
    std::thread receiver([&] { m.received = precopy::Receiver(dst.memory).run(link.receiver_fd.get()); });
    m.out = sender.run(link.sender_fd.get());
    receiver.join();
    return m;
}

// The guest stays paused after a completed migration: every page compared.
uint64_t differing_pages(const dtvm::Vm& vm, const Destination& dst) {
    const auto src = guest_memory(vm);
    uint64_t differing = 0;
    for (size_t i = 0; i < src.size(); ++i)
        for (uint64_t p = 0; p < src[i].pages; ++p)
            differing += std::memcmp(src[i].page(p), dst.memory[i].page(p), 4096) != 0;
    return differing;
}

class Migration : public testing::TestWithParam<Setup> {};

TEST_P(Migration, DestinationEqualsSourcePageForPage) {
    DTRACK_REQUIRE_BACKEND(GetParam().backend);
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE("seed " + std::to_string(seed));
    for (auto pattern : {dtvm::Pattern::sequential, dtvm::Pattern::random, dtvm::Pattern::hotcold}) {
        SCOPED_TRACE(dtvm::pattern_name(pattern));
        Guest g = start_guest(GetParam(), 1 + rng() % 2,
                              {.pattern = pattern,
                               .wss_pages = 4096 + rng() % 16384,
                               .rate_per_vcpu = guest_rate(rng),
                               .seed = rng() | 1});
        ASSERT_TRUE(g.tracking);
        std::this_thread::sleep_for(200ms);
        Destination dst(g.vm());
        dtrack::Rounds rounds(g.tracking->tracker());
        dtrack::Throttle throttle({}, [&](int pct) { g.vm().set_throttle(pct); });
        rounds.on_period([&](const dtrack::Period& p) { throttle.on_period(p); });
        const auto [out, received] =
            migrate_into(g, dst, rounds,
                         {.bandwidth = 200ULL << 20,
                          .max_time = 60s,
                          .compression = rng() % 2 ? precopy::Compression::zlib : precopy::Compression::none});
        ASSERT_TRUE(out.completed()) << precopy::to_string(out.status) << ": " << out.message;
        ASSERT_TRUE(received.ok()) << received.error().message();
        EXPECT_GE(out.rounds, 2u) << "the guest kept writing: more than the first round was needed";
        EXPECT_EQ(differing_pages(g.vm(), dst), 0u) << "pages that differ after switchover";
        std::printf("  %s: %llu rounds, %llu pages, downtime %.1f ms\n", dtvm::pattern_name(pattern).c_str(),
                    (unsigned long long)out.rounds, (unsigned long long)out.pages_sent,
                    std::chrono::duration<double, std::milli>(out.downtime).count());
        g.vm().stop();
    }
}

// Hot-page deferral on (docs/ARCHITECTURE.md, invariant 1): a hot/cold guest
// migrated with deferral arrives page for page. How much is deferred depends
// on how fast this host's guest dirties memory against the link (about 100
// page-rounds here on the process backend, often none on KVM), so it is
// printed, not asserted: PrecopyLoopback.HotPagesDeferredToTheFinalRound*
// (scripted writes) and OracleWithDeferral.* (real guests, every epoch
// keeping pages) prove that kept pages are sent and never lost.
TEST_P(Migration, WithHotPageDeferralTheDestinationStillEqualsTheSource) {
    DTRACK_REQUIRE_BACKEND(GetParam().backend);
    const uint64_t seed = dtrack_test::test_seed(std::random_device{}());
    std::mt19937_64 rng(seed);
    SCOPED_TRACE("seed " + std::to_string(seed));
    Guest g = start_guest(GetParam(), 1,
                          {.pattern = dtvm::Pattern::hotcold,
                           .wss_pages = 16384,
                           .rate_per_vcpu = dtrack_test::kSanitized ? 1000 : 50000,
                           .hot_fraction = 0.01,
                           .seed = rng() | 1});
    ASSERT_TRUE(g.tracking);
    std::this_thread::sleep_for(1s);
    Destination dst(g.vm());
    dtrack::Rounds rounds(g.tracking->tracker());
    dtrack::Throttle throttle({}, [&](int pct) { g.vm().set_throttle(pct); });
    rounds.on_period([&](const dtrack::Period& p) { throttle.on_period(p); });
    const auto [out, received] = migrate_into(g, dst, rounds,
                                              {.bandwidth = 50ULL << 20,
                                               .downtime_limit = 30ms,
                                               .max_time = 60s,
                                               .defer_hot = dtrack::HotPageDeferralOptions{.rounds = 2}});
    ASSERT_TRUE(out.completed()) << precopy::to_string(out.status) << ": " << out.message;
    ASSERT_TRUE(received.ok()) << received.error().message();
    EXPECT_EQ(differing_pages(g.vm(), dst), 0u) << "pages that differ after switchover";
    std::printf("  %llu rounds, %llu pages, %llu page-rounds deferred, downtime %.1f ms\n",
                (unsigned long long)out.rounds, (unsigned long long)out.pages_sent,
                (unsigned long long)out.deferred_pages,
                std::chrono::duration<double, std::milli>(out.downtime).count());
    g.vm().stop();
}

INSTANTIATE_TEST_SUITE_P(EveryBackendAndMode, Migration,
                         testing::Values(Setup{dtvm::Backend::kvm, dtvm::TrackMode::ring},
                                         Setup{dtvm::Backend::kvm, dtvm::TrackMode::log},
                                         Setup{dtvm::Backend::process, dtvm::TrackMode::uffd}),
                         setup_name);

// --- compression and the sent-page cache ---------------------------------------------

// {no compression, zlib, zstd} x {cache off, on} x {deferral off, on} on
// each backend: a small hot/cold guest migrated without a cap (well under a
// second each; deferral engages only where the hot set does not fit the
// final round, which the deferral test above arranges); the receiver checks
// the END digest, and every page is compared too.
using EncodingParams = std::tuple<dtvm::Backend, precopy::Compression, bool, bool>;
class MigrationEncodings : public testing::TestWithParam<EncodingParams> {};

std::string encodings_name(const testing::TestParamInfo<EncodingParams>& info) {
    const auto [backend, method, cache, defer] = info.param;
    return dtvm::backend_name(backend) + "_" + precopy::to_string(method) + (cache ? "_cache" : "_no_cache") +
           (defer ? "_defer" : "");
}

TEST_P(MigrationEncodings, DestinationEqualsSourceWithEveryCompressionCacheAndDeferral) {
    const auto [backend, method, cache, defer] = GetParam();
    DTRACK_REQUIRE_BACKEND(backend);
    Guest g = start_guest({backend, dtvm::best_track_mode(backend)}, 1,
                          {.pattern = dtvm::Pattern::hotcold, .wss_pages = 8192, .rate_per_vcpu = 20000, .seed = 24});
    ASSERT_TRUE(g.tracking);
    std::this_thread::sleep_for(200ms);
    Destination dst(g.vm());
    dtrack::Rounds rounds(g.tracking->tracker());
    precopy::SenderOptions options{.downtime_limit = 100ms,
                                   .max_time = 60s,
                                   .compression = method,
                                   .xbzrle_cache_bytes = cache ? 128ULL << 20 : 0};
    if (defer) options.defer_hot = dtrack::HotPageDeferralOptions{.rounds = 2};
    const auto [out, received] = migrate_into(g, dst, rounds, options);
    ASSERT_TRUE(out.completed()) << precopy::to_string(out.status) << ": " << out.message;
    ASSERT_TRUE(received.ok()) << received.error().message();
    EXPECT_EQ(received->delta_pages, out.delta_pages);
    EXPECT_EQ(differing_pages(g.vm(), dst), 0u) << "pages that differ after switchover";
    if (cache) {
        EXPECT_GT(out.cache_hits, 0u) << "the hot pages sent again were not in the cache";
        EXPECT_GT(out.delta_pages, 0u);
    } else {
        EXPECT_EQ(out.delta_pages + out.cache_hits + out.cache_misses, 0u);
    }
    if (!defer) {
        EXPECT_EQ(out.deferred_pages, 0u);
    }
    std::printf("  %llu rounds, %llu pages (%llu deltas, %llu page-rounds deferred), %llu bytes on the wire\n",
                (unsigned long long)out.rounds, (unsigned long long)out.pages_sent, (unsigned long long)out.delta_pages,
                (unsigned long long)out.deferred_pages, (unsigned long long)out.bytes_on_wire);
    g.vm().stop();
}

INSTANTIATE_TEST_SUITE_P(EveryBackendCompressionCacheAndDeferral, MigrationEncodings,
                         testing::Combine(testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                                          testing::Values(precopy::Compression::none, precopy::Compression::zlib,
                                                          precopy::Compression::zstd),
                                          testing::Bool(), testing::Bool()),
                         encodings_name);

// --- faults ----------------------------------------------------------------------

class MigrationFaults : public testing::TestWithParam<dtvm::Backend> {};

struct FaultRun {
    precopy::Outcome outcome;
    uint64_t writes_after = 0;  // guest writes in the half second after the outcome
};

// Migrates a busy guest while `receiver_side` plays the destination on its socket.
FaultRun migrate_against(dtvm::Backend backend,
                         std::function<void(int fd, const std::vector<precopy::GuestMemory>&)> receiver_side,
                         precopy::SenderOptions options) {
    Guest g = start_guest({backend, dtvm::best_track_mode(backend)}, 2,
                          {.pattern = dtvm::Pattern::random, .wss_pages = 16384, .rate_per_vcpu = 50000});
    EXPECT_TRUE(g.tracking);
    if (!g.tracking) return {};
    Destination dst(g.vm());
    Link link;
    dtrack::Rounds rounds(g.tracking->tracker());
    VmPauser control(g.vm());
    precopy::Sender sender(g.tracking->tracker(), rounds, guest_memory(g.vm()), control, options);
    std::thread receiver([&] { receiver_side(link.receiver_fd.get(), dst.memory); });
    FaultRun r;
    r.outcome = sender.run(link.sender_fd.get());
    // Reset the connection (data may still sit in the send queue, so a FIN
    // would never arrive): a receiver that still waits wakes up.
    const linger reset{1, 0};
    ::setsockopt(link.sender_fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    link.sender_fd.reset();
    receiver.join();
    // The VM must be unharmed and running on.
    EXPECT_EQ(g.vm().failure(), "");
    const uint64_t before = g.writes();
    std::this_thread::sleep_for(500ms);
    r.writes_after = g.writes() - before;
    g.vm().stop();
    return r;
}

TEST_P(MigrationFaults, ReceiverKilledMidMigration) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    const FaultRun r = migrate_against(GetParam(),
                                       [](int fd, const std::vector<precopy::GuestMemory>&) {
                                           // Read a few MiB, then vanish the way a killed process does.
                                           std::vector<char> buf(1 << 16);
                                           size_t got = 0;
                                           while (got < (4u << 20)) {
                                               const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
                                               if (n <= 0) return;
                                               got += n;
                                           }
                                           ::shutdown(fd, SHUT_RDWR);
                                       },
                                       {.bandwidth = 50ULL << 20, .max_time = 30s});
    EXPECT_EQ(r.outcome.status, precopy::OutcomeStatus::receiver_failed) << r.outcome.message;
    EXPECT_FALSE(r.outcome.message.empty());
    EXPECT_GT(r.writes_after, 0u) << "the guest must run on after a failed migration";
}

TEST_P(MigrationFaults, StalledReceiverEndsAtMaxTime) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    const FaultRun r = migrate_against(GetParam(),
                                       [&](int fd, const std::vector<precopy::GuestMemory>&) {
                                           std::vector<char> buf(1 << 16);
                                           ::recv(fd, buf.data(), buf.size(), 0);  // takes a little, then stops reading
                                           pollfd p{fd, POLLRDHUP, 0};
                                           ::poll(&p, 1, 60'000);  // until the sender hangs up
                                       },
                                       {.max_time = 3s, .io_timeout = 60s});
    EXPECT_EQ(r.outcome.status, precopy::OutcomeStatus::timed_out) << r.outcome.message;
    EXPECT_GT(r.writes_after, 0u);
}

TEST_P(MigrationFaults, CorruptBytesAreRefusedAndLocated) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    std::string receiver_error;
    const FaultRun r = migrate_against(GetParam(),
                                       [&](int fd, const std::vector<precopy::GuestMemory>& memory) {
                                           // A hop between the wire and the receiver that flips one byte 1 MiB in.
                                           int pair[2];
                                           ::socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
                                           dtrack::UniqueFd near(pair[0]), far(pair[1]);
                                           std::thread hop([&] {
                                               std::vector<char> buf(1 << 16);
                                               uint64_t offset = 0;
                                               for (;;) {
                                                   const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
                                                   if (n <= 0) break;
                                                   const uint64_t target = 1 << 20;
                                                   if (offset <= target && target < offset + n)
                                                       buf[target - offset] ^= 0x40;
                                                   offset += n;
                                                   if (::send(near.get(), buf.data(), n, MSG_NOSIGNAL) != n) break;
                                               }
                                               ::shutdown(near.get(), SHUT_RDWR);
                                           });
                                           auto got = precopy::Receiver(memory).run(far.get());
                                           if (!got) receiver_error = got.error().message();
                                           // What a refusing destination does: hang up, both towards the
                                           // sender and towards the hop (which may be blocked sending to us).
                                           ::shutdown(far.get(), SHUT_RDWR);
                                           ::shutdown(fd, SHUT_RDWR);
                                           hop.join();
                                       },
                                       {.max_time = 30s});
    EXPECT_FALSE(r.outcome.completed());
    EXPECT_NE(receiver_error.find("byte"), std::string::npos) << "the error must say where: " << receiver_error;
    std::printf("  receiver: %s\n  sender: %s: %s\n", receiver_error.c_str(), precopy::to_string(r.outcome.status),
                r.outcome.message.c_str());
    EXPECT_GT(r.writes_after, 0u);
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, MigrationFaults, testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                         [](const auto& info) { return dtvm::backend_name(info.param); });

}  // namespace
