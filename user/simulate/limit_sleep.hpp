// Where a vCPU under dtrack simulate's --dirty-limit sleeps
// (--dirty-limit-sleep, --ring-size), as dtvm's options of the same names:
// a share of every 10 ms slice (dtrack's actuator), or at its dirty ring's
// fills, the ring emptied only at syncs (QEMU 8.1's; trace_ring_full.hpp).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "dtrack/error.hpp"

namespace dtrack::cli {

struct LimitSleepFlags {
    std::string sleep = "slice";  // slice|ring-full
    uint64_t ring_size = 4096;    // entries per vCPU, as dtvm's --ring-size
};

void add_limit_sleep_options(CLI::App* cmd, LimitSleepFlags& f);
// The ring size with ring-full sleeps, nullopt with slices; `limited`: --dirty-limit was given.
Result<std::optional<uint64_t>> parse_limit_sleep(const LimitSleepFlags& f, bool limited);

}  // namespace dtrack::cli
