// The measuring method as the user types it: --method, --exact, --bound,
// --sample-pages, shared by `dtrack rate` and `dtrack record` (the sidecar
// takes --method and --bound only). Registering and checking them in one
// place keeps the commands' help and their refusals the same.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "dtrack/target_meter.hpp"
#include "rate_method.hpp"

namespace dtrack::cli {

struct MethodFlags {
    std::string method = "auto";
    bool exact = false;
    std::string bound = "2%";   // sample: half-width of the 95% interval, of the present pages
    uint64_t sample_pages = 0;  // sample: this many pages instead of --bound
};

// The flags as the library's TargetMeterOptions (method and sampling).
using ChosenMethod = TargetMeterOptions;

void add_method_flags(CLI::App& cmd, MethodFlags& flags);
// The flags checked: an unknown method, a bad bound, or --exact with the sample options is an error.
Result<ChosenMethod> parse_method_flags(const MethodFlags& flags);

}  // namespace dtrack::cli
