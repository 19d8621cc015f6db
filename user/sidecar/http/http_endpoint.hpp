// The sidecar's HTTP side: GET /metrics in the format the scraper asks for,
// / a short page linking it, 404 elsewhere, over plain HTTP or, with a web
// config (node_exporter's format), TLS and basic authentication. It binds
// before anything is attached, so a bad --listen changes nothing. The
// server itself (http_server.hpp) is one thread that no client can stop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dtrack/error.hpp"
#include "sidecar/metrics/metric_family.hpp"
#include "http_server.hpp"
#include "web_config.hpp"

namespace dtrack::cli::sidecar {

class HttpServer;

struct ListenAddress {
    std::string host;   // an IPv4 or IPv6 literal
    uint16_t port = 0;  // 0: any free port
    bool loopback() const;
    std::string host_port() const;  // "127.0.0.1:9464", "[::1]:9464"
    std::string url() const { return "http://" + host_port(); }
};

// "127.0.0.1:9464", "[::1]:9464", "localhost:9464" (127.0.0.1), "0.0.0.0:9464".
Result<ListenAddress> parse_listen_address(const std::string& text);

class HttpEndpoint {
public:
    using Scrape = std::function<std::vector<MetricFamily>()>;

    // Loads the web config's certificates, then binds; errors name the cause
    // (a certificate file, port in use, address not on this host, a port below
    // 1024 without the right) and the fix.
    static Result<std::unique_ptr<HttpEndpoint>> bind(const ListenAddress& address, Scrape scrape,
                                                      const WebConfig& web = {}, const ServerLimits& limits = {});
    // Stops serving and closes the socket.
    ~HttpEndpoint();

    // Serves on a thread of its own until destroyed.
    void start();
    // The address it listens on, with the port it got.
    const ListenAddress& address() const { return address_; }
    // "https://127.0.0.1:9464" with TLS, else "http://...".
    std::string url() const { return (tls_ ? "https://" : "http://") + address_.host_port(); }

private:
    HttpEndpoint(ListenAddress address, std::unique_ptr<HttpServer> server, bool tls);

    ListenAddress address_;
    std::unique_ptr<HttpServer> server_;
    bool tls_;
    std::thread thread_;
};

}  // namespace dtrack::cli::sidecar
