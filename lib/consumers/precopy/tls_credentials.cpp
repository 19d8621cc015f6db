// Loading TLS credentials in QEMU's file layout (x509 directory, PSK keys file).
#include "consumers/precopy/tls_credentials.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace dtrack::precopy {

namespace {

using Context = TlsCredentials::Context;

const std::string x509_layout =
    "QEMU's tls-creds-x509 layout: ca-cert.pem, server-cert.pem and server-key.pem on the destination, "
    "client-cert.pem and client-key.pem on the source";
const std::string psk_format =
    "QEMU's keys.psk format: one IDENTITY:HEXKEY line per identity, e.g. "
    "echo \"qemu:$(openssl rand -hex 32)\" > keys.psk, the same file on both ends";

int ticket_arrived(SSL* ssl, SSL_SESSION*) {
    if (auto* state = static_cast<TlsHandshakeState*>(SSL_get_app_data(ssl))) state->ticket = true;
    return 0;  // not kept
}

// In TLS 1.3 an x509 client finishes its handshake before the server has
// checked the client's certificate. The server's one session ticket comes
// only after that check, so the client waits for it (precopy/tls.cpp) and
// learns of a refusal in the handshake, not from its first write. The ticket
// is never used to resume. (With a PSK the server checks the key before it
// answers at all, so no ticket is needed.)
void confirm_with_ticket(Context& c) {
    if (c.role == TlsRole::server) {
        SSL_CTX_set_num_tickets(c.ctx.get(), 1);
    } else {
        SSL_CTX_set_session_cache_mode(c.ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c.ctx.get(), ticket_arrived);
    }
}

// A fresh context for `role`: TLS 1.3 only.
Result<std::unique_ptr<Context>> new_context(TlsRole role, std::string description) {
    auto c = std::make_unique<Context>();
    c->role = role;
    c->description = std::move(description);
    c->ctx.reset(SSL_CTX_new(role == TlsRole::client ? TLS_client_method() : TLS_server_method()));
    if (!c->ctx) return Error{ENOMEM, "creating a TLS context failed: " + openssl_errors(), ""};
    SSL_CTX* ctx = c->ctx.get();
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    // No session tickets, except the one x509 needs (confirm_with_ticket): nothing
    // resumes, and a ticket arriving after the handshake would look to the
    // sender like the receiver talking (a rejection).
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // A close without close_notify reads as a close: the stream's END record
    // and digest, not TLS, tell a complete migration from a cut one.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    return c;
}

Status readable_file(const std::string& dir, const std::string& name) {
    const std::string path = dir + "/" + name;
    if (::access(path.c_str(), R_OK) == 0) return Ok{};
    const int err = errno;
    return Error{err, name + (err == ENOENT ? " not found in " : " is not readable in ") + dir,
                 "put it there (" + x509_layout + ")"};
}

Error bad_pem(const std::string& dir, const std::string& name, const std::string& what) {
    return Error{EINVAL, name + " in " + dir + " is not " + what + ": " + openssl_errors(),
                 "give a PEM file (" + x509_layout + ")"};
}

// --- PSK: TLS 1.3 external PSK through the session callbacks --------------------------

const Context& context_of(SSL* ssl) { return *static_cast<const Context*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl))); }

// A session that carries the key as an external PSK, for TLS_AES_128_GCM_SHA256
// (the PSK's hash must be the suite's; the contexts offer SHA-256 suites only).
SSL_SESSION* psk_session(SSL* ssl, const std::vector<uint8_t>& key) {
    static const unsigned char aes128gcm_sha256[] = {0x13, 0x01};
    const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);
    SSL_SESSION* s = cipher ? SSL_SESSION_new() : nullptr;
    if (!s) return nullptr;
    if (!SSL_SESSION_set1_master_key(s, key.data(), key.size()) || !SSL_SESSION_set_cipher(s, cipher) ||
        !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
        SSL_SESSION_free(s);
        return nullptr;
    }
    return s;
}

int use_psk(SSL* ssl, const EVP_MD* md, const unsigned char** id, size_t* id_len, SSL_SESSION** session) {
    const Context& c = context_of(ssl);
    SSL_SESSION* s = psk_session(ssl, c.keys.at(c.identity));
    if (!s) return 0;
    if (md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
        SSL_SESSION_free(s);  // a retried hello for another hash: this key does not fit it
        *session = nullptr;
        return 1;
    }
    *id = reinterpret_cast<const unsigned char*>(c.identity.data());
    *id_len = c.identity.size();
    *session = s;
    return 1;
}

int find_psk(SSL* ssl, const unsigned char* id, size_t id_len, SSL_SESSION** session) {
    const Context& c = context_of(ssl);
    const std::string identity(reinterpret_cast<const char*>(id), id_len);
    const auto key = c.keys.find(identity);
    if (key == c.keys.end()) {
        // No key, no handshake: this context has no certificate to fall back on.
        if (auto* state = static_cast<TlsHandshakeState*>(SSL_get_app_data(ssl)))
            state->note = "the sender's PSK identity '" + identity + "' is not in " + c.description;
        *session = nullptr;
        return 1;
    }
    *session = psk_session(ssl, key->second);
    return *session ? 1 : 0;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
    return s;
}

Result<std::vector<uint8_t>> parse_hex_key(const std::string& hex, const std::string& where) {
    std::vector<uint8_t> key;
    const Error bad{EINVAL, where + ": the key is not an even number of hex digits", psk_format};
    if (hex.size() % 2) return bad;
    for (size_t i = 0; i < hex.size(); i += 2) {
        const int hi = OPENSSL_hexchar2int(static_cast<unsigned char>(hex[i]));
        const int lo = OPENSSL_hexchar2int(static_cast<unsigned char>(hex[i + 1]));
        if (hi < 0 || lo < 0) return bad;
        key.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    // Under 128 bits a key can be guessed; OpenSSL keeps at most 64 bytes.
    if (key.size() < 16 || key.size() > 64)
        return Error{EINVAL, where + ": the key has " + std::to_string(key.size()) + " bytes, not 16 to 64",
                     psk_format};
    return key;
}

}  // namespace

TlsCredentials::Context::~Context() {
    for (auto& [identity, key] : keys) OPENSSL_cleanse(key.data(), key.size());
}

std::string openssl_errors() {
    std::string all;
    while (const unsigned long e = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(e);
        char buf[256];
        if (!reason) reason = ERR_error_string(e, buf);
        if (all.find(reason) != std::string::npos) continue;
        all += (all.empty() ? "" : "; ") + std::string(reason);
    }
    return all.empty() ? "no reason given" : all;
}

TlsRole TlsCredentials::role() const { return context_->role; }
const std::string& TlsCredentials::description() const { return context_->description; }

Result<TlsCredentials> TlsCredentials::load_x509(const std::string& dir, TlsRole role) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return Error{ENOTDIR, "TLS credentials directory " + dir + " not found", "give a directory in " + x509_layout};
    const std::string side = role == TlsRole::server ? "server" : "client";
    const std::string cert = side + "-cert.pem", key = side + "-key.pem";
    for (const std::string& name : {std::string("ca-cert.pem"), cert, key})
        if (Status s = readable_file(dir, name); !s) return s.error();
    auto c = new_context(role, "x509 credentials from " + dir);
    if (!c) return c.error();
    SSL_CTX* ctx = c.value()->ctx.get();
    ERR_clear_error();
    if (SSL_CTX_load_verify_file(ctx, (dir + "/ca-cert.pem").c_str()) != 1)
        return bad_pem(dir, "ca-cert.pem", "a CA certificate");
    if (SSL_CTX_use_certificate_chain_file(ctx, (dir + "/" + cert).c_str()) != 1)
        return bad_pem(dir, cert, "a certificate");
    const Error mismatch{EINVAL, key + " in " + dir + " does not belong to " + cert,
                         "give the key the certificate was made for"};
    if (SSL_CTX_use_PrivateKey_file(ctx, (dir + "/" + key).c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) return mismatch;
        return bad_pem(dir, key, "a private key");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) return mismatch;
    // Both ends verify the peer; the destination insists that there is one.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (role == TlsRole::server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
    confirm_with_ticket(*c.value());
    return TlsCredentials(std::shared_ptr<const Context>(std::move(c.value())));
}

Result<TlsCredentials> TlsCredentials::load_psk(const std::string& keys_file, TlsRole role,
                                                const std::string& identity) {
    std::ifstream in(keys_file);
    if (!in) {
        const int err = errno;
        return Error{err, "PSK keys file " + keys_file + (err == ENOENT ? " not found" : " is not readable"),
                     "create it in " + psk_format};
    }
    const std::string what =
        role == TlsRole::client ? "PSK identity '" + identity + "' from " + keys_file : "PSK keys from " + keys_file;
    auto c = new_context(role, what);
    if (!c) return c.error();
    Context& context = *c.value();
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        line = trimmed(line);
        if (line.empty()) continue;
        const std::string where = keys_file + " line " + std::to_string(number);
        const size_t colon = line.find(':');
        if (colon == std::string::npos || colon == 0)
            return Error{EINVAL, where + " is not IDENTITY:HEXKEY", psk_format};
        auto key = parse_hex_key(line.substr(colon + 1), where);
        if (!key) return key.error();
        context.keys[line.substr(0, colon)] = std::move(key.value());
    }
    if (context.keys.empty()) return Error{EINVAL, "PSK keys file " + keys_file + " has no keys", psk_format};
    SSL_CTX* ctx = context.ctx.get();
    SSL_CTX_set_app_data(ctx, static_cast<void*>(&context));
    // SHA-256 suites only: an external PSK is bound to one hash.
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256");
    context.psk = true;
    if (role == TlsRole::client) {
        if (!context.keys.count(identity))
            return Error{ENOENT, "PSK identity '" + identity + "' not found in " + keys_file,
                         "add a line " + identity + ":HEXKEY, or use an identity the file has"};
        context.identity = identity;
        for (auto k = context.keys.begin(); k != context.keys.end();) {  // keep only its own key
            if (k->first == identity) {
                ++k;
                continue;
            }
            OPENSSL_cleanse(k->second.data(), k->second.size());
            k = context.keys.erase(k);
        }
        SSL_CTX_set_psk_use_session_callback(ctx, use_psk);
    } else {
        SSL_CTX_set_psk_find_session_callback(ctx, find_psk);
    }
    return TlsCredentials(std::shared_ptr<const Context>(std::move(c.value())));
}

}  // namespace dtrack::precopy
