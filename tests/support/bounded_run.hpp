// Runs dtrack as a hostile file's reader would run it: under 1 GiB of
// address space and a hang bound (timeout exits 124). Under a sanitizer the
// address-space limit is left off (its shadow memory reserves terabytes of
// address space) and the bound is longer (sanitized code runs slower);
// --max-memory still bounds what dtrack takes.
#pragma once

#include <string>

#include "support/run_command.hpp"
#include "support/sanitizers.hpp"

namespace dtrack_test {

inline CommandResult run_bounded(const std::string& dtrack_args) {
    const std::string limit = kSanitized ? "" : "ulimit -v 1048576; ";
    const std::string bound = kSanitized ? "timeout 120 " : "timeout 20 ";
    return run(limit + bound + binary("dtrack") + " " + dtrack_args + " 2>&1");
}

}  // namespace dtrack_test
