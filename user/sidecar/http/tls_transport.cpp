#include "tls_transport.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include "consumers/precopy/tls_credentials.hpp"  // openssl_errors()
#include "small_file.hpp"

namespace dtrack::cli::sidecar {

namespace {

using precopy::openssl_errors;

// PEM files hold a few certificates: far below this.
constexpr size_t max_pem_bytes = 1024 * 1024;

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

Result<Bio> pem_file(const std::string& path, const std::string& key) {
    auto text = read_small_file(path, max_pem_bytes, "tls_server_config." + key);
    if (!text) return text.error();
    Bio bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!bio || BIO_write(bio.get(), text->data(), int(text->size())) != int(text->size()))
        return Error{ENOMEM, "reading " + path + " failed: " + openssl_errors(), ""};
    return bio;
}

Error bad_pem(const std::string& key, const std::string& path, const std::string& what) {
    return Error{EINVAL, "tls_server_config." + key + " " + path + " holds no " + what + ": " + openssl_errors(),
                 "give a PEM file with the " + what};
}

// The server's certificate, then the chain after it in the same file.
Status use_certificate(SSL_CTX* ctx, const std::string& path) {
    auto bio = pem_file(path, "cert_file");
    if (!bio) return bio.error();
    X509Ptr leaf(PEM_read_bio_X509_AUX(bio->get(), nullptr, nullptr, nullptr), X509_free);
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1) return bad_pem("cert_file", path, "certificate");
    while (X509* more = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr))
        if (SSL_CTX_add0_chain_cert(ctx, more) != 1) {
            X509_free(more);
            return bad_pem("cert_file", path, "certificate chain");
        }
    ERR_clear_error();  // the end of the file reads as an error
    return Ok{};
}

Status use_key(SSL_CTX* ctx, const std::string& path, const std::string& cert_path) {
    auto bio = pem_file(path, "key_file");
    if (!bio) return bio.error();
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    if (!key) return bad_pem("key_file", path, "private key (without a passphrase)");
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        return Error{EINVAL, "tls_server_config.key_file " + path + " is not the key of cert_file " + cert_path,
                     "give the key the certificate was made for"};
    return Ok{};
}

// Trusted for client certificates, and named to clients in the handshake.
Status use_client_ca(SSL_CTX* ctx, const std::string& path) {
    auto bio = pem_file(path, "client_ca_file");
    if (!bio) return bio.error();
    int count = 0;
    while (X509* ca = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr)) {
        const bool ok =
            X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) == 1 && SSL_CTX_add_client_CA(ctx, ca) == 1;
        X509_free(ca);
        if (!ok) return bad_pem("client_ca_file", path, "CA certificate");
        ++count;
    }
    ERR_clear_error();
    if (count == 0) return bad_pem("client_ca_file", path, "CA certificate");
    return Ok{};
}

// Request and RequireAny take any certificate, verified or not (Go's meaning).
int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }

void set_client_auth(SSL_CTX* ctx, ClientAuth auth) {
    switch (auth) {
        case ClientAuth::none: SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr); break;
        case ClientAuth::request: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_certificate); break;
        case ClientAuth::require_any:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any_certificate);
            break;
        case ClientAuth::verify_if_given: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr); break;
        case ClientAuth::require_and_verify:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
            break;
    }
}

class TlsTransport : public Transport {
public:
    TlsTransport(int fd, SSL* ssl) : fd_(fd), ssl_(ssl, SSL_free) {}

    Handshake handshake(Wait& wait) override {
        ERR_clear_error();
        const int r = SSL_do_handshake(ssl_.get());
        if (r == 1) return Handshake::done;
        wait = waiting_for(r);
        return wait == Wait::none ? Handshake::failed : Handshake::waiting;
    }

    Io read(char* into, size_t size) override {
        ERR_clear_error();
        size_t n = 0;
        if (SSL_read_ex(ssl_.get(), into, size, &n) == 1) return {.bytes = n};
        return {.wait = waiting_for(0)};
    }

    Io write(const char* from, size_t size) override {
        ERR_clear_error();
        size_t n = 0;
        if (SSL_write_ex(ssl_.get(), from, size, &n) == 1) return {.bytes = n};
        return {.wait = waiting_for(0)};
    }

    void shutdown_write() override {
        if (!failed_) {
            ERR_clear_error();
            SSL_shutdown(ssl_.get());  // close_notify, best effort: the socket is non-blocking
        }
        ::shutdown(fd_, SHUT_WR);
    }

    bool secure() const override { return true; }

private:
    // What the last call waits for; Wait::none: the session is over.
    Wait waiting_for(int result) {
        switch (SSL_get_error(ssl_.get(), result)) {
            case SSL_ERROR_WANT_READ: return Wait::readable;
            case SSL_ERROR_WANT_WRITE: return Wait::writable;
            case SSL_ERROR_ZERO_RETURN: return Wait::none;
            default:
                failed_ = true;  // OpenSSL must not be asked to shut down after a fatal error
                ERR_clear_error();
                return Wait::none;
        }
    }

    int fd_;
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
    bool failed_ = false;
};

}  // namespace

Result<std::shared_ptr<const TlsServerContext>> TlsServerContext::create(const TlsServerSettings& s) {
    std::shared_ptr<TlsServerContext> c(new TlsServerContext());
    c->ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = c->ctx_.get();
    if (!ctx) return Error{ENOMEM, "creating a TLS context failed: " + openssl_errors(), ""};
    ERR_clear_error();
    if (Status st = use_certificate(ctx, s.cert_file); !st) return st.error();
    if (Status st = use_key(ctx, s.key_file, s.cert_file); !st) return st.error();
    if (!s.client_ca_file.empty())
        if (Status st = use_client_ca(ctx, s.client_ca_file); !st) return st.error();
    set_client_auth(ctx, s.client_auth);
    SSL_CTX_set_min_proto_version(ctx, s.min_version);
    SSL_CTX_set_max_proto_version(ctx, s.max_version);
    // Memory per connection stays flat: no session cache or tickets (a
    // scraper keeps its connection open instead), buffers freed while idle,
    // and no renegotiation (a client could make the server work for free).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    return std::shared_ptr<const TlsServerContext>(std::move(c));
}

std::unique_ptr<Transport> TlsServerContext::wrap(int fd) const {
    SSL* ssl = SSL_new(ctx_.get());
    if (!ssl) return nullptr;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return nullptr;
    }
    SSL_set_accept_state(ssl);
    return std::make_unique<TlsTransport>(fd, ssl);
}

}  // namespace dtrack::cli::sidecar
