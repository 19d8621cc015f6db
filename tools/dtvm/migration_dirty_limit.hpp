// The per-vCPU dirty limit (dtrack::DirtyLimit) as dtvm's migration wires
// it, the way a VMM would: it engages when auto-converge's trigger fires
// (dtrack::ConvergenceTrigger; QEMU engages whichever of the two is
// enabled), and from then on every sync feeds it each vCPU's pages (the KVM
// ring's entries per vCPU, or each vCPU thread's write faults); the watcher
// syncs at least once per --dirty-limit-period. Its decisions act through
// Vm::set_vcpu_share. At the end it reports each vCPU's rate, quota and
// sleep share over time, and lifts the limit.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "dtrack/convergence_trigger.hpp"
#include "dtrack/dirty_limit.hpp"
#include "dtrack/tracker.hpp"
#include "options.hpp"
#include "vm.hpp"

namespace dtvm {

class MigrationDirtyLimit {
public:
    // m.dirty_limit must be set.
    MigrationDirtyLimit(const MigrationOptions& m, Vm& vm, dtrack::Tracker& tracker);

    // Every sync's period (Rounds::on_period).
    void on_period(const dtrack::Period& p);

    bool engaged() const { return engaged_; }
    double share(uint32_t vcpu) const { return limit_.share(vcpu); }

    // Prints what it did, times from `start`; then every vCPU runs free.
    void report_and_lift(std::chrono::steady_clock::time_point start);

private:
    dtrack::Tracker& tracker_;
    const uint32_t vcpus_;
    const double quota_;
    dtrack::ConvergenceTrigger trigger_;
    dtrack::DirtyLimit limit_;
    std::atomic<bool> engaged_{false};  // set on the syncing thread
    dtrack::Clock::time_point engaged_at_{};
    dtrack::SyncKind engaged_after_ = dtrack::SyncKind::round;
};

}  // namespace dtvm
