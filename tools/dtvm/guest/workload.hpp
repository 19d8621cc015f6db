// Guest write workloads: what the vCPUs write, where, and how fast.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dtrack/error.hpp"

namespace dtvm {

enum class Pattern : uint8_t {
    sequential,  // sweep the working set in order
    random,      // uniform random pages (a PRNG in the guest)
    hotcold,     // hot_fraction of the working set gets hot_share of the writes
};

struct Workload {
    Pattern pattern = Pattern::hotcold;
    uint64_t wss_pages = 4096;   // working set; each vCPU writes its own equal, disjoint part
    uint64_t rate_per_vcpu = 0;  // page writes/s per vCPU; 0 = as fast as it runs
    double hot_fraction = 0.1;
    double hot_share = 0.9;
    uint64_t seed = 1;
    uint32_t exit_every = 256;  // the guest exits to the VMM every K writes (K << ring size)
    uint32_t write_bytes = 8;   // bytes rewritten per page write: the stamp, then random words (8..4096, x8)
};

// --write-bytes: a multiple of 8 from 8 (the stamp alone) to 4096 (the whole page).
dtrack::Status check_write_bytes(uint64_t bytes);

dtrack::Result<Pattern> parse_pattern(const std::string& name);  // "sequential" | "random" | "hotcold"
std::string pattern_name(Pattern p);

}  // namespace dtvm
