// The sidecar's HTTP side (cpp-httplib): GET /metrics in the format the
// scraper asks for, / a short page linking it, 404 elsewhere. It binds
// before anything is attached, so a bad --listen changes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dtrack/error.hpp"
#include "metric_family.hpp"

namespace httplib {
class Server;
}

namespace dtrack::cli::sidecar {

struct ListenAddress {
    std::string host;  // an IPv4 or IPv6 literal
    uint16_t port = 0;  // 0: any free port
    bool loopback() const;
    std::string url() const;  // "http://127.0.0.1:9464"
};

// "127.0.0.1:9464", "[::1]:9464", "localhost:9464" (127.0.0.1), "0.0.0.0:9464".
Result<ListenAddress> parse_listen_address(const std::string& text);

class HttpEndpoint {
public:
    using Scrape = std::function<std::vector<MetricFamily>()>;

    // Binds; errors name the cause (port in use, address not on this host,
    // a port below 1024 without the right) and the fix.
    static Result<std::unique_ptr<HttpEndpoint>> bind(const ListenAddress& address, Scrape scrape);
    // Stops serving and closes the socket.
    ~HttpEndpoint();

    // Serves on threads of its own until destroyed.
    void start();
    // The address it listens on, with the port it got.
    const ListenAddress& address() const { return address_; }

private:
    HttpEndpoint(ListenAddress address, std::unique_ptr<httplib::Server> server);

    ListenAddress address_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
};

}  // namespace dtrack::cli::sidecar
