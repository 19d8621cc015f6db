// dtvm's command line, group by group. Each group keeps its options as typed
// (Flags), registers them with CLI11 (add_*, in the order `dtvm --help`
// lists them) and turns them into its own options struct, checked (parse_*;
// a check that needs another group gets that group's result).
// parse_command_line (options.cpp) drives them.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "dtrack/error.hpp"
#include "dtvm/options/options.hpp"

namespace dtvm::option_groups {

// --mem, --vcpus, --readers, --slots, --emulated -> VmOptions (the backend is chosen last).
struct VmFlags {
    std::string mem = "256M";
    uint32_t vcpus = 2;
    int64_t readers = 0;  // signed, so that a negative count gets our message
    uint32_t slots = 3;
    std::string reader_cpus;  // a CPU list, as taskset -c takes
    bool emulated = false;
};
void add_vm_options(CLI::App& app, VmFlags& f);
void add_emulated_option(CLI::App& app, VmFlags& f);  // listed after the check loop's options
dtrack::Result<VmOptions> parse_vm(const VmFlags& f);

// --workload, --wss, --rate, --hot-fraction, --hot-share, --seed, --exit-every, --write-bytes -> Workload
struct WorkloadFlags {
    std::string pattern = "hotcold", wss = "64M", rate = "0";
    std::string write_bytes = "8";  // a size: 8, 512, 4K
    Workload values;                // the options that need no conversion, bound as they are
};
void add_workload_options(CLI::App& app, WorkloadFlags& f);
// The working set must fit `vm`, except on a destination (`incoming`), which runs no workload.
dtrack::Result<Workload> parse_workload(const WorkloadFlags& f, const VmOptions& vm, bool incoming);

// --backend, --print-backend: checked here, chosen once every option is.
struct BackendFlags {
    std::string name = "auto";
    bool print = false;
};
void add_backend_options(CLI::App& app, BackendFlags& f);
dtrack::Status check_backend_name(const BackendFlags& f);

// --track, --ring-size -> TrackingOptions, once the backend is known.
struct TrackingFlags {
    std::string mode = "auto";
    uint32_t ring_entries = 4096;
};
void add_tracking_options(CLI::App& app, TrackingFlags& f);
dtrack::Status check_tracking_flags(const TrackingFlags& f);
dtrack::Result<TrackingOptions> parse_tracking(const TrackingFlags& f, Backend backend);

// --duration, --interval, --json, --throttle, --record -> CheckLoopOptions
struct CheckLoopFlags {
    std::string duration = "10s", interval = "1s";
    CheckLoopOptions values;  // --json, --throttle, --record
};
void add_check_loop_options(CLI::App& app, CheckLoopFlags& f);
dtrack::Result<CheckLoopOptions> parse_check_loop(const CheckLoopFlags& f);

// --migrate-to, --bandwidth, --downtime, --max-time, --auto-converge,
// --background-sync, --background-sync-every, --warmup, --compress,
// --compress-level, --xbzrle-cache -> MigrationOptions
inline constexpr const char* kDefaultBackgroundSync = "5s";
struct MigrationFlags {
    std::string to, bandwidth = "0", downtime = "300ms", max_time = "0", background_sync = kDefaultBackgroundSync,
                    warmup = "1s";
    std::string background_sync_every;  // empty: not given
    bool auto_converge = false;
    std::string compress = "none", xbzrle_cache = "0";
    int compress_level = 0;
    bool defer_hot = false;
    std::string defer_hot_rounds;  // empty: the policy's default
};
void add_migration_options(CLI::App& app, MigrationFlags& f);
// --warmup, --compress, --compress-level, --xbzrle-cache: after the dirty limit's
void add_migration_start_options(CLI::App& app, MigrationFlags& f);
// Not --migrate-to: nullopt. `check` is refused a --throttle with it; the
// cache is bounded by the guest's `mem_bytes`.
dtrack::Result<std::optional<MigrationOptions>> parse_migration(const MigrationFlags& f, const CheckLoopOptions& check,
                                                                uint64_t mem_bytes);

// --dirty-limit, --dirty-limit-period, --dirty-limit-sleep -> DirtyLimitOptions
struct DirtyLimitFlags {
    std::string rate, period = "1s", sleep = "auto";
};
void add_dirty_limit_options(CLI::App& app, DirtyLimitFlags& f);
// Not --dirty-limit: nullopt. Checked against the other ways to slow the
// vCPUs and the modes that run none.
dtrack::Result<std::optional<DirtyLimitOptions>> parse_dirty_limit(const DirtyLimitFlags& f,
                                                                   const MigrationFlags& migration, bool incoming,
                                                                   const CheckLoopOptions& check);
// Where a limited vCPU sleeps, once the tracking mode is known: sets
// vm.share_at, and what the tracking must do for it.
dtrack::Status apply_dirty_limit_sleep(const DirtyLimitFlags& f, VmOptions& vm, TrackingOptions& tracking);

// --incoming (with --max-time) -> IncomingOptions
struct IncomingFlags {
    std::string from;
};
void add_incoming_options(CLI::App& app, IncomingFlags& f);
// Not --incoming: nullopt.
dtrack::Result<std::optional<IncomingOptions>> parse_incoming(const IncomingFlags& f, const MigrationFlags& migration);

// --tls-creds, --tls-psk, --tls-psk-identity, --insecure -> TlsOptions
struct TlsFlags {
    std::string creds, psk, psk_identity = "qemu";
    bool insecure = false;
};
void add_tls_options(CLI::App& app, TlsFlags& f);
// Credentials loaded for this end's role; --incoming off loopback only with TLS or --insecure.
dtrack::Result<TlsOptions> parse_tls(const TlsFlags& f, const MigrationFlags& migration, const IncomingFlags& incoming);

}  // namespace dtvm::option_groups
