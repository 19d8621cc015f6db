#include "consumers/precopy/socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace dtrack::precopy {

namespace {

using steady = std::chrono::steady_clock;

Error not_a_connection(int err, int fd, const std::string& is) {
    return Error{err, "fd " + std::to_string(fd) + " " + is,
                 "pass a connected stream socket (TCP or AF_UNIX SOCK_STREAM: accept(), connect() or socketpair())"};
}

IoStatus closed(size_t done, int err = 0) { return IoStatus{IoResult::closed, err, done}; }

// The loop both directions share: poll() until the socket is ready, then let
// `move(done)` send or receive what the kernel takes now (0 = the peer closed).
// Gives up at `deadline`, or when no byte moved for `stall`.
template <typename Move>
IoStatus pump(int fd, short events, size_t size, Deadline deadline, std::chrono::milliseconds stall,
              bool stop_when_readable, Move move) {
    size_t done = 0;
    Deadline progress_by = steady::now() + stall;  // moves on with every byte
    while (done < size) {
        pollfd p{fd, static_cast<short>(events | (stop_when_readable ? POLLIN : 0)), 0};
        const int timeout = poll_timeout(std::min(deadline, progress_by));
        if (timeout < 0) return IoStatus{IoResult::timed_out, 0, done};
        const int n = ::poll(&p, 1, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            return IoStatus{IoResult::failed, errno, done};
        }
        if (n == 0) continue;  // the deadline is checked at the top
        if (stop_when_readable && (p.revents & POLLIN)) return IoStatus{IoResult::peer_readable, 0, done};
        if (p.revents & POLLNVAL) return IoStatus{IoResult::failed, EBADF, done};
        // Ready, or POLLERR/POLLHUP: the call itself tells which.
        const ssize_t moved = move(done);
        if (moved == 0) return closed(done);
        if (moved < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            if (is_disconnect(errno)) return closed(done, errno);
            return IoStatus{IoResult::failed, errno, done};
        }
        done += static_cast<size_t>(moved);
        progress_by = steady::now() + stall;
    }
    return IoStatus{IoResult::ok, 0, done};
}

}  // namespace

Status check_connected_stream(int fd) {
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) < 0) return not_a_connection(EBADF, fd, "is not an open file descriptor");
    if (!S_ISSOCK(st.st_mode)) return not_a_connection(ENOTSOCK, fd, "is not a socket");
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return not_a_connection(EPROTOTYPE, fd, "is not a stream socket");
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) < 0)
        return not_a_connection(ENOTCONN, fd, "is a socket that is not connected (a listening socket?)");
    return Ok{};
}

IoStatus StreamSocket::write_all(std::span<const uint8_t> data, Deadline deadline, std::chrono::milliseconds stall,
                                 bool stop_when_readable) {
    return pump(fd_, POLLOUT, data.size(), deadline, stall, stop_when_readable, [&](size_t done) {
        return ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    });
}

IoStatus StreamSocket::read_exact(std::span<uint8_t> out, Deadline deadline, std::chrono::milliseconds stall) {
    return pump(fd_, POLLIN, out.size(), deadline, stall, false,
                [&](size_t done) { return ::recv(fd_, out.data() + done, out.size() - done, MSG_DONTWAIT); });
}

bool StreamSocket::readable_now() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

void StreamSocket::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

}  // namespace dtrack::precopy
