// A TLS 1.3 session over a connected socket, as a precopy Stream: the same
// deadlines and stall limits as StreamSocket, the bytes encrypted and the
// peer authenticated by the handshake before any of them moves.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "consumers/precopy/stream.hpp"
#include "consumers/precopy/tls_credentials.hpp"

namespace dtrack::precopy {

class TlsStream : public Stream {
public:
    // Runs the handshake as the credentials' role before `deadline`.
    // `peer_name` (client): the host or IPv4 address the server's certificate
    // must name; empty = any certificate the CA signed.
    static Result<std::unique_ptr<TlsStream>> handshake(int fd, const TlsCredentials& credentials,
                                                        const std::string& peer_name, Deadline deadline);

    IoStatus write_all(std::span<const uint8_t> data, Deadline deadline, std::chrono::milliseconds stall,
                       bool stop_when_readable = false) override;
    IoStatus read_exact(std::span<uint8_t> out, Deadline deadline, std::chrono::milliseconds stall) override;
    bool readable_now() const override;
    void shutdown_write() override;
    bool authenticated() const override { return true; }

private:
    Error handshake_failed(int ssl_error) const;

    TlsStream(int fd, SSL* ssl, TlsCredentials credentials)
        : fd_(fd), ssl_(ssl, SSL_free), credentials_(std::move(credentials)) {}

    int fd_;
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
    TlsCredentials credentials_;  // keeps the SSL_CTX alive
    TlsHandshakeState state_;
    bool failed_ = false;  // after a fatal error OpenSSL must not be asked to shut down
};

}  // namespace dtrack::precopy
