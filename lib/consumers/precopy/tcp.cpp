#include "dtrack/precopy/tcp.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace dtrack::precopy {

namespace {

Result<sockaddr_in> to_sockaddr(const TcpAddress& a) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(a.port);
    const std::string host = a.host == "localhost" ? "127.0.0.1" : a.host;
    if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1)
        return Error{EINVAL, "'" + a.host + "' is not an IPv4 address", "use e.g. tcp://127.0.0.1:4444"};
    return sa;
}

// Waits until `fd` is ready for `events` or `timeout` passes.
bool wait_ready(int fd, short events, std::chrono::milliseconds timeout) {
    pollfd p{fd, events, 0};
    int r;
    do r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    while (r < 0 && errno == EINTR);
    return r > 0;
}

}  // namespace

Result<TcpAddress> parse_tcp_address(const std::string& uri) {
    const std::string prefix = "tcp://";
    const Error bad{EINVAL, "'" + uri + "' is not a tcp://HOST:PORT address", "use e.g. tcp://127.0.0.1:4444"};
    if (uri.rfind(prefix, 0) != 0) return bad;
    const std::string rest = uri.substr(prefix.size());
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return bad;
    TcpAddress a{rest.substr(0, colon), 0};
    try {
        size_t used = 0;
        const unsigned long port = std::stoul(rest.substr(colon + 1), &used);
        if (used != rest.size() - colon - 1 || port > 65535) return bad;
        a.port = static_cast<uint16_t>(port);
    } catch (...) {
        return bad;
    }
    if (auto sa = to_sockaddr(a); !sa) return sa.error();
    return a;
}

Result<UniqueFd> tcp_connect(const TcpAddress& address, std::chrono::milliseconds timeout) {
    auto sa = to_sockaddr(address);
    if (!sa) return sa.error();
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return errno_error("socket", errno);
    const std::string where = address.host + ":" + std::to_string(address.port);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa.value()), sizeof(sockaddr_in)) < 0) {
        if (errno != EINPROGRESS)
            return errno_error("connect to " + where, errno, "start the receiver first (dtvm --incoming)");
        if (!wait_ready(fd.get(), POLLOUT, timeout))
            return Error{ETIMEDOUT, "connect to " + where + " timed out", "check that the receiver listens there"};
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) return errno_error("connect to " + where, err, "start the receiver first (dtvm --incoming)");
    }
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool is_loopback(const TcpAddress& address) {
    auto sa = to_sockaddr(address);
    return sa && (ntohl(sa->sin_addr.s_addr) >> 24) == 127;
}

Result<TcpListener> TcpListener::listen(const TcpAddress& address, bool non_loopback_allowed) {
    auto sa = to_sockaddr(address);
    if (!sa) return sa.error();
    if (!non_loopback_allowed && !is_loopback(address))
        return Error{EACCES,
                     "refusing to listen on " + address.host +
                         " without TLS: any host that connects first could write this guest's memory",
                     "give TLS credentials (dtvm: --tls-creds DIR or --tls-psk FILE), listen on 127.0.0.1, or "
                     "accept the risk on a trusted network (dtvm: --insecure)"};
    TcpListener l;
    l.fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!l.fd_.valid()) return errno_error("socket", errno);
    const int one = 1;
    ::setsockopt(l.fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const std::string where = address.host + ":" + std::to_string(address.port);
    if (::bind(l.fd_.get(), reinterpret_cast<sockaddr*>(&sa.value()), sizeof(sockaddr_in)) < 0)
        return errno_error("bind " + where, errno, "choose a free port, or 0 for any");
    if (::listen(l.fd_.get(), 1) < 0) return errno_error("listen on " + where, errno);
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    ::getsockname(l.fd_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    l.port_ = ntohs(bound.sin_port);
    return l;
}

Result<UniqueFd> TcpListener::accept(std::chrono::milliseconds timeout) {
    if (!fd_.valid())
        return Error{EBADF, "this listener already accepted its one connection", "listen again for another migration"};
    if (!wait_ready(fd_.get(), POLLIN, timeout))
        return Error{ETIMEDOUT, "no sender connected within " + std::to_string(timeout.count() / 1000) + " s",
                     "start the sender (dtvm --migrate-to) or raise the timeout"};
    UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd.valid()) return errno_error("accept", errno);
    // One peer per migration: closing the listener resets anyone queued
    // behind it and refuses later connections at once.
    fd_.reset();
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

}  // namespace dtrack::precopy
