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
#include <optional>

#include "dtrack/precopy/guest_memory.hpp"
#include "dtrack/precopy/sender.hpp"
#include "dtvm/options/options.hpp"

namespace dtvm {

// The guest's memory as the precopy Sender and Receiver see it: one entry per
// slot, region i = slot i (as Tracking creates them).
std::vector<dtrack::precopy::GuestMemory> guest_memory(const Vm& vm);

// The Sender stops and restarts the guest through this. It remembers since
// when the guest is stopped (the switchover, then the end), so the readers'
// progress is taken over the time the guest ran.
class VmPauser : public dtrack::precopy::VmControl {
public:
    explicit VmPauser(Vm& vm) : vm_(vm) {}
    void pause_vcpus() override {
        vm_.pause();
        paused_since_ = std::chrono::steady_clock::now();
    }
    void resume_vcpus() override {
        paused_since_.reset();
        vm_.resume();
    }
    std::optional<std::chrono::steady_clock::time_point> paused_since() const { return paused_since_; }

private:
    Vm& vm_;
    std::optional<std::chrono::steady_clock::time_point> paused_since_;
};

int run_migration_source(const Options& options);
int run_incoming(const Options& options);

}  // namespace dtvm
