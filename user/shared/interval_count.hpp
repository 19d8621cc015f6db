// How often and how many times a command samples, as vmstat, iostat and
// pidstat take it: positional `INTERVAL [COUNT]` after the target
// (`dtrack rate -p PID 1 3`: every second, three times), or --interval and
// --count. Each may be given one way only; a third positional is refused,
// naming the extra words in the order they were given.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dtrack/error.hpp"

namespace dtrack::cli {

struct IntervalCountFlags {
    std::string interval;                  // --interval; empty: not given
    std::string count;                     // --count; empty: not given
    std::vector<std::string> positionals;  // INTERVAL [COUNT], as given
};

struct IntervalCount {
    std::chrono::nanoseconds interval{};
    uint64_t count = 0;  // 0: no end (until the target exits or Ctrl-C)
};

// Registers -i/--interval, -c/--count and the positionals on `cmd`.
void add_interval_count_flags(CLI::App& cmd, IntervalCountFlags& flags, const char* default_interval);
// The flags checked: each given once, an interval of 10 ms or more, a whole count.
Result<IntervalCount> parse_interval_count(const IntervalCountFlags& flags, const char* default_interval);

}  // namespace dtrack::cli
