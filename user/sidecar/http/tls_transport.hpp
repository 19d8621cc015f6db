// HTTPS for the sidecar: an OpenSSL server context made from the web
// config's tls_server_config, and a TLS session per connection on its
// non-blocking socket (a Transport, so the server loop treats both alike).
#pragma once

#include <openssl/ssl.h>

#include <memory>

#include "dtrack/error.hpp"
#include "http_transport.hpp"
#include "web_config.hpp"

namespace dtrack::cli::sidecar {

class TlsServerContext {
public:
    // Loads the certificate, its key and the client CA; errors name the key
    // of the web config, the file and the fix.
    static Result<std::shared_ptr<const TlsServerContext>> create(const TlsServerSettings& settings);

    // A server-side session on the socket `fd` (not owned); nullptr when
    // OpenSSL cannot make one.
    std::unique_ptr<Transport> wrap(int fd) const;

private:
    TlsServerContext() = default;
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_{nullptr, SSL_CTX_free};
};

}  // namespace dtrack::cli::sidecar
