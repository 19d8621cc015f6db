// The receiver's limits on a sender that is slow on purpose: one that drips
// bytes ends at the pace floor or at max_time, one that sends nothing at the
// idle timeout, not minutes later; guest memory stays untouched. Times are
// only ever upper bounds.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/wire_format.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

struct Limited {
    Result<ReceiveReport> result;
    steady::duration took;
};

// Runs a receiver into 16 zero pages, fed by a peer that sends a valid
// stream header one byte every `every` (never, when zero) until the receiver
// gives up or 20 s pass; checks the memory stayed zero.
Limited receive_from_a_dripping_peer(ReceiverOptions options, std::chrono::milliseconds every) {
    std::vector<uint8_t> ram(16 * 4096, 0);
    const std::vector<GuestMemory> memory{GuestMemory{0, ram.data(), 16, 4096, 0}};
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    std::atomic<bool> done{false};
    std::thread drip([&] {
        const std::vector<uint8_t> header = wire::encode_header(wire::header_for(memory));
        const auto give_up = steady::now() + 20s;
        for (size_t i = 0; !done && steady::now() < give_up; ++i) {
            std::this_thread::sleep_for(every.count() ? every : 10ms);
            if (every.count()) (void)::send(fds[0], &header[i % header.size()], 1, MSG_NOSIGNAL);
        }
    });
    const auto start = steady::now();
    Limited out{Receiver(memory, options).run(fds[1]), {}};
    out.took = steady::now() - start;
    done = true;
    drip.join();
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_TRUE(std::all_of(ram.begin(), ram.end(), [](uint8_t b) { return b == 0; }));
    return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(PrecopyReceiverLimits, ASlowDripSenderIsCutOffAtThePaceFloor) {
    // One byte every 100 ms is 10 bytes/s, under a floor of 1000 bytes/s.
    const Limited r =
        receive_from_a_dripping_peer({.io_timeout = 5s, .min_bytes_per_s = 1000, .rate_window = 500ms}, 100ms);
    ASSERT_FALSE(r.result.ok()) << "the receiver waited out the drip";
    EXPECT_TRUE(contains(r.result.error().what, "under the floor of 1000 bytes/s (min_bytes_per_s)"))
        << r.result.error().what;
    EXPECT_LT(r.took, 5s);
}

TEST(PrecopyReceiverLimits, ASlowDripSenderIsCutOffAtMaxTime) {
    const Limited r = receive_from_a_dripping_peer({.io_timeout = 5s, .max_time = 1500ms, .min_bytes_per_s = 0}, 100ms);
    ASSERT_FALSE(r.result.ok()) << "the receiver waited out the drip";
    EXPECT_TRUE(contains(r.result.error().what, "max_time of 1500 ms reached")) << r.result.error().what;
    EXPECT_LT(r.took, 6s);
}

TEST(PrecopyReceiverLimits, ASilentSenderCostsTheIdleTimeoutNotMinutes) {
    EXPECT_LE(ReceiverOptions{}.io_timeout, 30s) << "a peer that sends nothing holds the receiver this long";
    EXPECT_GT(ReceiverOptions{}.min_bytes_per_s, 0u) << "no floor on the pace by default";
    const Limited r = receive_from_a_dripping_peer({.io_timeout = 300ms}, 0ms);
    ASSERT_FALSE(r.result.ok());
    EXPECT_TRUE(contains(r.result.error().what, "no data from the sender for 300 ms (io_timeout)"))
        << r.result.error().what;
    EXPECT_LT(r.took, 5s);
}
