#include "support/raw_http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace dtrack_test {

using Clock = std::chrono::steady_clock;

namespace {

int ms_left(Clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    return left < 0 ? 0 : int(left);
}

}  // namespace

RawHttpClient::RawHttpClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
    sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(uint16_t(port)), .sin_addr = {htonl(INADDR_LOOPBACK)}};
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return;
    pollfd p{.fd = fd_.get(), .events = POLLOUT};
    int err = errno;
    socklen_t len = sizeof err;
    if (err != EINPROGRESS || ::poll(&p, 1, 5000) != 1 ||
        ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        fd_.reset();
}

bool RawHttpClient::read_available() {
    char buf[65536];
    for (;;) {
        const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
        if (n > 0) {
            received_.append(buf, size_t(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        closed_ = true;  // EOF, or a reset
        return false;
    }
}

bool RawHttpClient::send(const std::string& bytes, std::chrono::milliseconds limit) {
    if (!connected() || closed_) return false;
    const auto until = Clock::now() + limit;
    size_t sent = 0;
    while (sent < bytes.size()) {
        pollfd p{.fd = fd_.get(), .events = POLLIN | POLLOUT};
        if (::poll(&p, 1, ms_left(until)) <= 0) return false;
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && !read_available()) return false;
        if (!(p.revents & POLLOUT)) continue;
        const ssize_t n = ::send(fd_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            read_available();
            closed_ = true;
            return false;
        }
        if (n > 0) sent += size_t(n);
    }
    return true;
}

bool RawHttpClient::response_complete() const {
    const size_t head_end = received_.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    const size_t at = received_.find("Content-Length: ");
    if (at == std::string::npos || at > head_end) return true;
    return received_.size() - (head_end + 4) >= std::strtoull(received_.c_str() + at + 16, nullptr, 10);
}

bool RawHttpClient::wait_for_response(std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (!response_complete()) {
        if (!connected() || closed_) return response_complete();
        pollfd p{.fd = fd_.get(), .events = POLLIN};
        if (::poll(&p, 1, ms_left(until)) <= 0) return false;
        read_available();
    }
    return true;
}

bool RawHttpClient::wait_until_closed(std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (connected() && !closed_) {
        pollfd p{.fd = fd_.get(), .events = POLLIN};
        if (::poll(&p, 1, ms_left(until)) <= 0) return false;
        read_available();
    }
    return true;
}

int RawHttpClient::status() const {
    if (received_.rfind("HTTP/1.", 0) != 0 || received_.size() < 12) return 0;
    return std::atoi(received_.c_str() + 9);
}

std::string RawHttpClient::body() const {
    const size_t head_end = received_.find("\r\n\r\n");
    return head_end == std::string::npos ? "" : received_.substr(head_end + 4);
}

int get_status_within(int port, const std::string& path, std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    RawHttpClient c(port);
    if (!c.send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", limit)) return 0;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    return c.wait_for_response(std::max(left, std::chrono::milliseconds(0))) ? c.status() : 0;
}

}  // namespace dtrack_test
