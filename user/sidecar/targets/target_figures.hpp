// What the sidecar knows about one target at a moment: the figures its
// harvester keeps up to date and a scrape copies out.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "target_labels.hpp"

namespace dtrack::cli::sidecar {

// One vCPU as of the last interval (index = vCPU, as TargetFigures::vcpu_pages).
struct VcpuFigures {
    pid_t tid = 0;            // its thread, where the vCPUs are a process's threads; 0: a ring vCPU
    std::string thread;       // that thread's name
    bool alive = true;        // the thread was there at the last listing (a ring vCPU: always)
    double pages_per_s = 0;   // its rate over the last interval
    bool over_quota = false;  // above --quota: a per-vCPU dirty limit would slow it
};

struct TargetFigures {
    // Who it is and how it is measured.
    std::string target;  // the label: the pid file's stem, or COMM-PID
    pid_t pid = 0;
    std::string comm;
    std::string method;  // "auto" | "bpf" | "sample" | "sample-exact"
    std::string source;  // how the sidecar found it: a token of metrics/target_source.hpp
    bool exact = false;
    uint64_t page_size = 4096;
    TargetLabels labels;  // who it is to what runs it (libvirt's domain and uuid, ...), on the info series

    // Counters: they only grow while the target is attached.
    uint64_t harvests = 0;        // intervals measured
    double measured_seconds = 0;  // their summed length
    uint64_t dirty_pages = 0;     // each interval's figure (below), summed: continuous across switches
    // The two figures on their own, where measured (dtrack/dirty_figure.hpp):
    std::optional<uint64_t> vmm_dirty_pages;  // ring pushes, distinct per interval, summed
    std::optional<uint64_t> written_pages;    // page hashing, distinct per interval, summed (estimates rounded)

    // Which figure the last interval counted in dirty_pages, and the VM's logging state.
    std::string figure;                  // "vmm-dirty" | "written"; "" before the first interval
    bool figure_trusted = true;          // false: it reads low (--method bpf on a VM that does not log)
    std::optional<std::string> logging;  // "off" | "ring" | "bitmap"; absent for a process without a KVM VM
    std::string logging_evidence;        // "kernel" | "inferred"
    std::vector<uint64_t>
        vcpu_pages;  // ring entries, or (--quota) threads' write faults, per vCPU; empty: no vCPU view
    std::vector<std::pair<uint32_t, uint64_t>> slot_pages;  // (memslot id, pages); empty: no memslot view
    // Absent where the method cannot see them.
    std::optional<uint64_t> lost_pages;
    std::optional<uint64_t> overapproximated_pages;
    std::optional<uint64_t> ring_full_exits;
    std::optional<uint64_t> ring_resets;
    std::vector<uint64_t> vcpu_ring_full_exits;  // per vCPU (index = vCPU id); empty: no ring view

    // Gauge: vCPUs waiting on a full dirty ring their VMM has not reset for
    // 5 s or more (dtrack/stuck_vcpus.hpp), at the last interval.
    std::optional<uint64_t> stuck_vcpus;

    // Gauges, as of the last interval.
    uint64_t working_set_10s_pages = 0;
    uint64_t working_set_60s_pages = 0;
    uint64_t memory_bytes = 0;                   // what round 1 of a precopy would copy
    std::optional<double> estimate_bound_pages;  // sample: 95% half-width of the last interval's estimate
    std::vector<VcpuFigures> vcpus;              // where vcpu_pages is, as of the last interval
    std::optional<double> quota_pages_per_s;     // --quota, where the target has a per-vCPU view

    // --forecast-bandwidth: precopy at that bandwidth from the last interval's
    // rate, the 60 s working set and memory_bytes (dtrack rate's forecast).
    struct PrecopyForecast {
        bool converges = false;
        double total_s = 0;               // converging only
        double bytes_per_guest_byte = 0;  // converging only: what it sends over memory_bytes
    };
    std::optional<PrecopyForecast> forecast;
};

}  // namespace dtrack::cli::sidecar
