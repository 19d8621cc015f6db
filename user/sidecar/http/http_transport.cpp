#include "http_transport.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace dtrack::cli::sidecar {

namespace {

class PlainTransport : public Transport {
public:
    explicit PlainTransport(int fd) : fd_(fd) {}

    Handshake handshake(Wait&) override { return Handshake::done; }

    Io read(char* into, size_t size) override {
        const ssize_t n = ::recv(fd_, into, size, 0);
        if (n > 0) return {.bytes = size_t(n)};
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return {.wait = Wait::readable};
        return {};
    }

    Io write(const char* from, size_t size) override {
        // MSG_NOSIGNAL: a client gone mid-response is an error here, not SIGPIPE.
        const ssize_t n = ::send(fd_, from, size, MSG_NOSIGNAL);
        if (n > 0) return {.bytes = size_t(n)};
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return {.wait = Wait::writable};
        return {};
    }

    void shutdown_write() override { ::shutdown(fd_, SHUT_WR); }

private:
    int fd_;
};

}  // namespace

std::unique_ptr<Transport> plain_transport(int fd) { return std::make_unique<PlainTransport>(fd); }

}  // namespace dtrack::cli::sidecar
