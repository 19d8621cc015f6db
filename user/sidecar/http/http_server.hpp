// The sidecar's HTTP/1.1 server: one thread, epoll, non-blocking sockets.
// No client can hold it up: every connection has a deadline (http_connection),
// a request's answer is computed at once (or, for a password not checked yet,
// on the password thread), and the open connections are capped: a new one
// beyond the cap closes the one that has waited longest for its client, so a
// scraper that connects while hostile clients hold the cap is still served
// (it has waited least).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "basic_auth.hpp"
#include "dtrack/unique_fd.hpp"
#include "http_connection.hpp"
#include "password_check_thread.hpp"
#include "tls_transport.hpp"

namespace dtrack::cli::sidecar {

struct ServerLimits {
    ConnectionLimits connection;
    size_t max_connections = 64;
};

struct ServerSecurity {
    std::shared_ptr<const TlsServerContext> tls;  // null: plain HTTP
    std::shared_ptr<BasicAuth> auth;              // null: no basic authentication
};

class HttpServer {
public:
    // Answers a request that passed authentication.
    using Handler = std::function<HttpResponse(const HttpRequest&)>;

    // `listener`: a bound, listening, non-blocking socket.
    HttpServer(UniqueFd listener, Handler handler, ServerSecurity security, ServerLimits limits = {});

    // Serves on the calling thread until stop().
    void run();
    // From any thread.
    void stop();

private:
    struct Slot {
        std::unique_ptr<HttpConnection> connection;
        uint32_t events = 0;  // as registered with epoll
    };

    void accept_connections(Clock::time_point now);
    void add(UniqueFd fd, Clock::time_point now);
    void evict_longest_waiting();
    void dispatch(uint64_t id, HttpConnection& c, Clock::time_point now);
    void answer_checked_passwords(Clock::time_point now);
    void settle(uint64_t id, Clock::time_point now);
    void give_turns(Clock::time_point now);
    void expire(Clock::time_point now);
    int wait_ms(Clock::time_point now) const;

    UniqueFd listener_, epoll_, stop_;
    Handler handler_;
    ServerSecurity security_;
    ServerLimits limits_;
    std::unique_ptr<PasswordCheckThread> passwords_;
    std::map<uint64_t, Slot> slots_;
    std::vector<uint64_t> turns_;  // connections that want another turn (wants_turn)
    uint64_t next_id_ = 16;        // below: the listener, stop_ and the password thread's eventfd
    Clock::time_point accept_paused_until_{};
};

}  // namespace dtrack::cli::sidecar
