// dtvm's default mode: run the workload and, every interval, check with the
// write-stamp oracle that every written page was reported.
#pragma once

#include <chrono>
#include <string>

namespace dtvm {

struct Options;

struct CheckLoopOptions {
    std::chrono::nanoseconds duration{std::chrono::seconds(10)};
    std::chrono::nanoseconds interval{std::chrono::seconds(1)};
    bool json = false;
    int throttle_pct = 0;  // --throttle: the check loop's vCPUs held this share of the time
    std::string record;    // --record FILE: write each interval's dirty pages there (dtrack report reads it)
};

int run_check_loop(const Options& options);

}  // namespace dtvm
