// Per-vCPU dirty rates, for `dtrack rate --quota` and the sidecar's --quota:
// where they come from for a target, each vCPU's rate over an interval with
// a label saying what it is, and whether a per-vCPU dirty limit at the quota
// would slow it (its rate is above the quota).
//
// From the kernel on both kinds of target:
//   a KVM VMM with the dirty ring (method bpf): each vCPU's ring entries;
//   a process that runs no KVM VM (dtvm's process backend, whose vCPUs are
//     threads): each thread's write faults (ThreadWriteFaults), labelled by
//     thread id and name. A write fault is a first write to a page not
//     writable yet: where the process write-protects its memory again at
//     each harvest (userfaultfd, as dtvm's process backend does) that is a
//     page newly dirtied, as a ring entry is; elsewhere only first touches.
// Anything else (KVM without the ring, whose guest writes take no host page
// fault; BPF unavailable) has none, and TargetMethod::no_vcpu_view says why
// (the view itself is the library's: TargetMeterOptions::per_vcpu).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "dtrack/rate_meter.hpp"
#include "dtrack/target_meter.hpp"

namespace dtrack::cli {

// "ring entries per vCPU" | "write faults per thread": what a vCPU's figure counts.
std::string vcpu_figure(const TargetMethod& method);

struct VcpuRate {
    size_t vcpu = 0;     // the index of its figures (RateSample::vcpu_pages_per_s)
    pid_t tid = 0;       // thread_faults: its thread id; 0 for a ring vCPU
    std::string thread;  // thread_faults: its name
    bool alive = true;   // thread_faults: it was there at the last listing
    double pages_per_s = 0;
    bool over_quota = false;  // above the quota: a limit would slow it

    std::string label() const;  // "vCPU 2" | "tid 1234 (CPU 0/KVM)"
};

// Every vCPU's rate over the interval of `sample`, index order; over_quota
// where a quota is given and the rate is above it.
std::vector<VcpuRate> vcpu_rates(const RateSample& sample, const TargetMethod& method, std::optional<double> quota);

}  // namespace dtrack::cli
