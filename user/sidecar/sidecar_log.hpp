// The sidecar's log: one line per event on stderr, "dtrack sidecar: ...",
// written whole so that lines from several threads never interleave.
#pragma once

#include <cstdio>
#include <string>

namespace dtrack::cli::sidecar {

inline void log_line(const std::string& text) {
    const std::string line = "dtrack sidecar: " + text + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace dtrack::cli::sidecar
