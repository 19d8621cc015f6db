// dtvm's command line, parsed and checked: what to run and what to do with it.
#pragma once

#include <chrono>
#include <optional>
#include <variant>
#include <string>

#include "dtrack/precopy/tls.hpp"
#include "dtvm/tracking/tracking.hpp"
#include "dtvm/vm/vm.hpp"
#include "dtvm/guest/workload.hpp"

namespace dtvm {

// Exit codes.
constexpr int exit_ok = 0;
constexpr int exit_lost_pages = 1;       // a written page was not reported
constexpr int exit_bad_input = 2;        // the message names the cause and the fix
constexpr int exit_guest_failed = 3;     // KVM or the guest failed
constexpr int exit_migration_failed = 4; // the migration did not complete; the VM runs on

struct MigrationOptions {
    std::string to;                          // --migrate-to tcp://HOST:PORT
    uint64_t bandwidth = 0;                  // bytes/s; 0 = no cap
    std::chrono::milliseconds downtime{300};
    std::chrono::nanoseconds max_time{0};    // 0 = no limit
    bool auto_converge = false;
    std::optional<std::chrono::milliseconds> background_sync{std::chrono::seconds(5)};  // nullopt = off
    std::chrono::milliseconds warmup{1000};  // the guest runs this long before the migration starts
    bool compress = false;
};

struct Options {
    VmOptions vm;
    Workload workload;
    TrackingOptions tracking;
    std::string backend_why;  // --backend auto: why this backend, else empty
    std::chrono::nanoseconds duration{std::chrono::seconds(10)};
    std::chrono::nanoseconds interval{std::chrono::seconds(1)};
    bool json = false;
    int throttle_pct = 0;  // --throttle: the check loop's vCPUs held this share of the time
    // --dirty-limit: each vCPU held to this many pages/s, from the start in
    // the check loop, once the migration does not converge with
    // --migrate-to (exclusive with --auto-converge); nullopt = off.
    std::optional<double> dirty_limit;
    std::chrono::milliseconds dirty_limit_period{1000};
    std::string record;    // --record FILE: write each interval's dirty pages there (dtrack report reads it)
    std::string incoming;  // --incoming tcp://HOST:PORT: be the destination
    std::chrono::nanoseconds incoming_max_time{0};  // --max-time with --incoming; 0 = no limit
    std::optional<MigrationOptions> migrate;
    // Either end: TLS credentials (--tls-creds, --tls-psk), loaded for this
    // end's role; --insecure lets --incoming listen beyond loopback without them.
    std::optional<dtrack::precopy::TlsCredentials> tls;
    bool insecure = false;
};

// "dtvm: backend process: KVM is not usable here (...)" when --backend auto
// chose, else empty: printed once at the start of every mode.
std::string backend_line(const Options& options);

// Parses argv. Returns the options, or the exit code to leave with (help
// printed, or a message on stderr for bad input).
std::variant<Options, int> parse_command_line(int argc, char** argv);


}  // namespace dtvm
