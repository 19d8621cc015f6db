// --web-config-file: node_exporter's web configuration file (exporter-toolkit's
// docs/web-configuration.md), so operators reuse the files they have: TLS
// (tls_server_config) and basic authentication (basic_auth_users). Keys it
// does not know are refused by name, as node_exporter refuses them; keys
// node_exporter knows that the sidecar does not implement are refused too,
// rather than ignored (an ignored client_allowed_sans would let in clients
// the operator meant to keep out).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "dtrack/error.hpp"

namespace dtrack::cli::sidecar {

// node_exporter's client_auth_type values (Go's tls.ClientAuthType).
enum class ClientAuth {
    none,                // NoClientCert (the default)
    request,             // RequestClientCert: asked for, not verified
    require_any,         // RequireAnyClientCert: required, not verified
    verify_if_given,     // VerifyClientCertIfGiven
    require_and_verify,  // RequireAndVerifyClientCert: the one that authenticates
};

struct TlsServerSettings {
    // Relative paths in the file are taken from the file's directory, as
    // node_exporter takes them.
    std::string cert_file, key_file, client_ca_file;
    ClientAuth client_auth = ClientAuth::none;
    uint16_t min_version = 0x0303, max_version = 0x0304;  // TLS 1.2, TLS 1.3 (the wire's numbers)
};

struct WebConfig {
    std::optional<TlsServerSettings> tls;
    std::map<std::string, std::string> basic_auth_users;  // name -> bcrypt hash; empty: no basic auth

    // Whether a client must prove who it is (a password or a verified certificate).
    bool authenticates() const {
        return !basic_auth_users.empty() || (tls && tls->client_auth == ClientAuth::require_and_verify);
    }
};

constexpr size_t max_web_config_bytes = 64 * 1024;

// Reads and checks the file; the certificates it names are loaded by
// TlsServerContext::create. Every error names the file, the key and the fix.
Result<WebConfig> load_web_config(const std::string& path);

}  // namespace dtrack::cli::sidecar
