// The sidecar's metrics: the schema (every family's name, type and help, as
// agreed for the Prometheus rules and the Grafana dashboard) and how a
// snapshot of the targets' figures becomes families for a scrape.
//
// Names are in base units with _total on counters (the format adds the
// suffix: see metric_family.hpp). A counter a method cannot see is left out
// for that target, never written as 0; each family's HELP says where.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "metric_family.hpp"
#include "sidecar/targets/target_figures.hpp"

namespace dtrack::cli::sidecar {

// What the sidecar says about itself.
struct SidecarFigures {
    uint64_t targets_attached = 0;
    uint64_t targets_exited = 0;                                    // since start
    std::vector<std::pair<std::string, uint64_t>> targets_refused;  // pid files skipped since start, by reason
    double cpu_seconds = 0;                                         // its own, user + system
    double start_time_seconds = 0;                                  // since the Unix epoch
    std::string version;
};

std::vector<MetricFamily> metric_families(const std::vector<TargetFigures>& targets, const SidecarFigures& sidecar);

}  // namespace dtrack::cli::sidecar
