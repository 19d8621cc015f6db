// Deadline-bounded I/O on a connected stream socket (TCP or AF_UNIX).
//
// Every call waits with poll() and gives up at its deadline, or when no byte
// moved for `stall` (a peer that stopped reading or writing), so a stalled
// peer can slow a migration but never hang it. Sends use
// MSG_NOSIGNAL: a closed peer is an error value, not a SIGPIPE.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

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
    failed,         // another error (errno in `err`)
};

struct IoStatus {
    IoResult result = IoResult::ok;
    int err = 0;       // errno, when there was one
    size_t done = 0;   // bytes moved before the call returned
    bool ok() const { return result == IoResult::ok; }
    std::string describe() const;  // "timed out", "connection closed by the peer", ...
};

class StreamSocket {
public:
    explicit StreamSocket(int fd) : fd_(fd) {}

    // Sends all of `data` before `deadline`. With `stop_when_readable`, it
    // stops (peer_readable) as soon as the peer has sent anything: in this
    // protocol that is a rejection, and it should be read, not written over.
    IoStatus write_all(std::span<const uint8_t> data, Deadline deadline, std::chrono::milliseconds stall,
                       bool stop_when_readable = false);
    // Receives exactly out.size() bytes before `deadline`.
    IoStatus read_exact(std::span<uint8_t> out, Deadline deadline, std::chrono::milliseconds stall);
    // Whether the peer has sent something (or closed) that is waiting to be read.
    bool readable_now() const;

    void shutdown_write();
    // A graceful close: stop sending and read (and drop) what the peer still
    // sends until it closes too or the deadline passes. Without this a TCP
    // peer may get a reset and lose our last message.
    void linger(Deadline deadline);

    int fd() const { return fd_; }

private:
    int fd_;
};

}  // namespace dtrack::precopy
