// The real `build/dtrack sidecar` for tests: started on a free loopback
// port, scraped over HTTP with httplib's client, stopped with a signal.
// It may serve HTTPS (a --web-config-file): port() is found either way.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dtrack_test {

struct ScrapeResult {
    int status = 0;  // 0: no answer
    std::string content_type;
    std::string body;

    // The value of the sample NAME whose labels include every one of
    // `labels` (the text format's, or OpenMetrics' samples), if there is one.
    std::optional<double> value(const std::string& name,
                                const std::vector<std::pair<std::string, std::string>>& labels = {}) const;
    bool has(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels = {}) const {
        return value(name, labels).has_value();
    }
};

class SidecarProcess {
public:
    // Runs `dtrack sidecar ARGS --listen 127.0.0.1:0` and waits until it
    // says where it serves, or exits (then port() is 0 and log() says why).
    explicit SidecarProcess(const std::string& args);
    // Kills it if it still runs.
    ~SidecarProcess();
    SidecarProcess(const SidecarProcess&) = delete;
    SidecarProcess& operator=(const SidecarProcess&) = delete;

    pid_t pid() const { return pid_; }
    int port() const { return port_; }
    // What it wrote to stderr so far.
    std::string log() const;
    // Waits until its log holds `text`; false after `limit` (a guard against
    // hanging, not a measurement).
    bool wait_for_log(const std::string& text, std::chrono::seconds limit = std::chrono::seconds(30)) const;

    ScrapeResult get(const std::string& path = "/metrics", const std::string& accept = "") const;
    // Scrapes until dtrack_harvests_total{target} reaches `harvests`;
    // the last scrape (status 0 when the guard ran out).
    ScrapeResult scrape_after_harvests(const std::string& target, double harvests,
                                       std::chrono::seconds limit = std::chrono::seconds(30)) const;

    // From /proc: its resident memory (VmRSS, KiB), open file descriptors
    // and threads; -1 when it does not run.
    long rss_kib() const;
    int open_fds() const;
    int threads() const;

    // Sends `signal` and waits; the exit code, or -1 when it did not exit by
    // itself within 30 s (it is killed then) or died of a signal.
    int stop(int signal);

private:
    pid_t pid_ = -1;
    int port_ = 0;
    std::string log_path_;
};

}  // namespace dtrack_test
