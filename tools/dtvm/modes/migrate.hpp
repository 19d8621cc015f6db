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
#include "dtrack/precopy/tls.hpp"

namespace dtvm {

struct Options;

struct MigrationOptions {
    std::string to;          // --migrate-to tcp://HOST:PORT
    uint64_t bandwidth = 0;  // bytes/s; 0 = no cap
    std::chrono::milliseconds downtime{300};
    std::chrono::nanoseconds max_time{0};  // 0 = no limit
    bool auto_converge = false;
    std::optional<std::chrono::milliseconds> background_sync{std::chrono::seconds(5)};  // nullopt = off
    std::chrono::milliseconds warmup{1000};  // the guest runs this long before the migration starts
    bool compress = false;
    std::optional<dtrack::HotPageDeferralOptions> defer_hot;  // --defer-hot [--defer-hot-rounds K]
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
