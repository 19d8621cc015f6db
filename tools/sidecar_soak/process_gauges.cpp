#include "process_gauges.hpp"

#include <dirent.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <fstream>

namespace soak {

namespace {

long status_field_kib(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    return -1;
}

int count_entries(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return -1;
    int n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

}  // namespace

ProcessGauges read_gauges(pid_t pid) {
    const std::string proc = "/proc/" + std::to_string(pid);
    ProcessGauges g;
    g.rss_kib = status_field_kib(pid, "VmRSS");
    g.threads = count_entries(proc + "/task");
    DIR* d = ::opendir((proc + "/fd").c_str());
    if (g.rss_kib < 0 || g.threads < 0 || !d) {
        if (d) ::closedir(d);
        return {};
    }
    g.fds = g.bpf_programs = g.bpf_links = 0;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        ++g.fds;
        char target[PATH_MAX];
        const ssize_t n = ::readlink((proc + "/fd/" + e->d_name).c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        const std::string link(target, size_t(n));
        if (link == "anon_inode:bpf-prog") ++g.bpf_programs;
        if (link == "anon_inode:bpf_link") ++g.bpf_links;
    }
    ::closedir(d);
    return g;
}

std::string describe(const ProcessGauges& g) {
    char text[160];
    std::snprintf(text, sizeof text, "rss %.1f MiB, %d fds, %d threads, %d BPF programs, %d links",
                  double(g.rss_kib) / 1024, g.fds, g.threads, g.bpf_programs, g.bpf_links);
    return text;
}

}  // namespace soak
