// The byte stream a precopy migration runs over: a plain connected socket
// (StreamSocket) or a TLS session on one (TlsStream). Sender and Receiver
// see only this interface, so both transports keep the same deadlines,
// stall limits and close semantics.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/precopy/tls.hpp"

namespace dtrack::precopy {

using Deadline = std::chrono::steady_clock::time_point;
inline constexpr Deadline no_deadline = Deadline::max();
// A stall limit long enough to mean "none" (and still safe to add to now()).
inline constexpr std::chrono::milliseconds no_stall_limit = std::chrono::hours(24 * 365);

enum class IoResult {
    ok,
    timed_out,      // the deadline passed, or nothing moved for the stall limit
    closed,         // the peer closed (EOF, EPIPE, ECONNRESET)
    peer_readable,  // write_all stopped because the peer sent something
    failed,         // another error (errno in `err`, or `detail` for TLS)
};

struct IoStatus {
    IoResult result = IoResult::ok;
    int err = 0;         // errno, when there was one
    size_t done = 0;     // bytes moved before the call returned
    std::string detail;  // a TLS library's reason, when it has one
    bool ok() const { return result == IoResult::ok; }
    std::string describe() const;  // "timed out", "connection closed by the peer", ...
};

// Milliseconds poll() may wait before `deadline` (rounded up so it does not
// spin), or -1 when the deadline has passed.
int poll_timeout(Deadline deadline);
// Whether a failed send or receive means the peer went away.
bool is_disconnect(int err);

class Stream {
public:
    virtual ~Stream() = default;

    // Sends all of `data` before `deadline`. With `stop_when_readable`, it
    // stops (peer_readable) as soon as the peer has sent anything: in this
    // protocol that is a rejection, and it should be read, not written over.
    virtual IoStatus write_all(std::span<const uint8_t> data, Deadline deadline, std::chrono::milliseconds stall,
                               bool stop_when_readable = false) = 0;
    // Receives exactly out.size() bytes before `deadline`.
    virtual IoStatus read_exact(std::span<uint8_t> out, Deadline deadline, std::chrono::milliseconds stall) = 0;
    // Whether the peer has sent something (or closed) that is waiting to be read.
    virtual bool readable_now() const = 0;

    virtual void shutdown_write() = 0;
    // A graceful close: stop sending and read (and drop) what the peer still
    // sends until it closes too or the deadline passes. Without this a TCP
    // peer may get a reset and lose our last message.
    void linger(Deadline deadline);

    // Whether the peer proved who it is (a TLS handshake with credentials).
    virtual bool authenticated() const { return false; }
};

// The stream for one migration over a connected socket: plain without
// credentials, else TLS after a handshake that ends before `deadline`.
// `peer_name` (client side only): the host or IP address the socket was
// connected to, checked against the server's certificate; empty = not checked.
Result<std::unique_ptr<Stream>> open_stream(int fd, const std::optional<TlsCredentials>& tls,
                                            const std::string& peer_name, Deadline deadline);

}  // namespace dtrack::precopy
