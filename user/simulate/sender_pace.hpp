// The sending host's own pace (--sender-rate, --digest-rate): what the
// simulated link alone does not say. A sender that compresses, or a round 1
// of zero and compressible pages, is bound by its CPU, not by the link: a
// 128 MiB round 1 of dtvm's pages with zstd is about 150 KiB on the wire, 6 ms
// at 24 MiB/s, and 0.1 s of the sender's core. And switchover ends with both
// sides hashing all guest memory (the END record's digest) while the guest
// is paused. Both are figures of the host, measured as the peak is: a
// migration of the same guest on an unlimited link gives them
// (tools/bench/policy_comparison.sh; docs/ARCHITECTURE.md, "Simulation").
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include "dtrack/error.hpp"

namespace dtrack::cli {

struct SenderPaceFlags {
    std::string sender_rate;  // pages/s; empty: no limit
    std::string digest_rate;  // bytes/s; empty: not counted
};

struct SenderPace {
    double pages_per_s = 0;         // 0: pages move at the bandwidth
    double digest_bytes_per_s = 0;  // 0: the digest is not counted
};

void add_sender_pace_options(CLI::App* cmd, SenderPaceFlags& f);
Result<SenderPace> parse_sender_pace(const SenderPaceFlags& f);

}  // namespace dtrack::cli
