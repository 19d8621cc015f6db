#include "support/prometheus_server.hpp"

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/free_loopback_port.hpp"
#include "support/run_command.hpp"

namespace dtrack_test {

using namespace std::chrono_literals;

std::string PrometheusServer::unavailable_reason() {
    if (run("command -v prometheus >/dev/null").exit_code != 0)
        return "prometheus is not installed (Debian's prometheus package; `make deps` installs it where the "
               "distribution has it)";
    return "";
}

PrometheusServer::PrometheusServer(const std::string& config) {
    char path[] = "/tmp/dtrack-prometheus-XXXXXX";
    dir_ = ::mkdtemp(path);
    std::ofstream(dir_ + "/prometheus.yml") << config;
    port_ = free_loopback_port();
    const std::string command =
        "exec prometheus --config.file=" + dir_ + "/prometheus.yml --storage.tsdb.path=" + dir_ +
        "/data --web.listen-address=127.0.0.1:" + std::to_string(port_) + " >" + dir_ + "/log 2>&1";
    pid_ = ::fork();
    if (pid_ == 0) {
        ::execl("/bin/sh", "sh", "-c", command.c_str(), nullptr);
        ::_exit(127);
    }
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(1s);
    for (const auto give_up = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < give_up;
         std::this_thread::sleep_for(50ms)) {
        if (auto res = client.Get("/-/ready"); res && res->status == 200) {
            ready_ = true;
            return;
        }
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // it exited: log() says why
            pid_ = -1;
            return;
        }
    }
}

PrometheusServer::~PrometheusServer() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

std::string PrometheusServer::log() const {
    std::ifstream in(dir_ + "/log");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

nlohmann::json PrometheusServer::api(const std::string& path,
                                     const std::vector<std::pair<std::string, std::string>>& params) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(5s);
    client.set_read_timeout(10s);
    httplib::Params query;
    for (const auto& [name, value] : params) query.emplace(name, value);
    auto res = client.Get(("/api/v1/" + path).c_str(), query, httplib::Headers{});
    if (!res) return {{"status", "error"}, {"error", "no answer from Prometheus: " + httplib::to_string(res.error())}};
    // Prometheus answers errors (a bad query: 400, 422) in JSON too.
    const nlohmann::json answer = nlohmann::json::parse(res->body, nullptr, false);
    if (answer.is_discarded()) return {{"status", "error"}, {"error", "not JSON: " + res->body}};
    return answer;
}

}  // namespace dtrack_test
