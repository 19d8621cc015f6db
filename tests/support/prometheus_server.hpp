// A real Prometheus (Debian's `prometheus` package) for tests: its own
// config, storage and log in a fresh temporary directory, on a free loopback
// port, asked over its HTTP API, stopped and removed with the object.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace dtrack_test {

class PrometheusServer {
public:
    // Why no Prometheus can run here ("" when one can).
    static std::string unavailable_reason();

    // Starts `prometheus` with `config` (prometheus.yml's text; give rule
    // files absolute paths) and waits until it says it is ready, or exits
    // (then ready() is false and log() says why); 30 s at most, a guard.
    explicit PrometheusServer(const std::string& config);
    // Kills it and removes its directory.
    ~PrometheusServer();
    PrometheusServer(const PrometheusServer&) = delete;
    PrometheusServer& operator=(const PrometheusServer&) = delete;

    bool ready() const { return ready_; }
    std::string log() const;

    // GET /api/v1/PATH with `params` (repeat a name for a list, as match[]):
    // the parsed answer, or {"status": "error", "error": why} without one.
    nlohmann::json api(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& params = {}) const;
    // An instant query's answer (/api/v1/query).
    nlohmann::json query(const std::string& promql) const { return api("query", {{"query", promql}}); }

private:
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
    bool ready_ = false;
};

}  // namespace dtrack_test
