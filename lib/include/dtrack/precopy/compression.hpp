// How the precopy sender may compress page batches: zlib or zstd, at a level.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

enum class Compression { none, zlib, zstd };

const char* to_string(Compression method);  // "none", "zlib", "zstd"
std::optional<Compression> parse_compression(std::string_view name);

// The levels a method takes. `default_level` (the level 0 means) is, chosen from
// precopy_throughput_bench (BENCHMARKS.md): the level that keeps up with a
// link best per core on dtvm-like pages.
struct CompressionLevels {
    int min = 0, max = 0, default_level = 0;
};
CompressionLevels compression_levels(Compression method);
// `level` for `method`, 0 meaning its default; nullopt outside its range.
std::optional<int> effective_level(Compression method, int level);
// Why effective_level() refused `level`: "12 is outside zlib's levels 1..9",
// for the option, field or step that gave it to put its name before.
std::string level_outside(Compression method, int level);

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
