// The real sidecar against clients that try to stop it or fill its memory
// (issue 21): endless header lines, a huge announced body, slow and idle
// connections, more connections than the cap. Each time a scrape beside them
// is still answered at once, the hostile connection is cut at its limit, and
// the sidecar's memory, descriptors and threads stay flat. The 2 s bounds on
// scrapes are guards against hanging: a scrape takes well under 10 ms here.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "support/background_process.hpp"
#include "support/raw_http_client.hpp"
#include "support/sidecar_process.hpp"

using dtrack_test::BackgroundProcess;
using dtrack_test::get_status_within;
using dtrack_test::RawHttpClient;
using dtrack_test::SidecarProcess;
using namespace std::chrono_literals;

namespace {

constexpr size_t MiB = 1024 * 1024;

struct SidecarOnASleeper {
    explicit SidecarOnASleeper(const std::string& more = "") : sidecar(options(target.pid()) + more) {}
    static std::string options(pid_t pid) {
        return "--pid " + std::to_string(pid) + " --method sample --interval 100ms";
    }
    BackgroundProcess target{"sleep 120"};
    SidecarProcess sidecar;
    int port() const { return sidecar.port(); }
};

TEST(SidecarHostileClients, EndlessHeaderLinesAreCutAtTheLimitWith431AndMemoryStaysFlat) {
    SidecarOnASleeper s;
    ASSERT_GT(s.port(), 0) << s.sidecar.log();
    ASSERT_EQ(get_status_within(s.port(), "/metrics", 2s), 200);
    const long rss_before = s.sidecar.rss_kib();
    RawHttpClient c(s.port());
    ASSERT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    const std::string line = "X-Filler: " + std::string(8 * 1024 - 12, 'a') + "\r\n";
    size_t sent = 0;
    while (sent < 64 * MiB && c.send(line)) sent += line.size();
    EXPECT_LT(sent, 16 * MiB) << "the sidecar read " << sent / MiB << " MiB of header lines (beyond socket buffers)";
    ASSERT_TRUE(c.wait_until_closed(5s));
    EXPECT_EQ(c.status(), 431) << c.received().substr(0, 300);
    EXPECT_NE(c.body().find("over 16384 bytes"), std::string::npos) << c.received().substr(0, 300);
    const long grew_kib = s.sidecar.rss_kib() - rss_before;
    EXPECT_LT(grew_kib, 8 * 1024) << "VmRSS grew by " << grew_kib << " KiB";
    EXPECT_EQ(get_status_within(s.port(), "/metrics", 2s), 200);
}

TEST(SidecarHostileClients, ABodyOfContentLength99999999999IsRefusedWith413AtOnceAndNotRead) {
    SidecarOnASleeper s;
    ASSERT_GT(s.port(), 0) << s.sidecar.log();
    const long rss_before = s.sidecar.rss_kib();
    RawHttpClient c(s.port());
    ASSERT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999\r\n\r\n"));
    ASSERT_TRUE(c.wait_for_response(2s)) << "no answer before the body: " << c.received();
    EXPECT_EQ(c.status(), 413) << c.received();
    EXPECT_NE(c.received().find("Connection: close"), std::string::npos) << c.received();
    // The body streamed anyway is not read for long: the connection is cut.
    const std::string chunk(64 * 1024, 'b');
    size_t sent = 0;
    while (sent < 256 * MiB && c.send(chunk)) sent += chunk.size();
    EXPECT_LT(sent, 16 * MiB) << "the sidecar read " << sent / MiB << " MiB of body";
    EXPECT_TRUE(c.wait_until_closed(5s));
    EXPECT_LT(s.sidecar.rss_kib() - rss_before, 8 * 1024);
}

// A client that sends one header line every 500 ms and never ends its
// request, on a thread of its own, until the server closes it.
class SlowClient {
public:
    explicit SlowClient(int port) : client_(port) {
        started_ = client_.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        thread_ = std::thread([this] {
            for (int i = 0; i < 60 && !client_.closed_by_server(); ++i) {  // 30 s at most
                if (!client_.send("X-Slow-" + std::to_string(i) + ": 1\r\n")) break;
                if (client_.wait_until_closed(500ms)) break;
            }
            client_.wait_until_closed(2s);  // the 408 after a cut send
            done_ = true;
        });
    }
    ~SlowClient() { thread_.join(); }

    bool started() const { return started_; }
    bool done() const { return done_; }
    // After done(): whether the server closed it, and with which status.
    bool closed_by_server() const { return client_.closed_by_server(); }
    int status() const { return client_.status(); }

private:
    RawHttpClient client_;
    bool started_ = false;
    std::atomic<bool> done_{false};
    std::thread thread_;
};

TEST(SidecarHostileClients, SlowClientsDoNotDelayAScrapeAndAreClosedAtTheRequestDeadlineWith408) {
    SidecarOnASleeper s;
    ASSERT_GT(s.port(), 0) << s.sidecar.log();
    std::vector<std::unique_ptr<SlowClient>> slow;
    for (int i = 0; i < 3; ++i)
        slow.push_back(std::make_unique<SlowClient>(s.port()));  // more than httplib's 2 workers
    for (const auto& c : slow) ASSERT_TRUE(c->started());
    std::this_thread::sleep_for(1s);  // a few of their lines are in
    EXPECT_EQ(get_status_within(s.port(), "/metrics", 2s), 200) << "a scrape waited for the slow clients";
    for (const auto& c : slow) EXPECT_FALSE(c->done()) << "closed before its request's 5 s had passed";
    // Each is cut 5 s after its first byte; 30 s is a guard against hanging.
    for (const auto& c : slow) {
        const auto give_up = std::chrono::steady_clock::now() + 30s;
        while (!c->done() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(50ms);
        EXPECT_TRUE(c->closed_by_server()) << "still sending after 30 s";
        EXPECT_EQ(c->status(), 408);
    }
}

// They are closed after --web-idle-timeout (default 30 s; 3 s here, so that
// the test does not wait half a minute).
TEST(SidecarHostileClients, ManyIdleConnectionsDoNotDelayAScrapeAndAreClosedAfterTheIdleTimeout) {
    SidecarOnASleeper s(" --web-idle-timeout 3s");
    ASSERT_GT(s.port(), 0) << s.sidecar.log();
    const int threads = s.sidecar.threads(), fds = s.sidecar.open_fds();
    const auto connected = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<RawHttpClient>> idle;
    for (int i = 0; i < 60; ++i) {
        idle.push_back(std::make_unique<RawHttpClient>(s.port()));
        ASSERT_TRUE(idle.back()->connected());
    }
    for (int i = 0; i < 3; ++i) EXPECT_EQ(get_status_within(s.port(), "/metrics", 2s), 200) << "scrape " << i;
    EXPECT_EQ(s.sidecar.threads(), threads) << "a thread per connection?";
    // Not before the timeout: the scrapes above took well under 3 s.
    if (std::chrono::steady_clock::now() < connected + 2s) {
        for (const auto& c : idle) EXPECT_FALSE(c->wait_until_closed(0ms)) << "an idle connection closed before 3 s";
    }
    for (const auto& c : idle) {
        const auto left = connected + 15s - std::chrono::steady_clock::now();
        EXPECT_TRUE(c->wait_until_closed(std::chrono::duration_cast<std::chrono::milliseconds>(left)))
            << "still open after 15 s idle";
    }
    EXPECT_EQ(s.sidecar.open_fds(), fds);
}

TEST(SidecarHostileClients, BeyondTheConnectionCapTheLongestWaitingIsClosedAndAScrapeIsAnswered) {
    SidecarOnASleeper s;
    ASSERT_GT(s.port(), 0) << s.sidecar.log();
    ASSERT_EQ(get_status_within(s.port(), "/metrics", 2s), 200);
    const int fds = s.sidecar.open_fds();
    std::vector<std::unique_ptr<RawHttpClient>> hostile;
    for (int i = 0; i < 100; ++i) {
        hostile.push_back(std::make_unique<RawHttpClient>(s.port()));
        ASSERT_TRUE(hostile.back()->send("GET /metrics HTTP/1.1\r\n")) << i;  // a request begun, never ended
    }
    std::this_thread::sleep_for(200ms);  // all accepted
    EXPECT_LE(s.sidecar.open_fds(), fds + 64) << "more than 64 client connections open";
    EXPECT_EQ(get_status_within(s.port(), "/metrics", 2s), 200) << "the hostile clients hold the cap";
    int closed = 0;
    for (const auto& c : hostile) closed += c->wait_until_closed(0ms);
    EXPECT_GE(closed, 100 - 64);
    // The first ones began their requests first: they had waited longest.
    EXPECT_TRUE(hostile.front()->closed_by_server());
    EXPECT_FALSE(hostile.back()->closed_by_server());
}

TEST(SidecarHostileClients, AKeptConnectionServesRequestAfterRequestAndPipelinedOnesInOrder) {
    SidecarOnASleeper s;
    ASSERT_GT(s.port(), 0) << s.sidecar.log();
    RawHttpClient c(s.port());
    ASSERT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"));
    ASSERT_TRUE(c.wait_for_response(2s));
    EXPECT_EQ(c.status(), 200);
    EXPECT_NE(c.received().find("Connection: keep-alive"), std::string::npos);
    // Three at once: HEAD (a head only), a 404, then a POST (405), in order.
    RawHttpClient p(s.port());
    ASSERT_TRUE(
        p.send("HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\nGET /nope HTTP/1.1\r\nHost: h\r\n\r\n"
               "POST /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(p.wait_until_closed(2s)) << p.received();
    const std::string& all = p.received();
    const size_t head = all.find("HTTP/1.1 200 OK"), missing = all.find("HTTP/1.1 404"),
                 post = all.find("HTTP/1.1 405");
    ASSERT_NE(head, std::string::npos) << all;
    EXPECT_LT(head, missing) << all;
    EXPECT_LT(missing, post) << all;
    EXPECT_EQ(all.find("# TYPE"), std::string::npos) << "HEAD has no body: " << all;
    EXPECT_NE(all.find("Allow: GET, HEAD"), std::string::npos) << all;
}

}  // namespace
