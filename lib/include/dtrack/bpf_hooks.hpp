// BpfHooks: which kind of kernel hook dtrack's BPF programs attach with,
// for every source that hooks tracepoints (BpfSource, ThreadWriteFaults).
#pragma once

#include <cstdint>

#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

enum class BpfHooks : uint8_t {
    automatic,        // raw tracepoints, then tracepoints
    raw_tracepoints,  // only raw_tp/ (no tracefs)
    tracepoints,      // only tp/ (tracefs, mounted if needed)
};

}  // namespace dtrack

DTRACK_PUBLIC_END
