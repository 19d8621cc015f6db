// The sidecar's own process figures, as every Prometheus exporter gives them.
#pragma once

namespace dtrack::cli::sidecar {

// CPU time this process used so far, user + system, in seconds.
double own_cpu_seconds();
// When this process started, in seconds since the Unix epoch (from
// /proc/self/stat and the boot time in /proc/stat); 0 if unreadable.
double own_start_time_seconds();

}  // namespace dtrack::cli::sidecar
