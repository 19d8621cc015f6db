// Runs the real binaries (build/dtrack, build/dtvm) from tests.
#pragma once

#include <string>

namespace dtrack_test {

// The build folder, for the binaries: DTRACK_BUILD_DIR comes from the Makefile.
inline std::string binary(const std::string& name) { return std::string(DTRACK_BUILD_DIR) + "/" + name; }
// A file of the source tree (tools/prometheus/...): DTRACK_SOURCE_DIR, likewise.
inline std::string source_file(const std::string& path) { return std::string(DTRACK_SOURCE_DIR) + "/" + path; }

struct CommandResult {
    int exit_code = -1;  // -1 when it did not exit normally
    std::string output;  // stdout (add 2>&1 to the command line for stderr too)
};

// Runs a shell command line; collects its stdout and exit code.
CommandResult run(const std::string& command_line);

}  // namespace dtrack_test
