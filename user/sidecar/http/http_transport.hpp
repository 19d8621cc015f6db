// The bytes of one HTTP connection, over plain TCP or TLS, on a non-blocking
// socket: every call returns at once and says what it waits for, so one
// thread serves every connection (http_server.cpp).
#pragma once

#include <cstddef>
#include <memory>

namespace dtrack::cli::sidecar {

class Transport {
public:
    enum class Wait { none, readable, writable };
    struct Io {
        size_t bytes = 0;        // moved by this call
        Wait wait = Wait::none;  // none with 0 bytes: the peer closed, or the connection failed
        bool failed() const { return bytes == 0 && wait == Wait::none; }
    };

    virtual ~Transport() = default;
    enum class Handshake { done, waiting, failed };
    // TLS: the handshake so far (`wait` says for what while waiting); done at once for TCP.
    virtual Handshake handshake(Wait& wait) = 0;
    virtual Io read(char* into, size_t size) = 0;
    virtual Io write(const char* from, size_t size) = 0;
    // The end of what this side sends (TLS close_notify, then TCP FIN).
    virtual void shutdown_write() = 0;
    virtual bool secure() const { return false; }
};

// Plain TCP on the socket `fd` (not owned).
std::unique_ptr<Transport> plain_transport(int fd);

}  // namespace dtrack::cli::sidecar
