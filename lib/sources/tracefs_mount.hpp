// tracefs for tp/ BPF programs: libbpf reads a tracepoint's id from
// <tracefs>/events/<system>/<event>/id to attach one. Raw tracepoints need
// none of this.
#pragma once

#include <string>

#include "dtrack/error.hpp"

namespace dtrack {

struct TracefsPlace {
    std::string path;            // where it is mounted
    bool mounted_by_us = false;  // it was not mounted, and we mounted it (it stays mounted)
};

// Where tracefs is; when it is mounted nowhere, mounts it at
// /sys/kernel/tracing (needs CAP_SYS_ADMIN) for this and every later user.
Result<TracefsPlace> ensure_tracefs();

}  // namespace dtrack
