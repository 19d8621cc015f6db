// dtvm --migrate-to --json: the migration's report as one JSON object, the
// last line of stdout after the report for people (scripts read `tail -n 1`).
//
// It holds the Outcome's figures (status, total_s, rounds, downtime_ms,
// bytes_sent, pages, syncs) and what only dtvm knows: the guest's memory size
// (so bytes_per_guest_byte, the figure "transferred 40.6 GiB of 32.0 GiB"
// complaints are about), the throttle's last percentage, and each reader
// vCPU's reads/s over the migration against the warm-up before it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dtrack/precopy/sender.hpp"

namespace dtvm {

// One reader vCPU's reads/s: over the migration (until the guest stopped for
// the switchover) and over the warm-up before it.
struct ReaderRate {
    uint32_t vcpu = 0;
    double migration_reads_per_s = 0;
    double warmup_reads_per_s = 0;
};

// What dtvm measured beside the Sender's Outcome.
struct MigrationFacts {
    uint64_t guest_bytes = 0;   // the guest's memory: what round 1 sends
    int throttle_last_pct = 0;  // the throttle's last step; 0 when it never engaged
    std::vector<ReaderRate> readers;
};

// Bytes on the wire per byte of guest memory (0 for a guest of no memory).
double bytes_per_guest_byte(uint64_t bytes_sent, uint64_t guest_bytes);

// The summary, one line of JSON without the newline.
std::string migration_summary_json(const dtrack::precopy::Outcome& outcome, const MigrationFacts& facts);

}  // namespace dtvm
