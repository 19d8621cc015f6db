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

#include "dtvm/options/options.hpp"

namespace dtvm {

int run_migration_source(const Options& options);
int run_incoming(const Options& options);

}  // namespace dtvm
