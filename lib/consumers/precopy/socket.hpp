// Deadline-bounded I/O on a connected stream socket (TCP or AF_UNIX).
//
// Every call waits with poll() and gives up at its deadline, or when no byte
// moved for `stall` (a peer that stopped reading or writing), so a stalled
// peer can slow a migration but never hang it. Sends use
// MSG_NOSIGNAL: a closed peer is an error value, not a SIGPIPE.
#pragma once

#include "consumers/precopy/stream.hpp"

namespace dtrack::precopy {

// Ok when `fd` is an open, connected stream socket; else the Error says
// which it is not (EBADF, ENOTSOCK, EPROTOTYPE, ENOTCONN). Checked before a
// migration starts: poll() ignores a negative fd, and waiting on any of
// these would only end at a timeout that says nothing of the cause.
Status check_connected_stream(int fd);

class StreamSocket : public Stream {
public:
    explicit StreamSocket(int fd) : fd_(fd) {}

    IoStatus write_all(std::span<const uint8_t> data, Deadline deadline, std::chrono::milliseconds stall,
                       bool stop_when_readable = false) override;
    IoStatus read_exact(std::span<uint8_t> out, Deadline deadline, std::chrono::milliseconds stall) override;
    bool readable_now() const override;
    void shutdown_write() override;

    int fd() const { return fd_; }

private:
    int fd_;
};

}  // namespace dtrack::precopy
