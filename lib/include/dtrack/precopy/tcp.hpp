// TCP endpoints for a precopy migration: "tcp://HOST:PORT".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack::precopy {

struct TcpAddress {
    std::string host;  // an IPv4 address or "localhost"
    uint16_t port = 0;
};

// Parses "tcp://127.0.0.1:4444" (port 0 = any free port, for listening).
Result<TcpAddress> parse_tcp_address(const std::string& uri);

// Connects within `timeout`.
Result<UniqueFd> tcp_connect(const TcpAddress& address, std::chrono::milliseconds timeout);

class TcpListener {
public:
    static Result<TcpListener> listen(const TcpAddress& address);
    uint16_t port() const { return port_; }  // the real port, also when asked for 0
    // Waits for one connection, up to `timeout`.
    Result<UniqueFd> accept(std::chrono::milliseconds timeout);

private:
    UniqueFd fd_;
    uint16_t port_ = 0;
};

}  // namespace dtrack::precopy
