#include "scrape_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace soak {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point end) {
    return int(std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count()));
}

// The Content-Length of a response head, or -1.
long content_length(const std::string& head) {
    for (size_t at = head.find("\r\n"); at != std::string::npos; at = head.find("\r\n", at + 2)) {
        const size_t colon = head.find(':', at);
        if (colon == std::string::npos) break;
        std::string name = head.substr(at + 2, colon - at - 2);
        for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (name == "content-length") return std::strtol(head.c_str() + colon + 1, nullptr, 10);
    }
    return -1;
}

}  // namespace

ScrapeClient::~ScrapeClient() { close_connection(); }

void ScrapeClient::close_connection() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool ScrapeClient::connect_once(std::string& error) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(uint16_t(port_)), .sin_addr = {htonl(INADDR_LOOPBACK)}};
    const int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        error = std::string("connect: ") + std::strerror(errno);
        close_connection();
        return false;
    }
    return true;
}

Scrape ScrapeClient::get(const std::string& path, std::chrono::milliseconds deadline) {
    Scrape s;
    const auto start = Clock::now();
    const auto end = start + deadline;
    // A kept-alive connection the server closed meanwhile fails at the first
    // read: then once more on a new connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
        const bool reused = fd_ >= 0;
        if (!reused && !connect_once(s.error)) return s;
        const std::string request =
            "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: dtrack-sidecar-soak\r\n\r\n";
        if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size())) {
            close_connection();
            if (reused) continue;
            s.error = "send failed";
            return s;
        }
        std::string in;
        size_t head_end = std::string::npos;
        long length = -1;
        while (head_end == std::string::npos || in.size() < head_end + 4 + size_t(length)) {
            pollfd p{.fd = fd_, .events = POLLIN};
            if (::poll(&p, 1, ms_left(end)) <= 0) {
                s.error = "no answer within " + std::to_string(deadline.count()) + " ms";
                close_connection();
                return s;
            }
            char buf[65536];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) break;
            in.append(buf, size_t(n));
            if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
                length = content_length(in.substr(0, head_end + 2));
                if (length < 0) {
                    s.error = "a response without Content-Length";
                    close_connection();
                    return s;
                }
            }
        }
        if (head_end == std::string::npos || in.size() < head_end + 4 + size_t(length)) {
            close_connection();
            if (reused && in.empty()) continue;  // closed while idle: reconnect
            s.error = "connection closed mid-response";
            return s;
        }
        s.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        s.status = std::atoi(in.c_str() + in.find(' ') + 1);
        s.body = in.substr(head_end + 4, size_t(length));
        if (in.find("\r\nConnection: close", 0) < head_end || in.find("\r\nconnection: close") < head_end)
            close_connection();
        return s;
    }
    return s;
}

}  // namespace soak
