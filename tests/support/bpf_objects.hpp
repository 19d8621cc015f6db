// Helpers for tests that load BPF programs: skip where this process may not,
// count what it holds open (a refused attach must leave nothing behind), and
// a PID that names no process.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/host_files.hpp"

#define DTRACK_REQUIRE_BPF()                                                                                           \
    do {                                                                                                               \
        if (!dtrack::may_load_tracing_bpf()) GTEST_SKIP() << "needs root or CAP_BPF+CAP_PERFMON to load BPF programs"; \
    } while (0)

namespace dtrack_test {

// BPF programs, maps and links this process holds open.
inline int open_bpf_objects() {
    namespace fs = std::filesystem;
    int n = 0;
    for (const auto& fd : fs::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        if (fs::read_symlink(fd.path(), ec).string().rfind("anon_inode:bpf", 0) == 0) ++n;
    }
    return n;
}

// The pid of a process that has just ended (and been reaped).
inline pid_t gone_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ::waitpid(child, nullptr, 0);
    return child;
}

}  // namespace dtrack_test
