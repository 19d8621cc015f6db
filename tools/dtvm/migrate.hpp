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

#include "dtrack/precopy/guest_memory.hpp"
#include "dtrack/precopy/sender.hpp"
#include "options.hpp"

namespace dtvm {

// The guest's memory as the precopy Sender and Receiver see it: one entry per
// slot, region i = slot i (as Tracking creates them).
std::vector<dtrack::precopy::GuestMemory> guest_memory(const Vm& vm);

// The Sender stops and restarts the guest through this.
class VmPauser : public dtrack::precopy::VmControl {
public:
    explicit VmPauser(Vm& vm) : vm_(vm) {}
    void pause_vcpus() override { vm_.pause(); }
    void resume_vcpus() override { vm_.resume(); }

private:
    Vm& vm_;
};

int run_migration_source(const Options& options);
int run_incoming(const Options& options);

}  // namespace dtvm
