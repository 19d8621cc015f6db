// HTTP/1.x request heads from raw bytes, under limits: the sidecar's server
// reads a request into a bounded buffer and asks this parser, which decides
// alone whether it is complete, still coming, or refused (and with which
// status). No body is ever accepted: /metrics needs none, and refusing them
// keeps a connection's input bounded by the head limit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dtrack::cli::sidecar {

struct HttpRequest {
    std::string method;                                        // "GET"
    std::string target;                                        // as sent: "/metrics?x=1"
    int minor_version = 1;                                     // HTTP/1.minor
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, in order

    // Every value of header `name` (lower case), joined by ", "; empty when absent.
    std::string header(std::string_view name) const;
    // The target up to its query.
    std::string path() const;
    // Whether the client keeps the connection open after the response
    // (HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "keep-alive").
    bool keep_alive() const;
};

struct RequestLimits {
    size_t max_head_bytes = 16 * 1024;  // request line and headers, with their line ends
    size_t max_header_lines = 100;
};

struct ParsedRequest {
    enum class Outcome { incomplete, complete, refused };
    Outcome outcome = Outcome::incomplete;
    HttpRequest request;  // complete
    size_t consumed = 0;  // complete: the bytes of the head, where the next request starts
    int status = 0;       // refused: 400, 413, 431 or 505; the connection is closed after it
    std::string reason;   // refused: why, in words for the response's body
};

class HttpRequestParser {
public:
    explicit HttpRequestParser(RequestLimits limits = {}) : limits_(limits) {}

    // `buffer` holds one request from its first byte; between calls it only
    // grows at its end. Each byte is looked at once, so a client that sends a
    // byte at a time costs no more than one that sends the head at once.
    ParsedRequest parse(std::string_view buffer);
    // For the next request (its bytes start a new buffer).
    void reset() { *this = HttpRequestParser(limits_); }

private:
    RequestLimits limits_;
    size_t scanned_ = 0;     // bytes searched for line ends so far
    size_t line_start_ = 0;  // where the line being received starts
    size_t head_start_ = 0;  // after empty lines before the request line (RFC 9112 2.2 allows them)
    size_t lines_ = 0;       // the request line and header lines seen
};

}  // namespace dtrack::cli::sidecar
