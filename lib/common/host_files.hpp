// What this host's files say, for the sources and the probes alike (see
// lib/common/libbpf_log.hpp for why lib/common/ exists): where tracefs is
// mounted, this process's capabilities, and "a, b, c" joins for messages.
#pragma once

#include <linux/capability.h>
#include <sys/statfs.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace dtrack {

// Where tracefs is mounted ("/sys/kernel/tracing" or the debugfs path, in
// libbpf's order of looking), or "" when it is not mounted.
inline std::string mounted_tracefs() {
    constexpr long tracefs_magic = 0x74726163;  // TRACEFS_MAGIC, "trac"
    for (const char* path : {"/sys/kernel/debug/tracing", "/sys/kernel/tracing"}) {
        struct statfs fs {};
        if (::statfs(path, &fs) == 0 && fs.f_type == tracefs_magic) return path;
    }
    return "";
}

// The effective capability set of this process (CapEff in /proc/self/status).
inline std::uint64_t effective_capabilities() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
    }
    return 0;
}

inline bool has_capability(std::uint64_t caps, int number) { return (caps >> number) & 1; }

// Whether this process may load tracing BPF programs: CAP_BPF and
// CAP_PERFMON, or CAP_SYS_ADMIN.
inline bool may_load_tracing_bpf() {
    const std::uint64_t caps = effective_capabilities();
    return (has_capability(caps, CAP_BPF) && has_capability(caps, CAP_PERFMON)) || has_capability(caps, CAP_SYS_ADMIN);
}

// "a, b, c" for join(items, ", ").
inline std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += separator;
        out += item;
    }
    return out;
}

}  // namespace dtrack
