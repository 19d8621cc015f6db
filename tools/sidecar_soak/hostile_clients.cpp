#include "hostile_clients.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

namespace soak {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// What a client of a kind sends: `first` on connecting, then `repeat` every
// `pause` (nothing when `repeat` is empty).
struct Behaviour {
    std::string first;
    std::string repeat;
    std::chrono::milliseconds pause;
};

Behaviour behaviour_of(Hostile kind) {
    switch (kind) {
        case Hostile::slow_headers: return {"GET /metrics HTTP/1.1\r\nHost: soak\r\n", "X-Slow: 1\r\n", 4000ms};
        case Hostile::idle: return {"", "", 0ms};
        case Hostile::endless_headers:
            return {"GET /metrics HTTP/1.1\r\n", "X-Big: " + std::string(8180, 'a') + "\r\n", 0ms};
        case Hostile::huge_body:
            return {"GET /metrics HTTP/1.1\r\nHost: soak\r\nContent-Length: 99999999999\r\n\r\n",
                    std::string(65536, 'x'), 0ms};
    }
    return {};
}

const char* name_of(Hostile kind) {
    switch (kind) {
        case Hostile::slow_headers: return "slow headers (a line every 4 s)";
        case Hostile::idle: return "idle connections";
        case Hostile::endless_headers: return "endless 8 KiB header lines";
        case Hostile::huge_body: return "Content-Length: 99999999999";
    }
    return "?";
}

int connect_loopback(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(uint16_t(port)), .sin_addr = {htonl(INADDR_LOOPBACK)}};
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

HostileClients::HostileClients(int port, const std::vector<HostileCount>& counts)
    : port_(port), counts_(counts), tallies_(counts.size()) {
    for (size_t i = 0; i < counts_.size(); ++i)
        for (int c = 0; c < counts_[i].clients; ++c)
            threads_.emplace_back([this, i] { run(counts_[i].kind, tallies_[i]); });
}

HostileClients::~HostileClients() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
}

// Connects, behaves as its kind does until the server closes the
// connection, and connects again; until stopped.
void HostileClients::run(Hostile kind, Tally& tally) {
    const Behaviour b = behaviour_of(kind);
    while (!stop_) {
        const int fd = connect_loopback(port_);
        if (fd < 0) {
            std::this_thread::sleep_for(100ms);
            continue;
        }
        ++tally.connections;
        std::string pending = b.first;
        auto next_repeat = Clock::now() + b.pause;
        bool closed = false;
        while (!stop_ && !closed) {
            const bool will_repeat = !b.repeat.empty() && pending.empty();
            if (will_repeat && Clock::now() >= next_repeat) {
                pending = b.repeat;
                next_repeat = Clock::now() + b.pause;
            }
            pollfd p{.fd = fd, .events = short(POLLIN | (pending.empty() ? 0 : POLLOUT))};
            ::poll(&p, 1, 100);
            if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                char buf[4096];
                const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                closed = n == 0 || (n < 0 && errno != EAGAIN);
            }
            if (!closed && (p.revents & POLLOUT) && !pending.empty()) {
                const ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n > 0) {
                    pending.erase(0, size_t(n));
                    tally.bytes_sent += uint64_t(n);
                }
                closed = n < 0 && errno != EAGAIN;
            }
        }
        if (closed) ++tally.cut_off;
        ::close(fd);
    }
}

std::string HostileClients::report() const {
    std::string out;
    for (size_t i = 0; i < counts_.size(); ++i) {
        char line[200];
        std::snprintf(line, sizeof line,
                      "  %-34s %3d clients: %7llu connections, %7llu cut off by the server, %9.1f MiB written\n",
                      name_of(counts_[i].kind), counts_[i].clients, (unsigned long long)tallies_[i].connections.load(),
                      (unsigned long long)tallies_[i].cut_off.load(),
                      double(tallies_[i].bytes_sent.load()) / (1 << 20));
        out += line;
    }
    return out;
}

}  // namespace soak
