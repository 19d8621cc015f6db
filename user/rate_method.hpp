// How `dtrack rate` measures a process: which source, and why.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dtrack/bpf_bitmap_source.hpp"
#include "dtrack/bpf_source.hpp"
#include "dtrack/rate_meter.hpp"
#include "dtrack/sample_source.hpp"
#include "dtrack/target_process.hpp"
#include "dtrack/thread_write_faults.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/vcpu_thread_fault_source.hpp"

namespace dtrack::cli {

enum class RateMethod { automatic, bpf, sample };

// Where per-vCPU rates come from (vcpu_rates.hpp).
enum class VcpuView {
    none,           // the method has none, or they were not asked for
    ring,           // the KVM dirty ring's entries per vCPU (bpf)
    thread_faults,  // each thread's write faults (ThreadWriteFaults), for a process that runs no KVM VM
};

struct RateSetup {
    // Before the tracker, so it goes after it: the tracker's VcpuThreadFaultSource reads it.
    std::unique_ptr<ThreadWriteFaults> thread_faults;
    std::unique_ptr<Tracker> tracker;  // the regions and the source of the chosen method
    std::string method;       // "bpf" | "sample" | "sample-exact"
    std::string source;       // what it hooks: "kvm:kvm_dirty_ring_push"
    std::string why;          // why this method
    bool exact = false;
    bool knows_vcpus = false;
    BpfSource* bpf = nullptr;        // owned by the tracker
    BpfBitmapSource* bitmap = nullptr;  // owned by the tracker
    SampleSource* sample = nullptr;  // owned by the tracker

    // Per-vCPU rates, when asked for (RateMethodOptions::per_vcpu).
    VcpuView vcpu_view = VcpuView::none;
    std::optional<Error> no_vcpu_view;  // asked for but there are none: why ("per-vCPU rates need ...") and the fix
    // thread_faults: the target's threads as listed so far, index = vCPU
    // (refresh_vcpu_threads() adds new ones at the end; a thread that ended keeps its place).
    std::vector<ProcessThread> threads;
    std::vector<bool> thread_alive;
    VcpuThreadFaultSource* vcpu_threads = nullptr;  // owned by the tracker
};

struct RateMethodOptions {
    bool exact_sampling = false;  // sample: hash every page instead of a sample
    double max_error = 0.02;      // sample: target half-width of the 95% interval (fraction of the present pages)
    uint64_t sample_pages = 0;    // sample: this many pages instead (0: sized by max_error)
    uint32_t bpf_slots = 32;              // memslot ids 0..n-1 are tracked
    uint64_t bpf_pages_per_slot = 1 << 21;  // 8 GiB of 4 KiB pages per slot
    bool per_vcpu = false;  // per-vCPU rates too: for a process that runs no KVM VM, each thread's write faults
};

// Builds a tracker (regions and source) for `method` on `target`.
Result<RateSetup> setup_rate_method(RateMethod method, const TargetProcess& target,
                                    const RateMethodOptions& options);
// One method's tracker each: the kernel's ring pushes (BpfSource on a
// dirty-ring VMM; refused with the cause and the fix elsewhere), the new
// bits of the kernel's dirty bitmaps (BpfBitmapSource, a KVM VMM without
// the ring), whichever of the two the VMM's VM has (kernel events), and page
// hashing (SampleSource). `why` is left empty.
Result<RateSetup> setup_ring_events(const TargetProcess& target, const RateMethodOptions& options);
Result<RateSetup> setup_bitmap_events(const TargetProcess& target, const RateMethodOptions& options);
Result<RateSetup> setup_kernel_events(const TargetProcess& target, const RateMethodOptions& options);
Result<RateSetup> setup_hashing(const TargetProcess& target, const RateMethodOptions& options);

// The options as typed, shared by the commands that measure (rate, sidecar, record).
// "auto" | "bpf" | "sample"; "uffd" gets its own explanation.
Result<RateMethod> parse_rate_method(const std::string& text);
// "1s", "500ms": at least 10 ms.
Result<std::chrono::nanoseconds> parse_interval(const std::string& text);
// "1%", "0.5%" or "0.01": a fraction in (0, 1).
Result<double> parse_bound(const std::string& text);

// The working set so far: the pages the meter saw dirtied since it started,
// or, for sampling (which marks only the sampled pages), the source's own
// estimate from its sample.
uint64_t working_set_pages(const RateSample& sample, const RateSetup& setup);
// What round 1 of a precopy would copy: the memory the method sees, and at
// least the working set (pages) seen so far. The forecast's input.
uint64_t round_one_bytes(const Tracker& tracker, const RateSetup& setup, uint64_t working_set_pages);

}  // namespace dtrack::cli
