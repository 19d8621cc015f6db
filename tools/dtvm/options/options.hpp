// dtvm's command line, parsed and checked: what to run and what to do with it.
//
// Each group of options fills its own struct, declared beside the part of
// dtvm that takes it (VmOptions in vm/vm.hpp, CheckLoopOptions in
// modes/check_loop.hpp, ...); Options gathers them for the modes, and
// option_groups.hpp parses them group by group.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "dtvm/guest/workload.hpp"
#include "dtvm/modes/check_loop.hpp"
#include "dtvm/modes/migrate.hpp"
#include "dtvm/modes/vcpu_dirty_limit.hpp"
#include "dtvm/options/exit_codes.hpp"
#include "dtvm/tracking/tracking.hpp"
#include "dtvm/vm/vm.hpp"

namespace dtvm {

struct Options {
    VmOptions vm;
    std::string backend_why;  // --backend auto: why this backend, else empty
    Workload workload;
    TrackingOptions tracking;
    CheckLoopOptions check;
    std::optional<DirtyLimitOptions> dirty_limit;  // --dirty-limit; nullopt = off
    std::optional<MigrationOptions> migrate;       // --migrate-to: be the source
    std::optional<IncomingOptions> incoming;       // --incoming: be the destination
    TlsOptions tls;
};

// "dtvm: backend process: KVM is not usable here (...)" when --backend auto
// chose, else empty: printed once at the start of every mode.
std::string backend_line(const Options& options);

// Parses argv. Returns the options, or the exit code to leave with (help
// printed, or a message on stderr for bad input).
std::variant<Options, int> parse_command_line(int argc, char** argv);

}  // namespace dtvm
