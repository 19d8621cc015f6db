// What the sidecar's server answers, and its bytes on the wire (HTTP/1.1).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dtrack::cli::sidecar {

struct HttpResponse {
    int status = 200;
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // more, e.g. Allow, WWW-Authenticate
};

// A short plain-text answer ("not found: the metrics are at /metrics\n").
HttpResponse text_response(int status, std::string text);

// The status line, the headers (Content-Length, Date, Connection: close or
// keep-alive) and, unless `head_only` (a HEAD request), the body.
std::string serialize_response(const HttpResponse& response, bool head_only, bool keep_alive);

}  // namespace dtrack::cli::sidecar
