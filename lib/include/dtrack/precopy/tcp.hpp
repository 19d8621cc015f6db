// TCP endpoints for a precopy migration: "tcp://HOST:PORT".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/unique_fd.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

struct TcpAddress {
    std::string host;  // an IPv4 address or "localhost"
    uint16_t port = 0;
};

// Parses "tcp://127.0.0.1:4444" (port 0 = any free port, for listening).
Result<TcpAddress> parse_tcp_address(const std::string& uri);

// Connects within `timeout`.
Result<UniqueFd> tcp_connect(const TcpAddress& address, std::chrono::milliseconds timeout);

// 127.0.0.0/8 or "localhost".
bool is_loopback(const TcpAddress& address);

// Listens for one migration.
class TcpListener {
public:
    // Without TLS whoever connects first may write guest memory, so by default
    // only loopback addresses are allowed. Pass `non_loopback_allowed` when the
    // Receiver has TLS credentials, or the operator explicitly accepted an
    // unauthenticated network.
    static Result<TcpListener> listen(const TcpAddress& address, bool non_loopback_allowed = false);
    uint16_t port() const { return port_; }  // the real port, also when asked for 0
    // Waits for one connection, up to `timeout`, and stops listening: one
    // migration per listener, and a second peer is refused at once.
    Result<UniqueFd> accept(std::chrono::milliseconds timeout);

private:
    UniqueFd fd_;
    uint16_t port_ = 0;
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
