// sidecar_soak: runs `dtrack sidecar` for a long while (10 minutes by
// default) as it runs in production, and fails unless it stays healthy:
//   - targets churn: dtvm guests whose pid files come and go every cycle
//     (target_churn.hpp), beside steady guests that stay;
//   - scrape load: /metrics every 100 ms over keep-alive (scrape_load.hpp);
//   - hostile clients stay connected throughout (hostile_clients.hpp).
// Passes when every scrape was answered with every steady target, the p99
// scrape latency is at most --p99-limit-ms, and RSS, open files, threads and
// BPF programs and links are as flat at the end as after warm-up (sampled
// when each cycle's guests are gone, so that every sample sees the same
// targets). Exit codes: 0 healthy, 1 not (the report says which figure),
// 2 bad usage or the sidecar did not start.
//   sidecar_soak [--build DIR] [--seconds N] [--p99-limit-ms MS]
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "hostile_clients.hpp"
#include "process_gauges.hpp"
#include "scrape_client.hpp"
#include "scrape_load.hpp"
#include "target_churn.hpp"

extern char** environ;

namespace {

using namespace soak;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct SoakOptions {
    std::string build = "build";
    int seconds = 600;
    double p99_limit_ms = 50;
};

SoakOptions parse_options(int argc, char** argv) {
    SoakOptions o;
    const option longs[] = {{"build", required_argument, nullptr, 'b'},
                            {"seconds", required_argument, nullptr, 's'},
                            {"p99-limit-ms", required_argument, nullptr, 'p'},
                            {"help", no_argument, nullptr, 'h'},
                            {}};
    for (int c; (c = ::getopt_long(argc, argv, "", longs, nullptr)) != -1;) {
        switch (c) {
            case 'b': o.build = optarg; break;
            case 's': o.seconds = std::atoi(optarg); break;
            case 'p': o.p99_limit_ms = std::atof(optarg); break;
            default:
                std::fprintf(c == 'h' ? stdout : stderr,
                             "usage: sidecar_soak [--build DIR] [--seconds N (600)] [--p99-limit-ms MS (50)]\n"
                             "exit codes: 0 healthy, 1 a figure out of bounds, 2 bad usage or no sidecar\n");
                std::exit(c == 'h' ? 0 : 2);
        }
    }
    if (o.seconds < 60) {
        std::fprintf(stderr, "sidecar_soak: --seconds %d is too short to tell a leak; give 60 or more\n", o.seconds);
        std::exit(2);
    }
    return o;
}

// dtvm's guests: KVM ones tracked with the dirty ring where /dev/kvm works
// (then the sidecar attaches BPF programs to each), else process-backend ones.
std::vector<std::string> guest_args(const std::string& dtvm) {
    std::vector<std::string> args = {"--mem",  "64M",    "--vcpus", "1",          "--wss",   "16M",        "--workload",
                                     "random", "--rate", "2k",      "--duration", "100000s", "--interval", "10s"};
    std::string backend;
    if (FILE* p = ::popen((dtvm + " --print-backend 2>/dev/null").c_str(), "r")) {
        char line[256] = {};
        if (std::fgets(line, sizeof line, p)) backend = line;
        ::pclose(p);
    }
    if (backend.rfind("kvm", 0) == 0) args.insert(args.end(), {"--track", "ring", "--exit-every", "64"});
    else args.insert(args.end(), {"--backend", "process"});
    std::printf("guests: %s", backend.empty() ? "unknown backend\n" : backend.c_str());
    return args;
}

struct Sidecar {
    pid_t pid = -1;
    int port = 0;
    std::string log_path;
};

Sidecar start_sidecar(const std::string& dtrack, const std::string& pid_dir, const std::string& log_path) {
    std::vector<std::string> args = {dtrack,     "sidecar",     "--pid-file-dir", pid_dir,
                                     "--listen", "127.0.0.1:0", "--interval",     "500ms"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t log;
    posix_spawn_file_actions_init(&log);
    posix_spawn_file_actions_addopen(&log, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    Sidecar s{.log_path = log_path};
    if (::posix_spawn(&s.pid, dtrack.c_str(), &log, nullptr, argv.data(), environ) != 0) s.pid = -1;
    posix_spawn_file_actions_destroy(&log);
    const std::regex serving("serving http://127\\.0\\.0\\.1:([0-9]+)/metrics");
    for (auto give_up = Clock::now() + 30s; s.pid > 0 && Clock::now() < give_up; std::this_thread::sleep_for(50ms)) {
        std::ifstream in(log_path);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::smatch m;
        if (std::regex_search(text, m, serving)) {
            s.port = std::stoi(m[1]);
            break;
        }
    }
    return s;
}

// dtrack_targets{state="attached"} from one scrape; -1 without an answer.
int attached_targets(int port) {
    ScrapeClient client(port);
    const Scrape s = client.get("/metrics", 5s);
    const std::string series = "dtrack_targets{state=\"attached\"} ";
    const size_t at = s.body.find(series);
    return s.status == 200 && at != std::string::npos ? std::atoi(s.body.c_str() + at + series.size()) : -1;
}

bool wait_for_targets(int port, int n, std::chrono::seconds limit) {
    for (auto give_up = Clock::now() + limit; Clock::now() < give_up; std::this_thread::sleep_for(100ms))
        if (attached_targets(port) == n) return true;
    return false;
}

struct Verdict {
    bool healthy = true;
    void check(bool ok, const std::string& what) {
        std::printf("  %-6s %s\n", ok ? "ok" : "FAILED", what.c_str());
        healthy = healthy && ok;
    }
};

// The highest value of `field` over a stretch of samples.
template <typename Field>
long highest(const std::vector<ProcessGauges>& samples, size_t from, size_t to, Field field) {
    long h = -1;
    for (size_t i = from; i < to && i < samples.size(); ++i) h = std::max(h, long(samples[i].*field));
    return h;
}

// Flat: the last quarter of the samples reaches no higher than the first
// quarter after warm-up did (RSS: within `slack`, what the allocator keeps).
void check_flat(Verdict& v, const std::vector<ProcessGauges>& s) {
    if (s.size() < 8) {
        v.check(false, "too few cycles (" + std::to_string(s.size()) + ") to tell whether anything grows");
        return;
    }
    const size_t q = s.size() / 4;
    const auto compare = [&](const char* name, auto field, long slack, const char* unit) {
        const long first = highest(s, 0, q, field), last = highest(s, s.size() - q, s.size(), field);
        v.check(last <= first + slack, std::string(name) + ": highest " + std::to_string(first) + unit +
                                           " in the first quarter, " + std::to_string(last) + unit + " in the last" +
                                           (slack ? " (allowed: +" + std::to_string(slack) + unit + ")" : ""));
    };
    compare("RSS", &ProcessGauges::rss_kib, 4096, " KiB");
    compare("open files", &ProcessGauges::fds, 0, "");
    compare("threads", &ProcessGauges::threads, 0, "");
    compare("BPF programs", &ProcessGauges::bpf_programs, 0, "");
    compare("BPF links", &ProcessGauges::bpf_links, 0, "");
}

void check_scrapes(Verdict& v, const ScrapeTally& t, double p99_limit_ms) {
    char line[200];
    std::snprintf(line, sizeof line, "%zu scrapes: %zu unanswered, %zu without a steady target%s%s", t.scrapes,
                  t.unanswered, t.incomplete, t.first_failure.empty() ? "" : "; first: ", t.first_failure.c_str());
    v.check(t.scrapes > 0 && t.unanswered == 0 && t.incomplete == 0, line);
    const double p99 = percentile(t.ms, 0.99);
    std::snprintf(
        line, sizeof line,
        "scrape latency with the hostile clients connected: p50 %.2f ms, p99 %.2f ms, max %.2f ms (p99 limit %.0f ms)",
        percentile(t.ms, 0.5), p99, percentile(t.ms, 1.0), p99_limit_ms);
    v.check(!t.ms.empty() && p99 <= p99_limit_ms, line);
}

int stop_sidecar(pid_t pid) {
    ::kill(pid, SIGTERM);
    int status = 0;
    for (auto give_up = Clock::now() + 30s; ::waitpid(pid, &status, WNOHANG) != pid; std::this_thread::sleep_for(50ms))
        if (Clock::now() > give_up) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int main(int argc, char** argv) {
    const SoakOptions o = parse_options(argc, argv);
    ::signal(SIGPIPE, SIG_IGN);
    char dir_template[] = "/tmp/dtrack-soak.XXXXXX";
    if (!::mkdtemp(dir_template)) return 2;
    const std::string dir = dir_template, pid_dir = dir + "/run";
    std::filesystem::create_directory(pid_dir);
    std::filesystem::permissions(pid_dir, std::filesystem::perms(0755));

    TargetChurn churn(o.build + "/dtvm", pid_dir, guest_args(o.build + "/dtvm"));
    churn.start_steady(2);
    Sidecar sidecar = start_sidecar(o.build + "/dtrack", pid_dir, dir + "/sidecar.log");
    if (sidecar.port == 0 || !wait_for_targets(sidecar.port, 2, 60s)) {
        std::fprintf(stderr, "sidecar_soak: the sidecar did not start serving its 2 steady targets; its log (%s):\n",
                     sidecar.log_path.c_str());
        std::ifstream in(sidecar.log_path);
        std::fprintf(stderr, "%s",
                     std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()).c_str());
        if (sidecar.pid > 0) stop_sidecar(sidecar.pid);
        return 2;
    }
    std::printf("== dtrack sidecar soak: %d s, pid %d on port %d, pid files in %s ==\n", o.seconds, int(sidecar.pid),
                sidecar.port, pid_dir.c_str());

    std::vector<ProcessGauges> samples;
    Verdict v;
    ScrapeTally scrapes;
    std::string hostile_report;
    {
        ScrapeLoad load(sidecar.port, churn.steady_targets(), 100ms);
        HostileClients hostile(
            sidecar.port,
            {{Hostile::slow_headers, 4}, {Hostile::idle, 16}, {Hostile::endless_headers, 2}, {Hostile::huge_body, 2}});
        const auto start = Clock::now(), end = start + std::chrono::seconds(o.seconds);
        auto next_progress = start + 60s;
        for (int cycle = 0; Clock::now() < end; ++cycle) {
            churn.grow();
            std::this_thread::sleep_for(3s);  // a few harvests of the new targets
            churn.shrink();
            if (!wait_for_targets(sidecar.port, 2, 30s))
                v.check(false,
                        "cycle " + std::to_string(cycle) + ": the churned targets were still attached after 30 s");
            std::this_thread::sleep_for(1s);  // their harvester threads end
            const ProcessGauges g = read_gauges(sidecar.pid);
            if (g.rss_kib < 0) {
                v.check(false, "the sidecar exited during the soak");
                break;
            }
            if (cycle >= 2) samples.push_back(g);  // after warm-up
            if (Clock::now() >= next_progress) {
                std::printf("%4lds: cycle %d, %s\n",
                            long(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count()), cycle,
                            describe(g).c_str());
                std::fflush(stdout);
                next_progress += 60s;
            }
        }
        scrapes = load.take();
        hostile_report = hostile.report();
    }
    std::printf("hostile clients, connected throughout:\n%s", hostile_report.c_str());
    std::printf("%d guests started, %zu samples after warm-up\n", churn.guests_started(), samples.size());
    std::printf("verdict:\n");
    check_scrapes(v, scrapes, o.p99_limit_ms);
    check_flat(v, samples);
    const int code = stop_sidecar(sidecar.pid);
    v.check(code == 0, "SIGTERM: the sidecar exited with " + std::to_string(code));
    if (!v.healthy) std::printf("the sidecar's log: %s\n", sidecar.log_path.c_str());
    else std::filesystem::remove_all(dir);
    return v.healthy ? 0 : 1;
}
