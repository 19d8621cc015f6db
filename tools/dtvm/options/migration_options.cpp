// --migrate-to, --bandwidth, --downtime, --max-time, --auto-converge,
// --background-sync, --warmup, --compress, --defer-hot, --defer-hot-rounds.
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
    app.add_flag("--compress", f.compress, "zlib-compress page batches");
    app.add_flag("--defer-hot", f.defer_hot,
                 "keep pages dirtied in each of the last K rounds back for the final round, as many as it can carry "
                 "within --downtime");
    app.add_option("--defer-hot-rounds", f.defer_hot_rounds,
                   "K for --defer-hot: rounds a page must have been dirty in a row, 1 to 8 (default 2)");
}

dtrack::Result<std::optional<MigrationOptions>> parse_migration(const MigrationFlags& f,
                                                                const CheckLoopOptions& check) {
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
    m.bandwidth = *bw;
    m.downtime = std::chrono::duration_cast<std::chrono::milliseconds>(*downtime);
    m.max_time = *max_time;
    m.warmup = std::chrono::duration_cast<std::chrono::milliseconds>(*warmup);
    m.auto_converge = f.auto_converge;
    m.compress = f.compress;
    m.background_sync = *background_sync;
    auto defer_hot = dtrack::parse_defer_hot_options(f.defer_hot, f.defer_hot_rounds);
    if (!defer_hot) return defer_hot.error();
    m.defer_hot = *defer_hot;
    return std::optional(m);
}

}  // namespace dtvm::option_groups
