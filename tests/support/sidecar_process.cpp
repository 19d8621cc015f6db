#include "support/sidecar_process.hpp"

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/run_command.hpp"

namespace dtrack_test {

using namespace std::chrono_literals;

std::optional<double> ScrapeResult::value(const std::string& name,
                                          const std::vector<std::pair<std::string, std::string>>& labels) const {
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
        const char after = line[name.size()];
        if (after != '{' && after != ' ') continue;
        const size_t end = after == '{' ? line.find("} ") : name.size() - 1;  // the closing brace
        if (end == std::string::npos) continue;
        const std::string label_text = line.substr(name.size(), end + 1 - name.size());  // "{a=\"1\",b=\"2\"}"
        bool all = true;
        for (const auto& [k, v] : labels) {
            const std::string pair = k + "=\"" + v + "\"";
            const size_t at = label_text.find(pair);
            // A whole label: preceded by { or , and followed by , or }.
            all = all && at != std::string::npos && (label_text[at - 1] == '{' || label_text[at - 1] == ',') &&
                  (label_text[at + pair.size()] == ',' || label_text[at + pair.size()] == '}');
        }
        if (all) return std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
    }
    return std::nullopt;
}

SidecarProcess::SidecarProcess(const std::string& args) {
    char path[] = "/tmp/dtrack-sidecar-test-XXXXXX";
    const int fd = ::mkstemp(path);
    ::close(fd);
    log_path_ = path;
    const std::string command =
        "exec " + binary("dtrack") + " sidecar " + args + " --listen 127.0.0.1:0 2>" + log_path_ + " >/dev/null";
    pid_ = ::fork();
    if (pid_ == 0) {
        ::execl("/bin/sh", "sh", "-c", command.c_str(), nullptr);
        ::_exit(127);
    }
    const std::regex serving("serving https?://127\\.0\\.0\\.1:([0-9]+)/metrics");
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < give_up) {
        std::smatch m;
        const std::string text = log();
        if (std::regex_search(text, m, serving)) {
            port_ = std::stoi(m[1]);
            return;
        }
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // it exited: log() says why
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(20ms);
    }
}

SidecarProcess::~SidecarProcess() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    ::unlink(log_path_.c_str());
}

std::string SidecarProcess::log() const {
    std::ifstream in(log_path_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool SidecarProcess::wait_for_log(const std::string& text, std::chrono::seconds limit) const {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (log().find(text) == std::string::npos) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

ScrapeResult SidecarProcess::get(const std::string& path, const std::string& accept) const {
    ScrapeResult r;
    if (port_ == 0) return r;
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(5s);
    client.set_read_timeout(10s);
    httplib::Headers headers;
    if (!accept.empty()) headers.emplace("Accept", accept);
    if (auto res = client.Get(path.c_str(), headers)) {
        r.status = res->status;
        r.content_type = res->get_header_value("Content-Type");
        r.body = res->body;
    }
    return r;
}

ScrapeResult SidecarProcess::scrape_after_harvests(const std::string& target, double harvests,
                                                   std::chrono::seconds limit) const {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    for (;;) {
        ScrapeResult r = get();
        if (r.value("dtrack_harvests_total", {{"target", target}}).value_or(0) >= harvests) return r;
        if (std::chrono::steady_clock::now() > give_up) return {};
        std::this_thread::sleep_for(50ms);
    }
}

namespace {

// A number from /proc/PID/status ("VmRSS:   12345 kB"); -1 when absent.
long status_field(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field + ":", 0) == 0) return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    return -1;
}

}  // namespace

long SidecarProcess::rss_kib() const { return pid_ > 0 ? status_field(pid_, "VmRSS") : -1; }

int SidecarProcess::threads() const { return pid_ > 0 ? int(status_field(pid_, "Threads")) : -1; }

int SidecarProcess::open_fds() const {
    if (pid_ <= 0) return -1;
    std::error_code ec;
    int n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++n;
    return ec ? -1 : n;
}

int SidecarProcess::stop(int signal) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    int status = 0;
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    while (::waitpid(pid_, &status, WNOHANG) != pid_) {
        if (std::chrono::steady_clock::now() > give_up) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
            return -1;
        }
        std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace dtrack_test
