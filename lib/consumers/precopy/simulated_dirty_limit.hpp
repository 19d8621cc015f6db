// The per-vCPU dirty limit in the simulation, wired as dtvm wires it
// (tools/dtvm/modes/vcpu_dirty_limit.cpp, VcpuDirtyLimit::Start::on_trigger):
// auto-converge's ConvergenceTrigger (the guest dirties more than half of
// what is sent, twice) engages it; from then every sync's period feeds the
// engine's DirtyLimit each vCPU's count of reported pages, read from the
// tracker's counters, and its decisions hold the simulated vCPUs
// (SimulatedVcpus::set_share) where dtvm's Vm::set_vcpu_share would.
#pragma once

#include <vector>

#include "dtrack/convergence_trigger.hpp"
#include "dtrack/dirty_limit.hpp"
#include "dtrack/precopy/simulation.hpp"
#include "dtrack/tracker.hpp"

namespace dtrack::precopy {

class SimulatedDirtyLimit {
public:
    SimulatedDirtyLimit(const DirtyLimitOptions& options, SimulatedGuest& guest, Tracker& tracker);

    void on_period(const Period& p);

    bool engaged() const { return engaged_at_.has_value(); }
    // Engaged, and its last decision changed no vCPU's share: it will not
    // slow the guest further on its own.
    bool settled() const;
    std::optional<Clock::time_point> engaged_at() const { return engaged_at_; }
    std::vector<DirtyLimitSample> timeline() const { return limit_.timeline(); }

private:
    SimulatedGuest& guest_;
    Tracker& tracker_;
    ConvergenceTrigger trigger_;
    DirtyLimit limit_;
    std::optional<Clock::time_point> engaged_at_;
    bool moved_ = true;  // the last decision changed a share
};

}  // namespace dtrack::precopy
