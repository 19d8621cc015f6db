// A client of the sidecar on a plain TCP socket, to play the hostile side:
// it sends any bytes at any pace, reads what comes back, and sees when the
// server closes the connection. Every wait has a limit (a guard against
// hanging, not a measurement).
#pragma once

#include <chrono>
#include <string>

#include "dtrack/unique_fd.hpp"

namespace dtrack_test {

class RawHttpClient {
public:
    // Connects to 127.0.0.1:port; connected() says whether it did.
    explicit RawHttpClient(int port);

    bool connected() const { return fd_.valid(); }
    // Sends `bytes` within `limit`, reading what arrives meanwhile; false
    // when the server closed or reset the connection first, or time ran out.
    bool send(const std::string& bytes, std::chrono::milliseconds limit = std::chrono::seconds(5));
    // Waits until a whole response (its head and Content-Length bytes of
    // body) has arrived; false if it did not within `limit`.
    bool wait_for_response(std::chrono::milliseconds limit);
    // Waits until the server closes or resets the connection; false if it
    // did not within `limit`.
    bool wait_until_closed(std::chrono::milliseconds limit);
    bool closed_by_server() const { return closed_; }

    // Everything received; the first response's status (0: none yet).
    const std::string& received() const { return received_; }
    int status() const;
    // The received bytes after the first response's head.
    std::string body() const;

private:
    // Reads what is there now; false once the server has closed.
    bool read_available();
    bool response_complete() const;

    dtrack::UniqueFd fd_;
    std::string received_;
    bool closed_ = false;
};

// GET `path` on a connection of its own, answered within `limit`; the
// response's status, 0 when none came in time.
int get_status_within(int port, const std::string& path, std::chrono::milliseconds limit);

}  // namespace dtrack_test
