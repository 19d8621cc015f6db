#include "http_connection.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <cstdio>

namespace dtrack::cli::sidecar {

HttpConnection::HttpConnection(UniqueFd fd, std::unique_ptr<Transport> transport, const ConnectionLimits& limits,
                               Clock::time_point now)
    : fd_(std::move(fd)),
      transport_(std::move(transport)),
      limits_(limits),
      parser_(limits.request),
      state_(transport_->secure() ? State::handshaking : State::reading),
      deadline_(now + (transport_->secure() ? limits.request_time : limits.idle_time)),
      since_(now) {}

void HttpConnection::progress(Clock::time_point now) {
    for (;;) {
        const State before = state_;
        switch (state_) {
            case State::handshaking: handshake(now); break;
            case State::reading: read_request(now); break;
            case State::writing: write_response(now); break;
            case State::closing: linger(); break;
            case State::answering:
            case State::closed: return;
        }
        // After a response the next request waits for the connection's next
        // turn: one client's pipelined requests do not hold up the others.
        if (state_ == before || (before == State::writing && state_ == State::reading)) return;
    }
}

void HttpConnection::handshake(Clock::time_point now) {
    switch (transport_->handshake(wait_)) {
        case Transport::Handshake::done:
            state_ = State::reading;
            wait_ = Transport::Wait::readable;
            deadline_ = now + limits_.idle_time;
            since_ = now;
            return;
        case Transport::Handshake::waiting: return;
        case Transport::Handshake::failed: close(); return;
    }
}

void HttpConnection::read_request(Clock::time_point now) {
    turn_wanted_ = false;
    // One byte past the limit at most: enough for the parser to refuse.
    const size_t most = limits_.request.max_head_bytes + 1;
    char buf[4096];
    bool peer_done = false;
    while (input_.size() < most) {
        const Transport::Io io = transport_->read(buf, std::min(sizeof buf, most - input_.size()));
        if (io.bytes == 0) {
            wait_ = io.wait;
            peer_done = io.wait == Transport::Wait::none;
            break;
        }
        if (input_.empty()) {  // a request's time starts with its first byte
            deadline_ = now + limits_.request_time;
            since_ = now;
        }
        input_.append(buf, io.bytes);
    }
    const ParsedRequest parsed = parser_.parse(input_);
    switch (parsed.outcome) {
        case ParsedRequest::Outcome::incomplete:
            if (peer_done) close();
            return;
        case ParsedRequest::Outcome::refused: refuse(parsed.status, parsed.reason); return;
        case ParsedRequest::Outcome::complete:
            request_ = parsed.request;
            request_bytes_ = parsed.consumed;
            keep_alive_ = request_.keep_alive() && !peer_done;
            answer_pending_ = false;
            state_ = State::answering;
            return;
    }
}

void HttpConnection::respond(const HttpResponse& response, Clock::time_point now) {
    output_ = serialize_response(response, request_.method == "HEAD", keep_alive_);
    written_ = 0;
    state_ = State::writing;
    progress(now);
}

void HttpConnection::refuse(int status, const std::string& reason) {
    keep_alive_ = false;  // what follows a refused head cannot be told from a body
    output_ = serialize_response(text_response(status, reason + "\n"), false, false);
    written_ = 0;
    state_ = State::writing;
}

void HttpConnection::write_response(Clock::time_point now) {
    while (written_ < output_.size()) {
        const Transport::Io io = transport_->write(output_.data() + written_, output_.size() - written_);
        if (io.bytes == 0) {
            wait_ = io.wait;
            if (io.failed()) close();
            return;
        }
        written_ += io.bytes;
    }
    std::string().swap(output_);  // a large scrape's memory goes back now, not at the next response
    if (keep_alive_) {
        start_next_request(now);
        return;
    }
    transport_->shutdown_write();
    state_ = State::closing;
    wait_ = Transport::Wait::readable;
    deadline_ = now + limits_.linger_time;
}

void HttpConnection::start_next_request(Clock::time_point now) {
    input_.erase(0, request_bytes_);
    if (input_.empty()) std::string().swap(input_);
    parser_.reset();
    request_ = {};
    state_ = State::reading;
    turn_wanted_ = true;
    wait_ = Transport::Wait::readable;
    deadline_ = now + (input_.empty() ? limits_.idle_time : limits_.request_time);
    since_ = now;
}

void HttpConnection::linger() {
    char buf[4096];
    for (;;) {
        const Transport::Io io = transport_->read(buf, sizeof buf);
        if (io.bytes == 0) {
            wait_ = io.wait;
            if (io.failed()) close();
            return;
        }
        lingered_ += io.bytes;
        if (lingered_ > limits_.max_linger_bytes) {
            close();
            return;
        }
    }
}

void HttpConnection::expire(Clock::time_point now) {
    if (state_ == State::reading && !input_.empty()) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.1f", limits_.request_time.count() / 1000.0);
        refuse(408, "the request took longer than " + std::string(seconds) + " s");
        deadline_ = now + limits_.linger_time;
        progress(now);
        return;
    }
    close();
}

void HttpConnection::close() {
    state_ = State::closed;
    transport_.reset();
    fd_.reset();
}

uint32_t HttpConnection::epoll_events() const {
    if (state_ == State::answering || state_ == State::closed) return 0;
    return wait_ == Transport::Wait::writable ? EPOLLOUT : EPOLLIN;
}

}  // namespace dtrack::cli::sidecar
