// The per-vCPU dirty limit (dtrack::DirtyLimit) as dtvm wires it, the way a
// VMM would. In a migration it engages when auto-converge's trigger fires
// (dtrack::ConvergenceTrigger; QEMU engages whichever of the two is
// enabled) and the watcher syncs at least once per --dirty-limit-period; in
// the check loop it holds from the start, fed at each interval's sync. Every
// sync feeds it each vCPU's pages (the KVM ring's entries per vCPU, or each
// vCPU thread's write faults); its decisions act through
// Vm::set_vcpu_share. At the end it reports each vCPU's rate, quota and
// sleep share over time, and lifts the limit.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "dtrack/convergence_trigger.hpp"
#include "dtrack/dirty_limit.hpp"
#include "dtrack/tracker.hpp"
#include "dtvm/vm/vm.hpp"

namespace dtvm {

// --dirty-limit: each vCPU held to this many pages/s, from the start in
// the check loop, once the migration does not converge with
// --migrate-to (exclusive with --auto-converge).
struct DirtyLimitOptions {
    double pages_per_s = 0;
    std::chrono::milliseconds period{1000};  // --dirty-limit-period
};

class VcpuDirtyLimit {
public:
    enum class Start : uint8_t {
        now,         // the check loop: hold every vCPU from the first sync
        on_trigger,  // a migration: once it does not converge
    };
    VcpuDirtyLimit(const DirtyLimitOptions& options, Vm& vm, dtrack::Tracker& tracker, Start start);

    // Every sync's period (Rounds::on_period; the check loop passes its
    // syncs as periods of kind round).
    void on_period(const dtrack::Period& p);

    // Prints what it did, times from `start`; then every vCPU runs free.
    void report_and_lift(std::chrono::steady_clock::time_point start);

private:
    dtrack::Tracker& tracker_;
    const uint32_t vcpus_;
    std::vector<bool> readers_;  // index = vCPU: labelled in the report
    const double quota_;
    dtrack::ConvergenceTrigger trigger_;
    dtrack::DirtyLimit limit_;
    std::atomic<bool> engaged_;  // set on the syncing thread
    dtrack::Clock::time_point engaged_at_{};
    dtrack::SyncKind engaged_after_ = dtrack::SyncKind::round;
};

}  // namespace dtvm
