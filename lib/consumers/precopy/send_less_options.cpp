// Checking --compress, --compress-level, --xbzrle-cache and --write-bytes
// (dtrack/precopy/send_less_options.hpp).
#include "dtrack/precopy/send_less_options.hpp"

#include <algorithm>

#include "dtrack/units.hpp"

namespace dtrack::precopy {

Result<CompressionChoice> parse_compression_choice(const std::string& method, int level) {
    const auto m = parse_compression(method);
    if (!m)
        return Error{EINVAL,
                     method.empty() ? "--compress takes the method now (it was a flag for zlib)"
                                    : "--compress " + method + " is not a compression method",
                     "use --compress zstd or --compress zlib (or none)"};
    if (level != 0 && *m == Compression::none)
        return Error{EINVAL, "--compress-level " + std::to_string(level) + " without --compress",
                     "add --compress zstd or --compress zlib, or leave out --compress-level"};
    const CompressionLevels l = compression_levels(*m);
    if (!effective_level(*m, level))
        return Error{EINVAL, "--compress-level " + level_outside(*m, level),
                     "use a level from " + std::to_string(l.min) + " to " + std::to_string(l.max) +
                         ", or 0 for the default (" + std::to_string(l.default_level) + ")"};
    return CompressionChoice{*m, level};
}

Result<uint64_t> parse_xbzrle_cache(const std::string& size, uint64_t guest_bytes) {
    auto bytes = parse_size(size, "--xbzrle-cache");
    if (!bytes) return bytes.error();
    if (*bytes != 0 && *bytes < 4096)
        return Error{EINVAL, "--xbzrle-cache " + size + " holds no page",
                     "use 4K or more (e.g. 64M), or 0 for no cache"};
    const uint64_t most = std::min(guest_bytes, max_xbzrle_cache_bytes);
    const bool guest_bound = guest_bytes < max_xbzrle_cache_bytes;
    if (*bytes > most)
        return Error{
            EINVAL,
            "--xbzrle-cache " + format_bytes(double(*bytes)) + " is more than " +
                (guest_bound ? "the guest's memory (" : "the limit of ") + format_bytes(double(most)) +
                (guest_bound ? ")" : ""),
            "use at most " + format_bytes(double(most)) + " (a cache larger than the guest holds nothing more)"};
    return *bytes;
}

Status check_write_bytes(uint64_t n) {
    if (n >= min_write_bytes && n <= max_write_bytes) return Ok{};
    return Error{EINVAL,
                 "--write-bytes " + std::to_string(n) + " is outside " + std::to_string(min_write_bytes) + ".." +
                     std::to_string(max_write_bytes),
                 "give the bytes a page write changes: 8 (one word) to 4096 (the whole page)"};
}

}  // namespace dtrack::precopy
