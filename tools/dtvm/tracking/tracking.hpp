// How dtvm tracks its guest with libdtrack's public API: this file is the
// embedding example for VMM authors.
//
// KVM's ordering rules decide the sequence: regions first (the sources map
// memslots to them), the dirty ring before any vCPU exists, each vCPU's ring
// mapped after it exists. On the process backend each slot is a host range
// that a UffdSource write-protects before the vCPU threads start.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dtrack/kvm_log_source.hpp"
#include "dtrack/kvm_ring_source.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/thread_write_faults.hpp"
#include "dtrack/uffd_source.hpp"
#include "dtrack/thread_write_fault_source.hpp"
#include "dtvm/vm/vm.hpp"

namespace dtvm {

enum class TrackMode : uint8_t {
    ring,  // KVM dirty ring, per vCPU (KVM backend)
    log,   // KVM dirty log, per slot (KVM backend)
    uffd,  // userfaultfd WP_ASYNC + PAGEMAP_SCAN, per slot (process backend)
};

// "ring" | "log" | "uffd" | "auto" (the best the backend has: ring on KVM, uffd on the process backend).
dtrack::Result<TrackMode> parse_track_mode(const std::string& name, Backend backend);
std::string track_mode_name(TrackMode mode);
// The mode `auto` picks on a backend.
TrackMode best_track_mode(Backend backend);

struct TrackingOptions {
    TrackMode mode = TrackMode::ring;
    uint32_t ring_entries = 4096;
    bool reaper = true;  // ring mode: harvest while the vCPUs run
    // ring mode: what a full exit empties (own_ring where vCPUs sleep at full exits)
    dtrack::FullExitReap full_exit_reap = dtrack::FullExitReap::every_ring;
    bool manual_protect = true;               // log mode: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 when the kernel has it
    std::function<void()> before_ring_reset;  // ring mode, for tests: KvmRingOptions::before_reset
    // uffd mode: per-vCPU counts from the kernel, each vCPU thread's write
    // faults (ThreadWriteFaults, a BPF program on this process), as the
    // ring gives them on KVM. The dirty limit needs them.
    bool thread_write_faults = false;
};

class Tracking {
public:
    // Creates the VM and its vCPUs with tracking wired in.
    static dtrack::Result<std::unique_ptr<Tracking>> create(const VmOptions& vm, const TrackingOptions& options);
    ~Tracking();

    // Starts the guest's vCPUs and tells the per-vCPU source their threads.
    dtrack::Status start(const Workload& workload);

    Vm& vm() { return *vm_; }
    dtrack::Tracker& tracker() { return tracker_; }
    TrackMode mode() const { return options_.mode; }
    // The ring source in ring mode, else nullptr.
    dtrack::KvmRingSource* ring() { return ring_; }
    dtrack::KvmLogSource* log() { return log_; }
    // The uffd sources in uffd mode, one per slot, else empty.
    const std::vector<dtrack::UffdSource*>& uffd() const { return uffd_; }
    // uffd mode with thread_write_faults: the per-vCPU source, else nullptr.
    dtrack::ThreadWriteFaultSource* thread_write_fault_source() { return thread_write_fault_source_; }

private:
    Tracking() = default;
    // Tracking::create's steps, in KVM's order: regions, then the sources
    // (the dirty ring before any vCPU exists), then each vCPU's ring.
    dtrack::Status add_regions();
    dtrack::Status add_uffd_sources();
    dtrack::Status add_kvm_source(KvmVm& kvm);
    dtrack::Status add_ring_vcpus(KvmVm& kvm);
    TrackingOptions options_;
    std::unique_ptr<dtrack::ThreadWriteFaults> faults_;  // declared first: the tracker's source reads it
    std::unique_ptr<Vm> vm_;
    dtrack::KvmRingSource* ring_ = nullptr;  // owned by tracker_
    dtrack::KvmLogSource* log_ = nullptr;    // owned by tracker_
    std::vector<dtrack::UffdSource*> uffd_;  // owned by tracker_
    dtrack::Tracker tracker_;
    dtrack::ThreadWriteFaultSource* thread_write_fault_source_ = nullptr;  // owned by tracker_
};

}  // namespace dtvm
