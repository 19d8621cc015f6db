// The same dtvm run seen two ways: through its KVM dirty rings (dtvm's own
// tracker, KvmRingSource) and from the kernel by BpfSource (a second tracker
// with the same regions, fed only by the BPF program). Both must report the
// same pages, epoch after epoch, the same ring entries per vCPU, and the
// same ring-full exits and ring resets.
//
// A plain function that returns what differed, rather than GoogleTest
// assertions, so it also runs in a forked child (the tracepoint test).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dtrack/bpf_source.hpp"
#include "dtvm/tracking/tracking.hpp"

namespace dtrack_test {

struct RingComparisonCase {
    uint32_t vcpus = 1;
    dtvm::Pattern pattern = dtvm::Pattern::random;
    uint32_t ring_entries = 4096;
    bool reaper = true;  // false: only the vCPUs' ring-full exits harvest the ring
    int epochs = 4;
    dtrack::BpfHooks hooks = dtrack::BpfHooks::raw_tracepoints;
    bool measure_push_cost = false;  // kernel BPF run-time statistics while it runs
};

struct RingComparison {
    std::vector<std::string> mismatches;  // empty: both views agreed everywhere
    uint64_t pages_compared = 0;          // dirty pages taken from each tracker, all epochs
    uint64_t pushes = 0;                  // ring entries both sides counted
    uint64_t full_exits = 0;
    std::string hooked_with;         // BpfSource::hooked_with()
    std::vector<std::string> notes;  // BpfSource::notes()
    double bpf_harvest_us = 0;       // mean BpfSource harvest time
    double ring_harvest_us = 0;      // mean KvmRingSource cost per sync (reaper passes included)
    uint64_t push_handler_runs = 0;  // measure_push_cost: runs of the push handler (all processes)...
    double push_handler_ns = 0;      // ...and its mean run time
    std::vector<dtrack::BpfSlotUsage> slot_usage;

    std::string summary() const;
};

// Runs the case against this process's own VM (BpfSource watches getpid()).
// An error (KVM or BPF would not start) is a mismatch too.
RingComparison compare_bpf_with_ring(const RingComparisonCase& c);

}  // namespace dtrack_test
