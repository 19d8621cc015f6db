#include "http_request_parser.hpp"

#include <algorithm>
#include <cctype>

namespace dtrack::cli::sidecar {

namespace {

ParsedRequest refused(int status, std::string reason) {
    ParsedRequest p;
    p.outcome = ParsedRequest::Outcome::refused;
    p.status = status;
    p.reason = std::move(reason);
    return p;
}

// RFC 9110 5.6.2: the characters of a token (methods, header names).
bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
        return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos;
    });
}

bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The lines of a complete head, without their CRLF or LF.
std::vector<std::string_view> lines_of(std::string_view head) {
    std::vector<std::string_view> lines;
    while (!head.empty()) {
        const size_t nl = head.find('\n');
        std::string_view line = head.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        head.remove_prefix(nl + 1);
    }
    return lines;
}

// "GET /metrics HTTP/1.1"
ParsedRequest parse_request_line(std::string_view line, HttpRequest& r) {
    const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2)
        return refused(400, "the request line is not METHOD TARGET VERSION");
    const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                           version = line.substr(sp2 + 1);
    if (!is_token(method)) return refused(400, "the method is not a token");
    if (target.empty() || target.find(' ') != std::string_view::npos || has_control(target) || target.front() != '/')
        return refused(400, "the target is not a path");
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !std::isdigit((unsigned char)version[5]) ||
        version[6] != '.' || !std::isdigit((unsigned char)version[7]))
        return refused(400, "the version is not HTTP/x.y");
    if (version[5] != '1') return refused(505, "only HTTP/1.0 and HTTP/1.1 are served");
    r.method = method;
    r.target = target;
    r.minor_version = version[7] - '0';
    return {};
}

// "Name: value"; obsolete line folding is refused (RFC 9112 5.2).
ParsedRequest parse_header_line(std::string_view line, HttpRequest& r) {
    if (line.front() == ' ' || line.front() == '\t') return refused(400, "a header line is folded");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
        return refused(400, "a header line is not NAME: VALUE");
    const std::string_view value = trimmed(line.substr(colon + 1));
    if (has_control(value)) return refused(400, "a header value holds a control character");
    r.headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
    return {};
}

bool all_zeros(std::string_view digits) {
    return std::all_of(digits.begin(), digits.end(), [](char c) { return c == '0'; });
}

// A request with a body is refused, whatever its length: nothing served
// here takes one, and reading one would let a client hold memory or time.
ParsedRequest refuse_bodies_and_check(const HttpRequest& r) {
    if (!r.header("transfer-encoding").empty()) return refused(413, "a request body is not accepted");
    for (const auto& [name, value] : r.headers) {
        if (name != "content-length") continue;
        if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos)
            return refused(400, "Content-Length is not a number");
        if (!all_zeros(value)) return refused(413, "a request body is not accepted");
    }
    const auto hosts =
        std::count_if(r.headers.begin(), r.headers.end(), [](const auto& h) { return h.first == "host"; });
    if (hosts > 1 || (r.minor_version == 1 && hosts == 0))
        return refused(400, "an HTTP/1.1 request has exactly one Host header");
    return {};
}

ParsedRequest parse_head(std::string_view head) {
    ParsedRequest p;
    const std::vector<std::string_view> lines = lines_of(head);
    if (ParsedRequest bad = parse_request_line(lines.front(), p.request); bad.status) return bad;
    for (size_t i = 1; i < lines.size() && !lines[i].empty(); ++i)
        if (ParsedRequest bad = parse_header_line(lines[i], p.request); bad.status) return bad;
    if (ParsedRequest bad = refuse_bodies_and_check(p.request); bad.status) return bad;
    p.outcome = ParsedRequest::Outcome::complete;
    return p;
}

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
    std::string joined;
    for (const auto& [n, v] : headers)
        if (n == name) joined += (joined.empty() ? "" : ", ") + v;
    return joined;
}

std::string HttpRequest::path() const { return target.substr(0, target.find('?')); }

bool HttpRequest::keep_alive() const {
    bool close = false, keep = false;
    const std::string value = header("connection");
    std::string_view tokens = value;
    while (!tokens.empty()) {
        const size_t comma = tokens.find(',');
        const std::string token = lower(trimmed(tokens.substr(0, comma)));
        close = close || token == "close";
        keep = keep || token == "keep-alive";
        tokens.remove_prefix(comma == std::string_view::npos ? tokens.size() : comma + 1);
    }
    return !close && (minor_version >= 1 || keep);
}

ParsedRequest HttpRequestParser::parse(std::string_view buffer) {
    while (scanned_ < buffer.size()) {
        const size_t nl = buffer.find('\n', scanned_);
        if (nl == std::string_view::npos) {
            scanned_ = buffer.size();
            break;
        }
        const size_t line_start = line_start_;
        scanned_ = line_start_ = nl + 1;
        const bool empty = nl == line_start || (nl == line_start + 1 && buffer[line_start] == '\r');
        if (empty && lines_ == 0) {
            head_start_ = scanned_;
            continue;
        }
        if (empty) {
            if (scanned_ > limits_.max_head_bytes) break;
            ParsedRequest p = parse_head(buffer.substr(head_start_, scanned_ - head_start_));
            p.consumed = scanned_;
            return p;
        }
        if (++lines_ > limits_.max_header_lines + 1)  // + the request line
            return refused(431, "more than " + std::to_string(limits_.max_header_lines) + " header lines");
    }
    if (scanned_ > limits_.max_head_bytes)
        return refused(431,
                       "the request line and headers are over " + std::to_string(limits_.max_head_bytes) + " bytes");
    return {};
}

}  // namespace dtrack::cli::sidecar
