#include "http_response.hpp"

#include <ctime>

namespace dtrack::cli::sidecar {

namespace {

const char* reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 431: return "Request Header Fields Too Large";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Error";
    }
}

// RFC 9110 6.6.1: an origin server with a clock sends Date, in IMF-fixdate.
std::string http_date() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

}  // namespace

HttpResponse text_response(int status, std::string text) {
    return HttpResponse{.status = status, .content_type = "text/plain; charset=utf-8", .body = std::move(text)};
}

std::string serialize_response(const HttpResponse& r, bool head_only, bool keep_alive) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
    out += "Date: " + http_date() + "\r\n";
    if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
    // Said either way: an HTTP/1.0 client keeps the connection only when told.
    out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    out += "\r\n";
    if (!head_only) out += r.body;
    return out;
}

}  // namespace dtrack::cli::sidecar
