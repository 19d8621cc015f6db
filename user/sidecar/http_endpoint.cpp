#include "http_endpoint.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dtrack/unique_fd.hpp"
#include "exposition_format.hpp"

namespace dtrack::cli::sidecar {

namespace {

const char* const index_page =
    "<!DOCTYPE html>\n<html><head><title>dtrack sidecar</title></head><body>\n"
    "<h1>dtrack sidecar</h1>\n<p>Dirty-page rates of the processes it watches: <a href=\"/metrics\">/metrics</a> "
    "(Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when asked for).</p>\n</body></html>\n";

bool is_ipv6(const std::string& host) { return host.find(':') != std::string::npos; }

// httplib says only that binding failed; binding a socket of our own the
// same way tells why.
int why_bind_fails(const ListenAddress& a) {
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
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return errno;
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // as httplib does
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno;
    if (::listen(fd.get(), 1) != 0) return errno;
    return 0;
}

Error bind_error(const ListenAddress& a) {
    const int err = why_bind_fails(a);
    const std::string where = "--listen " + a.url().substr(7);
    switch (err) {
    case EADDRINUSE:
        return Error{err, where + ": the port is in use (another sidecar or exporter?)",
                     "choose another port, e.g. --listen " + std::string(is_ipv6(a.host) ? "[" + a.host + "]" : a.host) +
                         ":" + std::to_string(a.port + 1)};
    case EADDRNOTAVAIL:
        return Error{err, where + ": no interface of this host has that address",
                     "give an address of this host, or 127.0.0.1 (the default)"};
    case EACCES:
        return Error{err, where + ": ports below 1024 need CAP_NET_BIND_SERVICE",
                     "use a port from 1024 up (9464 is the default)"};
    default:
        return errno_error("binding " + where, err, "check the address and port");
    }
}

}  // namespace

bool ListenAddress::loopback() const {
    if (is_ipv6(host)) return host == "::1";
    in_addr a{};
    return ::inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

std::string ListenAddress::url() const {
    return "http://" + (is_ipv6(host) ? "[" + host + "]" : host) + ":" + std::to_string(port);
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

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::bind(const ListenAddress& address, Scrape scrape) {
    auto server = std::make_unique<httplib::Server>();
    // A few threads are plenty for a scraper or two; httplib's default is 8+.
    server->new_task_queue = [] { return new httplib::ThreadPool(2); };
    server->set_address_family(is_ipv6(address.host) ? AF_INET6 : AF_INET);
    // A response goes out as headers then body: without TCP_NODELAY the body
    // waits for the scraper's delayed ACK (~40 ms per keep-alive scrape).
    server->set_tcp_nodelay(true);
    // SO_REUSEADDR (a restart binds while old connections linger), but not
    // httplib's SO_REUSEPORT, with which a second sidecar would share the
    // port instead of being refused.
    server->set_socket_options([](int sock) {
        int on = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    });
    server->Get("/metrics", [scrape](const httplib::Request& req, httplib::Response& res) {
        const ExpositionFormat format = negotiate_format(req.get_header_value("Accept"));
        res.set_content(render(scrape(), format), std::string(content_type(format)));
    });
    server->Get("/", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(index_page, "text/html; charset=utf-8");
    });
    server->set_error_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.status == 404) res.set_content("not found: the metrics are at /metrics\n", "text/plain; charset=utf-8");
    });
    ListenAddress bound = address;
    if (address.port == 0) {
        const int port = server->bind_to_any_port(address.host);
        if (port <= 0) return bind_error(address);
        bound.port = uint16_t(port);
    } else if (!server->bind_to_port(address.host, address.port)) {
        return bind_error(address);
    }
    return std::unique_ptr<HttpEndpoint>(new HttpEndpoint(bound, std::move(server)));
}

HttpEndpoint::HttpEndpoint(ListenAddress address, std::unique_ptr<httplib::Server> server)
    : address_(std::move(address)), server_(std::move(server)) {}

HttpEndpoint::~HttpEndpoint() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
}

void HttpEndpoint::start() {
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() does nothing to a server that is not running yet: wait until it
    // is, so that the destructor can always end it.
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace dtrack::cli::sidecar
