// Scrapes a running `dtrack sidecar` N times in a row over one keep-alive
// connection, as Prometheus does, and reports the latency (p50, p99, max)
// and the CPU share the sidecar used over the run (from /proc/PID/stat).
// Fails when any scrape is not answered with every target's series.
//   sidecar_scrape_bench PORT SIDECAR_PID SCRAPES TARGET...
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// utime + stime of a process, in seconds.
double cpu_seconds(const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // from field 3 on
    std::string f;
    for (int i = 3; i < 14; ++i) fields >> f;
    double utime = 0, stime = 0;
    fields >> utime >> stime;
    return (utime + stime) / double(::sysconf(_SC_CLK_TCK));
}

double percentile(const std::vector<double>& sorted, double p) {
    return sorted[std::min(sorted.size() - 1, size_t(p * double(sorted.size())))];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s PORT SIDECAR_PID SCRAPES TARGET...\n", argv[0]);
        return 2;
    }
    const int port = std::atoi(argv[1]);
    const std::string sidecar = argv[2];
    const int scrapes = std::atoi(argv[3]);
    std::vector<std::string> series;
    for (int i = 4; i < argc; ++i)
        series.push_back("dtrack_dirty_pages_total{target=\"" + std::string(argv[i]) + "\"}");

    httplib::Client client("127.0.0.1", port);
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);
    client.set_read_timeout(std::chrono::seconds(10));
    std::vector<double> ms;
    int failed = 0;
    size_t bytes = 0;
    const double cpu_before = cpu_seconds(sidecar);
    const auto start = Clock::now();
    for (int i = 0; i < scrapes; ++i) {
        const auto t = Clock::now();
        auto res = client.Get("/metrics");
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
        bool whole = res && res->status == 200;
        for (const std::string& s : series) whole = whole && res->body.find(s) != std::string::npos;
        if (!whole) {
            if (failed++ < 3)
                std::fprintf(
                    stderr, "scrape %d: %s\n", i,
                    res ? ("status " + std::to_string(res->status)).c_str() : httplib::to_string(res.error()).c_str());
            continue;
        }
        bytes = res->body.size();
    }
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = cpu_seconds(sidecar) - cpu_before;
    std::sort(ms.begin(), ms.end());
    std::printf("%d scrapes in %.1f s (%zu bytes each), %d unanswered or incomplete\n", scrapes, wall, bytes, failed);
    std::printf("latency ms: p50 %.2f  p99 %.2f  max %.2f\n", percentile(ms, 0.50), percentile(ms, 0.99), ms.back());
    std::printf(
        "sidecar CPU over the run: %.2f s of %.1f s wall = %.1f%% of a core (harvesting included), "
        "%.2f ms per scrape\n",
        cpu, wall, 100 * cpu / wall, 1000 * cpu / scrapes);
    return failed ? 1 : 0;
}
