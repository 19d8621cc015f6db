#include "http_endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dtrack/unique_fd.hpp"
#include "http_compression.hpp"
#include "http_server.hpp"
#include "sidecar/metrics/exposition_format.hpp"

namespace dtrack::cli::sidecar {

namespace {

const char* const index_page =
    "<!DOCTYPE html>\n<html><head><title>dtrack sidecar</title></head><body>\n"
    "<h1>dtrack sidecar</h1>\n<p>Dirty-page rates of the processes it watches: <a href=\"/metrics\">/metrics</a> "
    "(Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when asked for).</p>\n</body></html>\n";

bool is_ipv6(const std::string& host) { return host.find(':') != std::string::npos; }

Error bind_error(const ListenAddress& a, int err) {
    const std::string where = "--listen " + a.host_port();
    switch (err) {
        case EADDRINUSE:
            return Error{err, where + ": the port is in use (another sidecar or exporter?)",
                         "choose another port, e.g. --listen " +
                             std::string(is_ipv6(a.host) ? "[" + a.host + "]" : a.host) + ":" +
                             std::to_string(a.port + 1)};
        case EADDRNOTAVAIL:
            return Error{err, where + ": no interface of this host has that address",
                         "give an address of this host, or 127.0.0.1 (the default)"};
        case EACCES:
            return Error{err, where + ": ports below 1024 need CAP_NET_BIND_SERVICE",
                         "use a port from 1024 up (9464 is the default)"};
        default: return errno_error("binding " + where, err, "check the address and port");
    }
}

// A listening non-blocking socket on `a`. SO_REUSEADDR (a restart binds
// while old connections linger), but not SO_REUSEPORT, with which a second
// sidecar would share the port instead of being refused.
Result<UniqueFd> listen_on(ListenAddress& a) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (is_ipv6(a.host)) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a.port);
        ::inet_pton(AF_INET6, a.host.c_str(), &s6->sin6_addr);
        len = sizeof *s6;
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a.port);
        ::inet_pton(AF_INET, a.host.c_str(), &s4->sin_addr);
        len = sizeof *s4;
    }
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return errno_error("socket", errno);
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd.get(), SOMAXCONN) != 0)
        return bind_error(a, errno);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errno_error("getsockname", errno);
    a.port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return fd;
}

// What the sidecar serves, to a request that passed authentication.
HttpResponse answer(const HttpRequest& r, const HttpEndpoint::Scrape& scrape) {
    if (r.method != "GET" && r.method != "HEAD") {
        HttpResponse no = text_response(405, "only GET and HEAD are served\n");
        no.headers.emplace_back("Allow", "GET, HEAD");
        return no;
    }
    const std::string path = r.path();
    if (path == "/metrics") {
        const ExpositionFormat format = negotiate_format(r.header("accept"));
        HttpResponse metrics{.content_type = std::string(content_type(format)), .body = render(scrape(), format)};
        metrics.headers.emplace_back("Vary", "Accept-Encoding");
        if (accepts_gzip(r.header("accept-encoding")))
            if (std::string zipped = gzip(metrics.body); !zipped.empty()) {
                metrics.body = std::move(zipped);
                metrics.headers.emplace_back("Content-Encoding", "gzip");
            }
        return metrics;
    }
    if (path == "/") return HttpResponse{.content_type = "text/html; charset=utf-8", .body = index_page};
    return text_response(404, "not found: the metrics are at /metrics\n");
}

Result<ServerSecurity> security_of(const WebConfig& web) {
    ServerSecurity security;
    if (web.tls) {
        auto tls = TlsServerContext::create(*web.tls);
        if (!tls) return tls.error();
        security.tls = *tls;
    }
    if (!web.basic_auth_users.empty()) security.auth = std::make_shared<BasicAuth>(web.basic_auth_users);
    return security;
}

}  // namespace

bool ListenAddress::loopback() const {
    if (is_ipv6(host)) return host == "::1";
    in_addr a{};
    return ::inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

std::string ListenAddress::host_port() const {
    return (is_ipv6(host) ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ListenAddress> parse_listen_address(const std::string& text) {
    const Error bad{EINVAL, "--listen " + text + " is not an address and port",
                    "give IP:PORT, e.g. --listen 127.0.0.1:9464 (the default) or [::1]:9464"};
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return bad;
    std::string host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    if (host.front() == '[') {
        if (host.back() != ']') return bad;
        host = host.substr(1, host.size() - 2);
        in6_addr a6{};
        if (::inet_pton(AF_INET6, host.c_str(), &a6) != 1) return bad;
    } else {
        if (host == "localhost") host = "127.0.0.1";
        in_addr a4{};
        if (::inet_pton(AF_INET, host.c_str(), &a4) != 1) return bad;
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535)
        return Error{EINVAL, "--listen " + text + ": '" + port + "' is not a port", "give a port from 1 to 65535"};
    return ListenAddress{host, uint16_t(std::stoul(port))};
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::bind(const ListenAddress& address, Scrape scrape,
                                                         const WebConfig& web, const ServerLimits& limits) {
    auto security = security_of(web);
    if (!security) return security.error();
    ListenAddress bound = address;
    auto listener = listen_on(bound);
    if (!listener) return listener.error();
    auto server = std::make_unique<HttpServer>(
        std::move(*listener), [scrape = std::move(scrape)](const HttpRequest& r) { return answer(r, scrape); },
        *security, limits);
    return std::unique_ptr<HttpEndpoint>(new HttpEndpoint(bound, std::move(server), web.tls.has_value()));
}

HttpEndpoint::HttpEndpoint(ListenAddress address, std::unique_ptr<HttpServer> server, bool tls)
    : address_(std::move(address)), server_(std::move(server)), tls_(tls) {}

HttpEndpoint::~HttpEndpoint() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
}

// The socket listens from bind() on: a client that connects before this
// waits in the backlog.
void HttpEndpoint::start() {
    thread_ = std::thread([this] { server_->run(); });
}

}  // namespace dtrack::cli::sidecar
