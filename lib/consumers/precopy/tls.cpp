// TLS 1.3 over a connected socket with OpenSSL, non-blocking, every wait
// bounded by a deadline like the plain socket's.
#include "consumers/precopy/tls.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>

namespace dtrack::precopy {

namespace {

using steady = std::chrono::steady_clock;

// Waits for `events` until `deadline`: 1 ready, 0 the deadline passed, -1 an error (errno).
int wait_for(int fd, short events, Deadline deadline, short* revents = nullptr) {
    for (;;) {
        const int timeout = poll_timeout(deadline);
        if (timeout < 0) return 0;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, timeout);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) continue;  // the deadline is checked at the top
        if (revents) *revents = p.revents;
        return 1;
    }
}

// A TLS client opens with a handshake record (ClientHello): content type 22.
constexpr uint8_t tls_handshake_record = 0x16;

// The server's first look at the connection: a plain-TCP sender gets a clear
// refusal instead of OpenSSL's view of its stream header as a broken record.
Status expect_client_hello(int fd, Deadline deadline) {
    const int w = wait_for(fd, POLLIN, deadline);
    if (w == 0)
        return Error{ETIMEDOUT, "the sender did not start the TLS handshake in time",
                     "check that the sender runs with TLS credentials"};
    if (w < 0) return errno_error("waiting for the TLS handshake", errno);
    uint8_t first = 0;
    const ssize_t n = ::recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return Error{ECONNRESET, "the sender closed the connection before the TLS handshake", ""};
    if (n < 0) return errno_error("waiting for the TLS handshake", errno);
    if (first != tls_handshake_record)
        return Error{EPROTO, "the sender did not start a TLS handshake (it sent plain data: a sender without TLS?)",
                     "give the sender the same kind of credentials (dtvm: --tls-creds DIR or --tls-psk FILE)"};
    return Ok{};
}

IoStatus closed(size_t done, int err = 0) { return IoStatus{IoResult::closed, err, done}; }

}  // namespace

Result<std::unique_ptr<TlsStream>> TlsStream::handshake(int fd, const TlsCredentials& credentials,
                                                        const std::string& peer_name, Deadline deadline) {
    const TlsCredentials::Context& c = credentials.context();
    const bool server = c.role == TlsRole::server;
    if (server)
        if (Status s = expect_client_hello(fd, deadline); !s) return s.error();
    ERR_clear_error();
    SSL* ssl = SSL_new(c.ctx.get());
    if (!ssl) return Error{ENOMEM, "TLS: " + openssl_errors(), ""};
    std::unique_ptr<TlsStream> t(new TlsStream(fd, ssl, credentials));
    SSL_set_app_data(ssl, &t->state_);
    // OpenSSL reads and writes the socket itself: it must not block there.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno_error("fcntl O_NONBLOCK", errno);
    if (SSL_set_fd(ssl, fd) != 1)
        return Error{EBADF, "TLS on socket " + std::to_string(fd) + ": " + openssl_errors(), ""};
    if (!server && !peer_name.empty() && !c.psk) {
        in_addr ip{};
        const bool is_ip = ::inet_pton(AF_INET, peer_name.c_str(), &ip) == 1;
        const int set = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), peer_name.c_str())
                              : SSL_set1_host(ssl, peer_name.c_str());
        if (set != 1) return Error{EINVAL, "TLS: cannot check the name " + peer_name + ": " + openssl_errors(), ""};
    }
    server ? SSL_set_accept_state(ssl) : SSL_set_connect_state(ssl);

    const char* peer = server ? "sender" : "receiver";
    auto timed_out = [&] {
        return Error{ETIMEDOUT, std::string("the TLS handshake with the ") + peer + " did not finish in time",
                     "check that both ends run with TLS credentials"};
    };
    for (;;) {
        ERR_clear_error();
        errno = 0;
        // An x509 client's handshake ends when the server's ticket arrives:
        // the server has accepted its certificate (precopy/tls_credentials.cpp).
        const bool wait_for_ticket = !server && !c.psk;
        int r;
        if (!SSL_is_init_finished(ssl)) {
            r = SSL_do_handshake(ssl);
            if (r == 1 && !wait_for_ticket) break;
            if (r == 1) continue;
        } else {
            if (t->state_.ticket) break;
            uint8_t byte;
            r = SSL_peek(ssl, &byte, 1);
            if (r > 0) break;  // data before a ticket: the server accepted us
        }
        const int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return t->handshake_failed(e);
        if (t->state_.ticket) break;
        const int w = wait_for(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        if (w == 0) return timed_out();
        if (w < 0) return errno_error("waiting for the TLS handshake", errno);
    }
    return t;
}

Error TlsStream::handshake_failed(int ssl_error) const {
    const bool server = credentials_.role() == TlsRole::server;
    const std::string peer = server ? "sender" : "receiver";
    std::string why;
    std::string fix =
        credentials_.context().psk
            ? "give both ends the same keys file, with the identity the source uses"
            : "give both ends certificates signed by the same CA, as ca-cert.pem, in QEMU's layout (the "
              "destination: server-cert.pem, server-key.pem; the source: client-cert.pem, client-key.pem)";
    if (!state_.note.empty()) {
        why = state_.note;
    } else if (const long v = SSL_get_verify_result(ssl_.get()); v != X509_V_OK) {
        why = "this side refused the " + peer + "'s certificate: " + X509_verify_cert_error_string(v);
    } else if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
        why = "the " + peer + " closed the connection";
    } else {
        const unsigned long e = ERR_peek_error();
        const std::string reasons = openssl_errors();
        if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER) {
            why = "the " + peer + " does not speak TLS (" + reasons + ")";
            fix = "give the " + peer + " TLS credentials too (dtvm: --tls-creds DIR or --tls-psk FILE)";
        } else if (reasons.find("alert") != std::string::npos) {
            why = "the " + peer + " refused this side (" + reasons + ")";
        } else {
            why = reasons;
        }
    }
    return Error{EACCES, "TLS handshake with the " + peer + " failed: " + why, fix};
}

namespace {

// The loop both directions share: call `op(done)` (SSL_read or SSL_write)
// until `size` bytes moved, waiting with poll() for whichever direction
// OpenSSL asks for. Gives up at `deadline`, or when no byte moved for `stall`.
template <typename Op>
IoStatus pump(SSL* ssl, int fd, bool& failed, size_t size, Deadline deadline, std::chrono::milliseconds stall,
              bool stop_when_readable, Op op) {
    size_t done = 0;
    Deadline progress_by = steady::now() + stall;  // moves on with every byte
    while (done < size) {
        if (failed) return IoStatus{IoResult::failed, EPROTO, done, "the TLS session failed earlier"};
        ERR_clear_error();
        errno = 0;
        const int n = op(done);
        if (n > 0) {
            done += static_cast<size_t>(n);
            progress_by = steady::now() + stall;
            continue;
        }
        short events = 0;
        switch (const int e = SSL_get_error(ssl, n)) {
            case SSL_ERROR_WANT_READ: events = POLLIN; break;
            case SSL_ERROR_WANT_WRITE: events = POLLOUT; break;
            case SSL_ERROR_ZERO_RETURN: return closed(done);
            case SSL_ERROR_SYSCALL: {
                const int err = errno;
                failed = true;
                if (err == 0 || is_disconnect(err)) return closed(done, err);
                return IoStatus{IoResult::failed, err, done};
            }
            default:
                failed = true;
                return IoStatus{IoResult::failed, EPROTO, done,
                                "TLS error " + std::to_string(e) + ": " + openssl_errors()};
        }
        short revents = 0;
        const int w = wait_for(fd, static_cast<short>(events | (stop_when_readable ? POLLIN : 0)),
                               std::min(deadline, progress_by), &revents);
        if (w == 0) return IoStatus{IoResult::timed_out, 0, done};
        if (w < 0) return IoStatus{IoResult::failed, errno, done};
        if (stop_when_readable && !(events & POLLIN) && (revents & POLLIN))
            return IoStatus{IoResult::peer_readable, 0, done};
    }
    return IoStatus{IoResult::ok, 0, done};
}

int clamp(size_t n) { return static_cast<int>(std::min<size_t>(n, INT_MAX)); }

}  // namespace

IoStatus TlsStream::write_all(std::span<const uint8_t> data, Deadline deadline, std::chrono::milliseconds stall,
                              bool stop_when_readable) {
    // In this protocol the receiver talks only to refuse: stop writing over it.
    if (stop_when_readable && readable_now()) return IoStatus{IoResult::peer_readable, 0, 0};
    return pump(ssl_.get(), fd_, failed_, data.size(), deadline, stall, stop_when_readable,
                [&](size_t done) { return SSL_write(ssl_.get(), data.data() + done, clamp(data.size() - done)); });
}

IoStatus TlsStream::read_exact(std::span<uint8_t> out, Deadline deadline, std::chrono::milliseconds stall) {
    return pump(ssl_.get(), fd_, failed_, out.size(), deadline, stall, false,
                [&](size_t done) { return SSL_read(ssl_.get(), out.data() + done, clamp(out.size() - done)); });
}

bool TlsStream::readable_now() const {
    if (SSL_pending(ssl_.get()) > 0) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

void TlsStream::shutdown_write() {
    // close_notify, when the session can still send one; then the FIN.
    if (!failed_) SSL_shutdown(ssl_.get());
    ::shutdown(fd_, SHUT_WR);
}

}  // namespace dtrack::precopy
