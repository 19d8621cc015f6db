// What TlsCredentials holds once loaded: an OpenSSL context set up for one
// role (TLS 1.3 only), and for PSK the keys its callbacks look up.
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dtrack/precopy/tls.hpp"

namespace dtrack::precopy {

struct TlsCredentials::Context {
    TlsRole role = TlsRole::client;
    std::string description;
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{nullptr, SSL_CTX_free};
    bool psk = false;
    // PSK: the server's keys by identity; the client's one key under its identity.
    std::map<std::string, std::vector<uint8_t>> keys;
    std::string identity;  // the client's

    ~Context();  // wipes the keys
};

// What the callbacks learn during one handshake (the SSL's app data).
struct TlsHandshakeState {
    std::string note;     // why it failed, when a callback knows better than OpenSSL
    bool ticket = false;  // the client got the server's session ticket
};

// The reasons OpenSSL queued for the last failure, joined, and clears the queue.
std::string openssl_errors();

}  // namespace dtrack::precopy
