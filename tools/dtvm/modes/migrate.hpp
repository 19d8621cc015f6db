// dtvm as migration source (--migrate-to) and destination (--incoming).
//
// The source tracks its running guest (ring or log), sends its memory with
// libdtrack's precopy Sender, and wires the engine's pieces the way a VMM
// would: Rounds (the migration's two clocks), the Throttle (auto-converge,
// acting through Vm::set_throttle) fed by every sync's period, and the
// Watcher (background sync) started for the migration and stopped after it.
// The destination receives into a VM of the same memory layout and checks
// the memory digest against the source's.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "dtrack/hot_page_deferral.hpp"
#include "dtrack/precopy/compression.hpp"
#include "dtrack/precopy/tls.hpp"
#include "dtrack/watcher.hpp"

namespace dtvm {

struct Options;

struct MigrationOptions {
    std::string to;          // --migrate-to tcp://HOST:PORT
    uint64_t bandwidth = 0;  // bytes/s; 0 = no cap
    std::chrono::milliseconds downtime{300};
    std::chrono::nanoseconds max_time{0};  // 0 = no limit
    bool auto_converge = false;
    std::optional<std::chrono::milliseconds> background_sync{std::chrono::seconds(5)};  // nullopt = off
    // round_time: --background-sync (a round ran that long); periodic: --background-sync-every (QEMU 9.2's timer)
    dtrack::SyncTrigger background_sync_trigger = dtrack::SyncTrigger::round_time;
    std::chrono::milliseconds warmup{1000};                   // the guest runs this long before the migration starts
    std::optional<dtrack::HotPageDeferralOptions> defer_hot;  // --defer-hot [--defer-hot-rounds K]
    dtrack::precopy::Compression compression = dtrack::precopy::Compression::none;  // --compress zlib|zstd
    int compression_level = 0;                                                      // --compress-level; 0 = default
    uint64_t xbzrle_cache_bytes = 0;                                                // --xbzrle-cache; 0 = off
    bool json = false;  // --json: the report ends with a JSON summary line (migration_summary.hpp)
};

struct IncomingOptions {
    std::string from;                      // --incoming tcp://HOST:PORT: be the destination
    std::chrono::nanoseconds max_time{0};  // --max-time with --incoming; 0 = no limit
};

// Either end: TLS credentials (--tls-creds, --tls-psk), loaded for this
// end's role; --insecure lets --incoming listen beyond loopback without them.
struct TlsOptions {
    std::optional<dtrack::precopy::TlsCredentials> credentials;
    bool insecure = false;
};

int run_migration_source(const Options& options);
int run_incoming(const Options& options);

}  // namespace dtvm
