// --max-memory, which `dtrack report` and `dtrack simulate --trace` share:
// about the most memory they may hold for a recording. A few bytes of a file
// can declare a region of 2^40 pages, or a bitmap that expands a
// thousandfold; past this the command refuses the file, naming the limit,
// instead of taking the machine's memory.
#pragma once

#include <cstdint>
#include <string>

#include "dtrack/error.hpp"

namespace dtrack::cli {

inline constexpr const char* default_max_memory = "512M";

// A size of at least 16 MiB: "512M", "4G".
Result<uint64_t> parse_max_memory(const std::string& text);

// How the commands word the fix of an error that names the limit.
inline std::string raise_max_memory(uint64_t now) {
    return "give a larger --max-memory than " + std::to_string(now >> 20) + "M, on a machine that has the memory";
}

}  // namespace dtrack::cli
