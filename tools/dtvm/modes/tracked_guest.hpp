// How every mode that runs a guest starts it, tracked, and describes it.
#pragma once

#include <memory>
#include <string>

#include "dtvm/guest/workload.hpp"
#include "dtvm/tracking/tracking.hpp"
#include "dtvm/vm/vm.hpp"

namespace dtvm {

// Creates the tracked VM and starts the workload; prints why on failure
// (shared with the migration source).
std::unique_ptr<Tracking> start_tracked_guest(const VmOptions& vm, const TrackingOptions& tracking,
                                              const Workload& workload, int& exit_code);

// "KVM, native, PVM host" / "process backend: worker threads".
std::string vcpu_description(const VmOptions& vm);
// "2 vCPUs", or with --readers "2 vCPUs + 2 readers".
std::string vcpu_count_description(const VmOptions& vm);
// "KVM dirty ring, 4096 entries, acq_rel" / "KVM dirty log, manual protect".
std::string tracking_description(Tracking& tracking, const TrackingOptions& options);

}  // namespace dtvm
