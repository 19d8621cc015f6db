// --dirty-limit, --dirty-limit-period, --dirty-limit-sleep.
#include <string>

#include "dtrack/dirty_limit_options.hpp"
#include "dtrack/units.hpp"
#include "dtvm/options/option_groups.hpp"

namespace dtvm::option_groups {

void add_dirty_limit_options(CLI::App& app, DirtyLimitFlags& f) {
    app.add_option("--dirty-limit", f.rate,
                   "hold each vCPU's dirty rate to RATE: pages/s (1000, 50k) or bytes/s (4M/s, 4MB/s), per vCPU; "
                   "only the vCPUs above it sleep. From the start in the check loop; with --migrate-to once the "
                   "guest dirties faster than we send (auto-converge's trigger). Not with --auto-converge or "
                   "--throttle")
        ->type_name("RATE");
    app.add_option("--dirty-limit-period", f.period,
                   "measure each vCPU's rate and adjust its sleep this often (1ms-1s, as QEMU's)")
        ->capture_default_str();
    app.add_option("--dirty-limit-sleep", f.sleep,
                   "where a limited vCPU sleeps: ring-full (at KVM_EXIT_DIRTY_RING_FULL, as QEMU; --track ring "
                   "only, no reaper), slice (its share of every 10 ms slice) or auto (ring-full with --track ring, "
                   "else slice)")
        ->capture_default_str();
}

dtrack::Result<std::optional<DirtyLimitOptions>> parse_dirty_limit(const DirtyLimitFlags& f,
                                                                   const MigrationFlags& migration, bool incoming,
                                                                   const CheckLoopOptions& check) {
    if (f.sleep != "auto" && f.sleep != "slice" && f.sleep != "ring-full")
        return dtrack::Error{EINVAL, "unknown --dirty-limit-sleep '" + f.sleep + "'", "use ring-full, slice or auto"};
    auto period = dtrack::parse_dirty_limit_period(f.period);
    if (!period) return period.error();
    if (f.rate.empty()) return std::optional<DirtyLimitOptions>();
    if (migration.auto_converge && !migration.to.empty())
        return dtrack::Error{EINVAL,
                             "--dirty-limit and --auto-converge exclude each other (as QEMU's dirty-limit "
                             "and auto-converge capabilities do): both answer the same trigger",
                             "choose one: --dirty-limit slows only the vCPUs that dirty memory, --auto-converge "
                             "slows every vCPU alike"};
    auto rate = dtrack::parse_pages_per_second(f.rate, 4096, "--dirty-limit");
    if (!rate) return rate.error();
    if (incoming)
        return dtrack::Error{EINVAL, "--dirty-limit limits a running guest's vCPUs, and --incoming runs none",
                             "give it to the source (--migrate-to), or leave it out"};
    if (check.throttle_pct != 0)
        return dtrack::Error{EINVAL,
                             "--dirty-limit and --throttle exclude each other: one holds each vCPU to a rate, "
                             "the other every vCPU to a share of time",
                             "choose one"};
    return std::optional(DirtyLimitOptions{.pages_per_s = *rate, .period = *period});
}

dtrack::Status apply_dirty_limit_sleep(const DirtyLimitFlags& f, VmOptions& vm, TrackingOptions& tracking) {
    const bool ring = tracking.mode == TrackMode::ring;
    if (f.sleep == "ring-full" && !ring)
        return dtrack::Error{EINVAL,
                             "--dirty-limit-sleep ring-full needs the KVM dirty ring, and this run tracks with " +
                                 track_mode_name(tracking.mode),
                             "use --dirty-limit-sleep slice (or auto), or --track ring on KVM"};
    vm.share_at = ring && f.sleep != "slice" ? ShareAt::ring_full : ShareAt::slice;
    // Rings must fill for a vCPU to sleep at ring-full exits: no reaper
    // emptying them first, and a full exit empties the exiting vCPU's ring
    // only, as QEMU's does while its limit is in service (FullExitReap).
    // QEMU empties every ring until then; here the shares are 0 until the
    // limit engages, so no vCPU sleeps either way, and only when pages are
    // write-protected again differs.
    if (vm.share_at == ShareAt::ring_full) {
        tracking.reaper = false;
        tracking.full_exit_reap = dtrack::FullExitReap::own_ring;
    }
    tracking.thread_write_faults = tracking.mode == TrackMode::uffd;
    return dtrack::Ok{};
}

}  // namespace dtvm::option_groups
