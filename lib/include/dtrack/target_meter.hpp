// TargetMeter: how fast a running VM or process dirties memory, measured
// from outside it, with the figure that is true for the VM's state. What
// `dtrack rate`, `dtrack record` and the sidecar do, for a VM manager to
// embed.
//
//   auto meter = dtrack::TargetMeter::open(qemu_pid, {});   // auto: the state-aware method
//   if (!meter) { puts(meter.error().message().c_str()); ... }
//   (*meter)->start();
//   for (;;) {
//       sleep(1);
//       auto in = (*meter)->sample();
//       const dtrack::RateSample& f = in->figure();          // in->choice says which figure, and why
//       printf("%s %.0f pages/s\n", dtrack::dirty_figure_name(in->choice.figure), f.distinct_pages / f.seconds);
//   }
//
// On a KVM VMM, `MeasureMethod::automatic` runs two methods side by side:
// the kernel's record of the VM's dirty pages (its dirty-ring pushes,
// BpfSource, or its dirty bitmaps, BpfBitmapSource) and page hashing
// (SampleSource); every interval it reads the VM's dirty-logging state from
// the kernel (KvmStateReader) and gives the record's figure (vmm-dirty,
// exact) only if the VM logged into it from the interval's start to its end,
// else the hashed one (written), saying why (dtrack/dirty_figure.hpp). A VM
// that is not logging never gets an "exact" figure: no kernel record follows
// its writes then. On any other process it hashes pages.
//
// Errors name the cause and the fix (no such process, a thread id, no
// permission, a kernel without the feature); nothing stays attached then.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dtrack/bpf_bitmap_source.hpp"
#include "dtrack/bpf_source.hpp"
#include "dtrack/dirty_figure.hpp"
#include "dtrack/export.hpp"
#include "dtrack/kvm_vm_state.hpp"
#include "dtrack/rate_meter.hpp"
#include "dtrack/sample_source.hpp"
#include "dtrack/target_process.hpp"
#include "dtrack/thread_write_fault_source.hpp"
#include "dtrack/thread_write_faults.hpp"
#include "dtrack/tracker.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct TargetMeterOptions {
    MeasureMethod method = MeasureMethod::automatic;
    // One method for the whole run, chosen at open() from the VM's state then
    // (a recording, whose regions are fixed in its header): the kernel's
    // record if the VM logs now, else hashing. Default: chosen every interval.
    bool one_method = false;
    bool exact_sampling = false;  // hashing: every present page instead of a sample
    double max_error = 0.02;      // hashing: target half-width of the 95% interval (fraction of the present pages)
    uint64_t sample_pages = 0;    // hashing: this many pages instead (0: sized by max_error)
    uint32_t kernel_slots = 32;   // the kernel's record: memslot ids 0..n-1 are tracked...
    uint64_t kernel_pages_per_slot = 1 << 21;  // ...up to 8 GiB of 4 KiB pages each
    // Per-vCPU rates: a ring VMM's ring entries; for a process that runs no
    // KVM VM, each thread's write faults (ThreadWriteFaults).
    bool per_vcpu = false;
};

// Where a method's per-vCPU rates come from.
enum class VcpuView : uint8_t {
    none,           // it has none, or they were not asked for
    ring,           // the KVM dirty ring's entries per vCPU (BpfSource)
    thread_faults,  // each thread's write faults, for a process that runs no KVM VM
};

// One method's tracker and its sources, on one target.
struct TargetMethod {
    // Before the tracker, so it goes after it: the tracker's ThreadWriteFaultSource reads it.
    std::unique_ptr<ThreadWriteFaults> thread_faults;
    std::unique_ptr<Tracker> tracker;
    std::string name;    // "bpf" | "sample" | "sample-exact"
    std::string source;  // what it hooks or does: "kvm:kvm_dirty_ring_push"
    bool exact = false;
    bool knows_vcpus = false;
    BpfSource* bpf = nullptr;           // owned by the tracker
    BpfBitmapSource* bitmap = nullptr;  // owned by the tracker
    SampleSource* sample = nullptr;     // owned by the tracker

    // Per-vCPU rates, when asked for (TargetMeterOptions::per_vcpu).
    VcpuView vcpu_view = VcpuView::none;
    std::optional<Error> no_vcpu_view;  // asked for, but there are none: why, and the fix
    // thread_faults: the target's threads as listed so far, index = vCPU
    // (refresh_vcpu_threads() adds new ones at the end; an ended one keeps its place).
    std::vector<ProcessThread> threads;
    std::vector<bool> thread_alive;
    ThreadWriteFaultSource* vcpu_threads = nullptr;  // owned by the tracker

    // thread_faults: lists the target's threads again. New ones take the next
    // vCPU indices (they count from now), ended ones keep theirs, names are re-read.
    void refresh_vcpu_threads(pid_t pid);
    // The working set so far: the pages the meter saw dirtied since it
    // started, or, for sampling (which marks only the sampled pages), the
    // source's own estimate from its sample.
    uint64_t working_set_pages(const RateSample& sample) const;
    // What round 1 of a precopy would copy: the memory the method sees, and
    // at least the working set seen so far.
    uint64_t round_one_bytes(uint64_t working_set_pages) const;
};

// The VM's dirty-logging state at an interval's end, as the figure choice saw it.
struct LoggingView {
    LoggingEvidence evidence = LoggingEvidence::none;
    DirtyLogging logging = DirtyLogging::off;
    uint32_t memslots_logging = 0;
    uint32_t memslots_not_logging = 0;  // writable memslots that do not log
};

struct TargetInterval {
    FigureChoice choice;
    LoggingView logging;
    std::optional<RateSample> vmm_dirty;  // where the kernel's record is watched
    std::optional<RateSample> written;    // where pages are hashed
    // The interval's figure: the one the choice names.
    const RateSample& figure() const {
        return choice.figure == DirtyFigure::vmm_dirty || !written ? *vmm_dirty : *written;
    }
};

class TargetMeter {
public:
    static Result<std::unique_ptr<TargetMeter>> open(pid_t pid, const TargetMeterOptions& options);
    ~TargetMeter();
    TargetMeter(const TargetMeter&) = delete;
    TargetMeter& operator=(const TargetMeter&) = delete;

    // The first interval starts now.
    Status start();
    // Ends the current interval. `each_working_set_word` gets the words the
    // working-set method's tracker took (below): the pages a working set is
    // made of.
    Result<TargetInterval> sample(const RateMeter::TakenWords& each_working_set_word = {});

    const TargetProcess& target() const { return target_; }
    // The methods: the kernel's record and hashing; at least one exists.
    TargetMethod* kernel() { return kernel_.get(); }
    TargetMethod* hashing() { return hashing_.get(); }
    const TargetMethod* kernel() const { return kernel_.get(); }
    const TargetMethod* hashing() const { return hashing_.get(); }
    // The method whose tracker makes the working set (hashing where it runs)...
    TargetMethod& working_set_method() { return hashing_ ? *hashing_ : *kernel_; }
    // ...and the one with the per-vCPU view (the kernel's record where it runs).
    TargetMethod& vcpu_method() { return kernel_ ? *kernel_ : *hashing_; }
    const TargetMethod& vcpu_method() const { return kernel_ ? *kernel_ : *hashing_; }
    // With one_method: the one (its tracker is the whole measurement).
    TargetMethod& only_method() { return kernel_ ? *kernel_ : *hashing_; }

    // "auto", "bpf", "sample", "sample-exact".
    const std::string& method() const { return method_; }
    // What is measured, and why, a line each.
    const std::string& sources() const { return sources_; }
    const std::string& why() const { return why_; }
    // Where the logging state comes from, if not the kernel: why not ("" when it is).
    const std::string& state_note() const { return state_note_; }
    // The VM's state now.
    LoggingView read_logging() const;

private:
    TargetMeter() = default;
    Status open_methods(const TargetMeterOptions& options);
    Status open_one_method(const TargetMeterOptions& options);

    TargetProcess target_;
    MeasureMethod asked_ = MeasureMethod::automatic;
    std::unique_ptr<TargetMethod> kernel_, hashing_;
    std::optional<RateMeter> kernel_meter_, hashing_meter_;
    std::unique_ptr<KvmStateReader> state_;
    LoggingView last_logging_;  // at the end of the previous interval: the next one's start
    std::string method_, sources_, why_, state_note_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
