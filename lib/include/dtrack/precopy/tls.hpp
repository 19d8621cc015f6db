// TLS 1.3 for the precopy stream, with QEMU's credentials.
//
// Without TLS a receiver accepts whoever connects first and lets it write
// guest memory. With credentials both ends prove who they are before a byte
// of the stream moves: a peer with the wrong CA, certificate or key is
// refused in the handshake. As in QEMU, the destination (Receiver) is the TLS
// server and the source (Sender) the client.
//
//   x509  a directory in QEMU's tls-creds-x509 layout: ca-cert.pem, and for
//         the server server-cert.pem + server-key.pem, for the client
//         client-cert.pem + client-key.pem. Each side verifies the other's
//         certificate against ca-cert.pem; the server requires one.
//   PSK   a keys file in QEMU's tls-creds-psk layout (keys.psk): lines of
//         IDENTITY:HEXKEY. The client offers the key of its identity (QEMU's
//         default, "qemu"); the server accepts any identity in its file.
//         TLS 1.3 external PSK with (EC)DHE, so sessions stay forward secret.
#pragma once

#include <memory>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

enum class TlsRole {
    client,  // the migration source (Sender)
    server,  // the destination (Receiver)
};

class TlsCredentials {
public:
    static Result<TlsCredentials> load_x509(const std::string& dir, TlsRole role);
    static Result<TlsCredentials> load_psk(const std::string& keys_file, TlsRole role,
                                           const std::string& identity = "qemu");

    TlsRole role() const;
    // "x509 credentials from DIR" or "PSK identity 'qemu' from FILE", for messages.
    const std::string& description() const;

    // The loaded state, for the transport (lib/consumers/precopy/tls.cpp).
    struct Context;
    const Context& context() const { return *context_; }

private:
    explicit TlsCredentials(std::shared_ptr<const Context> context) : context_(std::move(context)) {}
    std::shared_ptr<const Context> context_;  // shared: options that carry credentials stay copyable
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
