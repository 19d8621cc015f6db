// --migrate-to, --bandwidth, --downtime, --max-time, --auto-converge,
// --background-sync, --background-sync-every, --warmup, --compress,
// --compress-level, --xbzrle-cache, --defer-hot, --defer-hot-rounds.
#include <string>

#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/send_less_options.hpp"
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

// --background-sync-every: QEMU 9.2's periodic sync in place of the
// round-time trigger; nullopt when not given.
dtrack::Result<std::optional<std::chrono::milliseconds>> parse_background_sync_every(const MigrationFlags& f) {
    if (f.background_sync_every.empty()) return std::optional<std::chrono::milliseconds>();
    if (f.background_sync != kDefaultBackgroundSync)
        return dtrack::Error{EINVAL,
                             "--background-sync and --background-sync-every exclude each other: the watcher has one "
                             "trigger, a round's time or a timer",
                             "give one of them"};
    auto every = dtrack::parse_duration(f.background_sync_every, "--background-sync-every");
    if (!every) return every.error();
    if (*every < std::chrono::milliseconds(4))
        return dtrack::Error{EINVAL, "--background-sync-every " + f.background_sync_every + " is too short",
                             "give a period of 4 ms or more, e.g. 5s as QEMU 9.2's"};
    return std::optional(std::chrono::duration_cast<std::chrono::milliseconds>(*every));
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
    app.add_option("--background-sync-every", f.background_sync_every,
                   "in place of --background-sync, QEMU 9.2's periodic sync: a timer every DUR (e.g. 5s) that "
                   "syncs unless a sync happened since its previous tick")
        ->type_name("DUR");
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
    app.add_flag("--defer-hot", f.defer_hot,
                 "keep pages dirtied in each of the last K rounds back for the final round, as many as it can carry "
                 "within --downtime");
    app.add_option("--defer-hot-rounds", f.defer_hot_rounds,
                   "K for --defer-hot: rounds a page must have been dirty in a row, 1 to 8 (default 2)");
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
    auto compression = dtrack::precopy::parse_compression_choice(f.compress, f.compress_level);
    if (!compression) return compression.error();
    m.compression = compression->method;
    m.compression_level = compression->level;
    auto cache = dtrack::precopy::parse_xbzrle_cache(f.xbzrle_cache, mem_bytes);
    if (!cache) return cache.error();
    m.xbzrle_cache_bytes = *cache;
    auto every = parse_background_sync_every(f);
    if (!every) return every.error();
    m.bandwidth = *bw;
    m.downtime = std::chrono::duration_cast<std::chrono::milliseconds>(*downtime);
    m.max_time = *max_time;
    m.warmup = std::chrono::duration_cast<std::chrono::milliseconds>(*warmup);
    m.auto_converge = f.auto_converge;
    m.json = check.json;  // one --json: the check loop's lines, or the migration's summary
    m.background_sync = *background_sync;
    auto defer_hot = dtrack::parse_defer_hot_options(f.defer_hot, f.defer_hot_rounds);
    if (!defer_hot) return defer_hot.error();
    m.defer_hot = *defer_hot;
    if (*every) {
        m.background_sync = *every;
        m.background_sync_trigger = dtrack::SyncTrigger::periodic;
    }
    return std::optional(m);
}

}  // namespace dtvm::option_groups
