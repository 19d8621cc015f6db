// Why a pid file gave no target, and how many did, by reason: served as
// dtrack_targets_refused_total{reason}. The main loop adds; scrapes read.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dtrack::cli::sidecar {

enum class PidFileSkip : size_t {
    untrusted,     // its owner may not point the sidecar at that process (pid_file_trust.hpp)
    no_pid,        // holds no PID, is not a regular file, or cannot be read
    duplicate,     // names a process another target measures already
    max_targets,   // --max-targets targets are attached already
    unmeasurable,  // the process is gone or may not be measured
};

inline constexpr std::array<const char*, 5> pid_file_skip_names{"untrusted", "no_pid", "duplicate", "max_targets",
                                                                "unmeasurable"};

class PidFileSkipCounts {
public:
    void add(PidFileSkip why) { counts_[size_t(why)].fetch_add(1, std::memory_order_relaxed); }
    // Every reason with its count, 0 included (so that alerts see the series).
    std::vector<std::pair<std::string, uint64_t>> by_reason() const {
        std::vector<std::pair<std::string, uint64_t>> out;
        for (size_t i = 0; i < counts_.size(); ++i)
            out.emplace_back(pid_file_skip_names[i], counts_[i].load(std::memory_order_relaxed));
        return out;
    }

private:
    std::array<std::atomic<uint64_t>, pid_file_skip_names.size()> counts_{};
};

}  // namespace dtrack::cli::sidecar
