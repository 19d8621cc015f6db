// --migrate-to, --bandwidth, --downtime, --max-time, --auto-converge,
// --background-sync, --warmup, --compress, --compress-level, --xbzrle-cache.
#include <algorithm>
#include <string>

#include "dtrack/precopy/receiver.hpp"
#include "dtrack/units.hpp"
#include "dtvm/options/option_groups.hpp"

namespace dtvm::option_groups {

namespace {

// A cap under the receiver's pace floor cannot succeed: dtvm --incoming
// (default ReceiverOptions) cuts the sender off after its first window.
dtrack::Status check_bandwidth(uint64_t bandwidth) {
    const dtrack::precopy::ReceiverOptions receiver;
    if (bandwidth == 0 || bandwidth >= receiver.min_bytes_per_s) return dtrack::Ok{};
    const std::string floor = dtrack::format_bytes(double(receiver.min_bytes_per_s));
    return dtrack::Error{
        EINVAL,
        "--bandwidth " + dtrack::format_bytes(double(bandwidth)) + "/s is under the " + floor +
            "/s a dtvm --incoming receiver requires: it ends a migration that brings less in " +
            std::to_string(receiver.rate_window.count() / 1000) + " s",
        "use --bandwidth " + std::to_string(receiver.min_bytes_per_s / 1024) + "K or more, or 0 for no cap"};
}

// --background-sync: a duration, or "off" (nullopt).
dtrack::Result<std::optional<std::chrono::milliseconds>> parse_background_sync(const std::string& typed) {
    if (typed == "off") return std::optional<std::chrono::milliseconds>();
    auto bs = dtrack::parse_duration(typed, "--background-sync");
    if (!bs) return bs.error();
    if (*bs <= std::chrono::nanoseconds(0))
        return dtrack::Error{EINVAL, "--background-sync must be positive or 'off'", "use e.g. 5s or off"};
    return std::optional(std::chrono::duration_cast<std::chrono::milliseconds>(*bs));
}

// --compress METHOD and --compress-level N, into `m`.
dtrack::Status parse_compression(const MigrationFlags& f, MigrationOptions& m) {
    namespace pc = dtrack::precopy;
    const auto method = pc::parse_compression(f.compress);
    if (!method)
        return dtrack::Error{EINVAL,
                             f.compress.empty() ? "--compress takes the method now (it was a flag for zlib)"
                                                : "--compress " + f.compress + " is not a compression method",
                             "use --compress zstd or --compress zlib (or none)"};
    const pc::CompressionLevels levels = pc::compression_levels(*method);
    if (f.compress_level != 0 && *method == pc::Compression::none)
        return dtrack::Error{EINVAL, "--compress-level " + std::to_string(f.compress_level) + " without --compress",
                             "add --compress zstd or --compress zlib, or leave out --compress-level"};
    if (!pc::effective_level(*method, f.compress_level))
        return dtrack::Error{EINVAL,
                             "--compress-level " + std::to_string(f.compress_level) + " is outside " +
                                 pc::to_string(*method) + "'s levels " + std::to_string(levels.min) + ".." +
                                 std::to_string(levels.max),
                             "use a level from " + std::to_string(levels.min) + " to " + std::to_string(levels.max) +
                                 ", or 0 for the default (" + std::to_string(levels.default_level) + ")"};
    m.compression = *method;
    m.compression_level = f.compress_level;
    return dtrack::Ok{};
}

// The sent-page cache's most: the guest's memory (more holds nothing) and 16 GiB.
constexpr uint64_t max_xbzrle_cache = 16ULL << 30;

// --xbzrle-cache SIZE: 0 = off, else one page to min(guest memory, 16 GiB).
dtrack::Result<uint64_t> parse_xbzrle_cache(const std::string& typed, uint64_t mem_bytes) {
    auto bytes = dtrack::parse_size(typed, "--xbzrle-cache");
    if (!bytes) return bytes.error();
    const uint64_t most = std::min(mem_bytes, max_xbzrle_cache);
    if (*bytes != 0 && *bytes < 4096)
        return dtrack::Error{EINVAL, "--xbzrle-cache " + typed + " holds no page",
                             "use 4K or more (e.g. 64M), or 0 for no cache"};
    if (*bytes > most)
        return dtrack::Error{EINVAL,
                             "--xbzrle-cache " + dtrack::format_bytes(double(*bytes)) + " is more than " +
                                 (most == mem_bytes ? "the guest's memory (" : "the limit of ") +
                                 dtrack::format_bytes(double(most)) + (most == mem_bytes ? ")" : ""),
                             "use at most " + dtrack::format_bytes(double(most)) +
                                 " (a cache larger than the guest holds nothing more)"};
    return *bytes;
}

}  // namespace

void add_migration_options(CLI::App& app, MigrationFlags& f) {
    app.add_option("--migrate-to", f.to, "migrate the guest's memory to a dtvm --incoming (tcp://HOST:PORT)");
    app.add_option("--bandwidth", f.bandwidth,
                   "migration bandwidth cap: bytes/s (100M = 100 MiB/s, binary) or bits/s (1Gbit, 1Gbps: decimal); at "
                   "least 64K; 0 = none")
        ->capture_default_str();
    app.add_option("--downtime", f.downtime, "switch over once the rest fits in this pause")->capture_default_str();
    app.add_option("--max-time", f.max_time, "give up after this long, the guest running on; 0 = never")
        ->capture_default_str();
    app.add_flag("--auto-converge", f.auto_converge, "throttle the vCPUs when the guest dirties faster than we send");
    app.add_option("--background-sync", f.background_sync,
                   "harvest between rounds when a round runs longer than this (e.g. 5s), or 'off'")
        ->capture_default_str();
}

void add_migration_start_options(CLI::App& app, MigrationFlags& f) {
    app.add_option("--warmup", f.warmup, "let the guest write this long before migrating")->capture_default_str();
    // Not a flag any more: a bare --compress (once zlib) gets "" and is told so.
    app.add_option("--compress", f.compress, "compress page batches: zstd or zlib; default none")->expected(0, 1);
    app.add_option("--compress-level", f.compress_level,
                   "the method's level: zstd 1..19, zlib 1..9; 0 = its default (1 for both)")
        ->capture_default_str();
    app.add_option("--xbzrle-cache", f.xbzrle_cache,
                   "cache this much of the pages sent (e.g. 64M), so a page sent again goes as a delta of what "
                   "changed; 0 = off; at most the guest's memory and 16G")
        ->capture_default_str();
}

dtrack::Result<std::optional<MigrationOptions>> parse_migration(const MigrationFlags& f, const CheckLoopOptions& check,
                                                                uint64_t mem_bytes) {
    if (f.to.empty()) return std::optional<MigrationOptions>();
    if (check.throttle_pct != 0)
        return dtrack::Error{EINVAL,
                             "--throttle is for the check loop; a migration's throttle comes from --auto-converge",
                             "leave out --throttle, or --migrate-to"};
    MigrationOptions m;
    m.to = f.to;
    auto bw = dtrack::parse_bytes_per_second(f.bandwidth, "--bandwidth");
    if (!bw) return bw.error();
    if (dtrack::Status s = check_bandwidth(*bw); !s) return s.error();
    auto downtime = dtrack::parse_duration(f.downtime, "--downtime");
    if (!downtime) return downtime.error();
    auto max_time = dtrack::parse_duration(f.max_time, "--max-time");
    if (!max_time) return max_time.error();
    auto warmup = dtrack::parse_duration(f.warmup, "--warmup");
    if (!warmup) return warmup.error();
    auto background_sync = parse_background_sync(f.background_sync);
    if (!background_sync) return background_sync.error();
    if (dtrack::Status s = parse_compression(f, m); !s) return s.error();
    auto cache = parse_xbzrle_cache(f.xbzrle_cache, mem_bytes);
    if (!cache) return cache.error();
    m.xbzrle_cache_bytes = *cache;
    m.bandwidth = *bw;
    m.downtime = std::chrono::duration_cast<std::chrono::milliseconds>(*downtime);
    m.max_time = *max_time;
    m.warmup = std::chrono::duration_cast<std::chrono::milliseconds>(*warmup);
    m.auto_converge = f.auto_converge;
    m.background_sync = *background_sync;
    return std::optional(m);
}

}  // namespace dtvm::option_groups
