#include "http_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>

namespace dtrack::cli::sidecar {

namespace {

enum : uint64_t { listener_id = 1, stop_id = 2, passwords_id = 3 };

// Accepting stops this long when the process is out of file descriptors,
// rather than spinning on a listener that stays readable.
constexpr auto accept_pause = std::chrono::milliseconds(100);
// New connections taken per loop iteration: the ones already in are served between bursts.
constexpr int accept_burst = 16;

HttpResponse unauthorized() {
    HttpResponse r = text_response(401, "unauthorized: give a user name and password of the sidecar's web config\n");
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"dtrack\"");
    return r;
}

void watch(int epoll, int op, int fd, uint32_t events, uint64_t id) {
    epoll_event e{.events = events, .data = {.u64 = id}};
    ::epoll_ctl(epoll, op, fd, &e);
}

}  // namespace

HttpServer::HttpServer(UniqueFd listener, Handler handler, ServerSecurity security, ServerLimits limits)
    : listener_(std::move(listener)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      handler_(std::move(handler)),
      security_(std::move(security)),
      limits_(limits) {
    watch(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), EPOLLIN, listener_id);
    watch(epoll_.get(), EPOLL_CTL_ADD, stop_.get(), EPOLLIN, stop_id);
    if (security_.auth) {
        // One check per connection can wait: the cap on connections bounds them.
        passwords_ = std::make_unique<PasswordCheckThread>(limits_.max_connections);
        watch(epoll_.get(), EPOLL_CTL_ADD, passwords_->fd(), EPOLLIN, passwords_id);
    }
}

void HttpServer::stop() {
    const uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
}

void HttpServer::run() {
    // OpenSSL writes to its socket with write(2): a client that reset the
    // connection just before an answer would raise SIGPIPE, whose default
    // ends the process. Blocked on this thread, the write fails with EPIPE.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    epoll_event events[64];
    for (;;) {
        const int n = ::epoll_wait(epoll_.get(), events, 64, wait_ms(Clock::now()));
        const Clock::time_point now = Clock::now();
        give_turns(now);
        for (int i = 0; i < n; ++i) {
            const uint64_t id = events[i].data.u64;
            if (id == stop_id) return;
            if (id == listener_id) {
                accept_connections(now);
            } else if (id == passwords_id) {
                answer_checked_passwords(now);
            } else if (auto slot = slots_.find(id); slot != slots_.end()) {
                HttpConnection& c = *slot->second.connection;
                if (events[i].events & (EPOLLERR | EPOLLHUP)) c.close();
                else c.progress(now);
                settle(id, now);
            }
        }
        expire(now);
        if (accept_paused_until_ != Clock::time_point{} && now >= accept_paused_until_) {
            accept_paused_until_ = {};
            watch(epoll_.get(), EPOLL_CTL_MOD, listener_.get(), EPOLLIN, listener_id);
        }
    }
}

int HttpServer::wait_ms(Clock::time_point now) const {
    if (!turns_.empty()) return 0;
    Clock::time_point next = Clock::time_point::max();
    for (const auto& [id, slot] : slots_) next = std::min(next, slot.connection->deadline());
    if (accept_paused_until_ != Clock::time_point{}) next = std::min(next, accept_paused_until_);
    if (next == Clock::time_point::max()) return -1;
    if (next <= now) return 0;
    // Rounded up: waking a little early would only spin until the deadline.
    return int(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
}

void HttpServer::accept_connections(Clock::time_point now) {
    for (int i = 0; i < accept_burst; ++i) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                accept_paused_until_ = now + accept_pause;
                watch(epoll_.get(), EPOLL_CTL_MOD, listener_.get(), 0, listener_id);
            }
            return;
        }
        if (slots_.size() >= limits_.max_connections) evict_longest_waiting();
        add(std::move(fd), now);
    }
}

// The connection that has waited longest for its client: idle the longest,
// or whose request began the earliest (a slow one). A scraper that just
// connected, or just sent its request, is the last one chosen; by deadline
// instead, a TLS handshake (5 s) would go before idle clients (30 s).
void HttpServer::evict_longest_waiting() {
    const auto longest = std::min_element(slots_.begin(), slots_.end(), [](const auto& a, const auto& b) {
        return a.second.connection->waiting_since() < b.second.connection->waiting_since();
    });
    if (longest == slots_.end()) return;
    if (passwords_) passwords_->cancel(longest->first);
    slots_.erase(longest);  // closes its socket, which leaves epoll's set
}

void HttpServer::add(UniqueFd fd, Clock::time_point now) {
    // A response goes out in one write, but without TCP_NODELAY a kept
    // connection's next one could wait for the client's delayed ACK (~40 ms).
    const int on = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    auto transport = security_.tls ? security_.tls->wrap(fd.get()) : plain_transport(fd.get());
    if (!transport) return;
    const uint64_t id = next_id_++;
    const int raw = fd.get();
    auto c = std::make_unique<HttpConnection>(std::move(fd), std::move(transport), limits_.connection, now);
    const uint32_t events = c->epoll_events();
    watch(epoll_.get(), EPOLL_CTL_ADD, raw, events, id);
    slots_.emplace(id, Slot{std::move(c), events});
}

void HttpServer::dispatch(uint64_t id, HttpConnection& c, Clock::time_point now) {
    if (security_.auth) {
        BasicAuth::Verdict v = security_.auth->judge(c.request().header("authorization"));
        switch (v.kind) {
            case BasicAuth::Verdict::Kind::allowed: break;
            case BasicAuth::Verdict::Kind::denied: c.respond(unauthorized(), now); return;
            case BasicAuth::Verdict::Kind::check:
                if (!passwords_->submit({id, std::move(v.check), c.deadline()})) {
                    c.respond(text_response(503, "too many passwords are being checked; try again\n"), now);
                    return;
                }
                c.answer_later();
                return;
        }
    }
    c.respond(handler_(c.request()), now);
}

void HttpServer::answer_checked_passwords(Clock::time_point now) {
    for (const PasswordCheckThread::Outcome& o : passwords_->take_outcomes()) {
        security_.auth->remember(o.key, o.allowed);
        const auto slot = slots_.find(o.connection);
        if (slot == slots_.end() || slot->second.connection->state() != HttpConnection::State::answering) continue;
        HttpConnection& c = *slot->second.connection;
        c.respond(o.allowed ? handler_(c.request()) : unauthorized(), now);
        settle(o.connection, now);
    }
}

// After a connection moved: answer its request, drop it if closed, or
// register what it waits for now.
void HttpServer::settle(uint64_t id, Clock::time_point now) {
    const auto slot = slots_.find(id);
    HttpConnection& c = *slot->second.connection;
    if (c.request_is_new()) dispatch(id, c, now);
    if (c.state() == HttpConnection::State::closed) {
        if (passwords_) passwords_->cancel(id);
        slots_.erase(slot);
        return;
    }
    if (c.wants_turn()) turns_.push_back(id);
    if (const uint32_t events = c.epoll_events(); events != slot->second.events) {
        watch(epoll_.get(), EPOLL_CTL_MOD, c.fd(), events, id);
        slot->second.events = events;
    }
}

void HttpServer::give_turns(Clock::time_point now) {
    for (const uint64_t id : std::exchange(turns_, {})) {
        const auto slot = slots_.find(id);
        if (slot == slots_.end() || !slot->second.connection->wants_turn()) continue;
        slot->second.connection->progress(now);
        settle(id, now);
    }
}

void HttpServer::expire(Clock::time_point now) {
    std::vector<uint64_t> due;
    for (const auto& [id, slot] : slots_)
        if (slot.connection->deadline() <= now) due.push_back(id);
    for (const uint64_t id : due) {
        slots_.at(id).connection->expire(now);
        settle(id, now);
    }
}

}  // namespace dtrack::cli::sidecar
