// The options that make a precopy migration send less, as a command line
// types them: --compress METHOD, --compress-level N, --xbzrle-cache SIZE and
// --write-bytes N. dtvm and `dtrack simulate` take the same words, checked
// the same way; the errors name the option and the fix.
#pragma once

#include <cstdint>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/precopy/compression.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

struct CompressionChoice {
    Compression method = Compression::none;
    int level = 0;  // 0 = the method's default
};
// `method`: "zstd", "zlib" or "none" ("" is a bare --compress, once a flag
// for zlib: refused with the fix); `level` in the method's range or 0.
Result<CompressionChoice> parse_compression_choice(const std::string& method, int level);

// The largest sent-page cache taken: more is a typo or memory the host lacks.
inline constexpr uint64_t max_xbzrle_cache_bytes = 16ULL << 30;
// "64M", "0" (off): at least a page (4K), at most min(guest_bytes, 16 GiB).
Result<uint64_t> parse_xbzrle_cache(const std::string& size, uint64_t guest_bytes);

// Bytes a guest's page write changes: 8 (one word, dtvm's guest today) to
// 4096 (the whole page; deltas gain nothing).
inline constexpr uint32_t min_write_bytes = 8, max_write_bytes = 4096;
Status check_write_bytes(uint64_t n);

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
