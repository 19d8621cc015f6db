// What dtrack rate says under an interval about vCPUs stuck on a full dirty
// ring (BpfSource::stuck_vcpus): one line each for people, an array for --json.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dtrack/stuck_vcpus.hpp"

namespace dtrack::cli {

// "vCPU 0: stuck for 12.3 s: 150,000 ring-full exits and no ring reset (the
// VMM does not harvest its dirty ring; a jammed ring)"; none when none is stuck.
std::vector<std::string> stuck_vcpu_lines(const std::vector<StuckVcpu>& stuck);

// [{"vcpu": 0, "stuck_s": 12.3, "ring_full_exits": 150000}, ...]; [] when none is.
nlohmann::json stuck_vcpus_json(const std::vector<StuckVcpu>& stuck);

}  // namespace dtrack::cli
