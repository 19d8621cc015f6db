// Parsing the quantities people type: sizes (256M), counts (50k), durations (10s).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dtrack/error.hpp"

namespace dtrack {

// "4096", "64K", "256M", "1G", "2T" (binary multiples; a trailing "B"/"iB" is allowed).
Result<uint64_t> parse_size(const std::string& text);
// "500", "50k", "2M" (decimal multiples), for rates and counts.
Result<uint64_t> parse_count(const std::string& text);
// "10s", "500ms", "2m", "100us"; a bare number means seconds.
Result<std::chrono::nanoseconds> parse_duration(const std::string& text);

// "1.5 GiB", "512 KiB": for people.
std::string format_bytes(double bytes);
// "950", "50.0k", "1.19M": counts and rates in tables.
std::string format_count(double n);

}  // namespace dtrack
