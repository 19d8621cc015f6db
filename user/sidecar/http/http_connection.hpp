// One client connection of the sidecar's HTTP server, as a state machine the
// server's single thread drives: it moves only as far as its non-blocking
// socket allows, and always has one deadline. Its memory is bounded: the
// input is one request head at most (the parser's limits), the output one
// response, and it reads nothing more until that response is sent.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "dtrack/unique_fd.hpp"
#include "http_request_parser.hpp"
#include "http_response.hpp"
#include "http_transport.hpp"

namespace dtrack::cli::sidecar {

using Clock = std::chrono::steady_clock;

struct ConnectionLimits {
    RequestLimits request;
    // From a request's first byte (for TLS, from the connection's first: the
    // handshake) until its response is sent, however the client paces it.
    std::chrono::milliseconds request_time{5000};
    // Between requests (keep-alive), and before the first one.
    std::chrono::milliseconds idle_time{30000};
    // After the last response: reading and dropping what the client still
    // sends, so that the close does not reset the response away.
    std::chrono::milliseconds linger_time{1000};
    size_t max_linger_bytes = 256 * 1024;
};

class HttpConnection {
public:
    enum class State {
        handshaking,  // TLS
        reading,      // a request, or idle between requests
        answering,    // a request read, its response not given yet (e.g. a password being checked)
        writing,      // the response
        closing,      // sent all; draining until the client closes
        closed,
    };

    HttpConnection(UniqueFd fd, std::unique_ptr<Transport> transport, const ConnectionLimits& limits,
                   Clock::time_point now);

    // Moves on as far as the socket allows.
    void progress(Clock::time_point now);
    // The deadline passed: a request begun gets 408, anything else is closed.
    void expire(Clock::time_point now);
    // A request read (state answering): the server answers it with respond().
    const HttpRequest& request() const { return request_; }
    bool request_is_new() const { return state_ == State::answering && !answer_pending_; }
    void answer_later() { answer_pending_ = true; }
    void respond(const HttpResponse& response, Clock::time_point now);
    void close();
    // A response was sent and the connection kept: its next request (perhaps
    // pipelined, or buffered by TLS where epoll cannot see it) waits for a
    // turn the server gives it with progress().
    bool wants_turn() const { return state_ == State::reading && turn_wanted_; }

    State state() const { return state_; }
    Clock::time_point deadline() const { return deadline_; }
    // When what it waits for now began: the connection, the idle time after
    // a response, or the request's first byte. The server evicts the
    // earliest first; one closing anyway goes before all.
    Clock::time_point waiting_since() const { return state_ == State::closing ? Clock::time_point::min() : since_; }
    // EPOLLIN / EPOLLOUT as the state and the transport wait.
    uint32_t epoll_events() const;
    int fd() const { return fd_.get(); }

private:
    void handshake(Clock::time_point now);
    void read_request(Clock::time_point now);
    void parse(Clock::time_point now);
    void write_response(Clock::time_point now);
    void linger();
    void start_next_request(Clock::time_point now);
    void refuse(int status, const std::string& reason);

    UniqueFd fd_;
    std::unique_ptr<Transport> transport_;
    const ConnectionLimits& limits_;
    HttpRequestParser parser_;
    State state_;
    Clock::time_point deadline_;
    Clock::time_point since_;
    Transport::Wait wait_ = Transport::Wait::readable;  // what the transport's last call waits for
    std::string input_;  // this request's bytes from its first (and any pipelined after it)
    HttpRequest request_;
    size_t request_bytes_ = 0;
    bool answer_pending_ = false;
    std::string output_;  // the response
    size_t written_ = 0;
    bool keep_alive_ = false;
    size_t lingered_ = 0;
    bool turn_wanted_ = false;
};

}  // namespace dtrack::cli::sidecar
