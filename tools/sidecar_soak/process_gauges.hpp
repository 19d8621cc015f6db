// What a long-running process holds, read from /proc: the figures a soak
// watches for leaks. BPF programs and links are counted among its open files
// (anon_inode:bpf-prog, anon_inode:bpf_link), the way a program that pins
// nothing holds them.
#pragma once

#include <sys/types.h>

#include <string>

namespace soak {

struct ProcessGauges {
    long rss_kib = -1;  // VmRSS
    int fds = -1;
    int threads = -1;
    int bpf_programs = -1;
    int bpf_links = -1;
};

// -1 in every field once the process is gone.
ProcessGauges read_gauges(pid_t pid);

// "rss 14.2 MiB, 12 fds, 5 threads, 4 BPF programs, 4 links"
std::string describe(const ProcessGauges& g);

}  // namespace soak
