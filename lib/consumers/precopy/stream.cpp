#include "consumers/precopy/stream.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "consumers/precopy/socket.hpp"
#include "consumers/precopy/tls.hpp"

namespace dtrack::precopy {

std::string IoStatus::describe() const {
    switch (result) {
        case IoResult::ok: return "ok";
        case IoResult::timed_out: return "timed out";
        case IoResult::closed:
            return err ? std::string("connection closed by the peer (") + std::strerror(err) + ")"
                       : "connection closed by the peer";
        case IoResult::peer_readable: return "the peer sent data";
        case IoResult::failed:
            if (!detail.empty()) return detail;
            return std::string("socket error: ") + std::strerror(err);
    }
    return "?";
}

int poll_timeout(Deadline deadline) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return -1;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

bool is_disconnect(int err) { return err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ESHUTDOWN; }

void Stream::linger(Deadline deadline) {
    shutdown_write();
    uint8_t sink[4096];
    for (;;) {
        const IoStatus s = read_exact(sink, deadline, no_stall_limit);
        if (!s.ok()) return;  // EOF, error or deadline
    }
}

Result<std::unique_ptr<Stream>> open_stream(int fd, const std::optional<TlsCredentials>& tls,
                                            const std::string& peer_name, Deadline deadline) {
    if (!tls) return std::unique_ptr<Stream>(std::make_unique<StreamSocket>(fd));
    auto session = TlsStream::handshake(fd, *tls, peer_name, deadline);
    if (!session) return session.error();
    return std::unique_ptr<Stream>(std::move(session.value()));
}

}  // namespace dtrack::precopy
