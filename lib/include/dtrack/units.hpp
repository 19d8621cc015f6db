// Parsing the quantities people type: sizes (256M), bandwidths (10Gbit, 1G/s),
// counts (50k), durations (10s).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// Each takes the option the text came from ("--mem"), to name it in the
// error; a value the result type cannot hold (above 2^64 - 1 bytes or
// units, or about 292 years) is refused with its limit, never wrapped.

// "4096", "64K", "256M", "1G", "2T": binary multiples, so G, GB and GiB are
// all 2^30 bytes. A lowercase "b" ("64Mb", "1Gib") reads as bits or bytes
// and is refused, naming both readings.
Result<uint64_t> parse_size(const std::string& text, const std::string& option = {});
// A bandwidth in bytes/s: bytes as parse_size reads them, "/s" optional
// ("10G", "10GB/s", "10GiB/s": 10 * 2^30), or bits, decimal as links are
// sold ("10Gbit", "10Gbit/s", "10Gbps": 1.25e9; k, M, G, T). The lowercase
// "b" ("10Gb", "10gb", "10Gb/s") is refused: it reads as gigabits or as the
// bytes dtrack once took it for, and the fix names both.
Result<uint64_t> parse_bytes_per_second(const std::string& text, const std::string& option = {});
// "500", "50k", "2M" (decimal multiples), for rates and counts.
Result<uint64_t> parse_count(const std::string& text, const std::string& option = {});
// "10s", "500ms", "2m", "100us"; a bare number means seconds.
Result<std::chrono::nanoseconds> parse_duration(const std::string& text, const std::string& option = {});
// A dirty rate, in pages/s of `page_size` bytes: pages/s as a count ("1000",
// "50k"), or bytes/s as parse_bytes_per_second reads them with "/s" or
// "bps" ("4M/s", "4MB/s", "1GiB/s", "8192B/s", "32Mbit/s", "32Mbps"). Above
// 0. A bare number over seconds ("1000/s") is refused as ambiguous.
Result<double> parse_pages_per_second(const std::string& text, uint64_t page_size, const std::string& option = {});

// "1.5 GiB", "512 KiB": for people.
std::string format_bytes(double bytes);
// "950", "50.0k", "1.19M": counts and rates in tables.
std::string format_count(double n);

}  // namespace dtrack

DTRACK_PUBLIC_END
