// dtvm's default mode: run the workload and, every interval, check with the
// write-stamp oracle that every written page was reported.
#pragma once

#include "dtvm/options/options.hpp"

namespace dtvm {

int run_check_loop(const Options& options);

// Creates the tracked VM and starts the workload; prints why on failure
// (shared with the migration source).
std::unique_ptr<Tracking> start_tracked_guest(const Options& options, int& exit_code);

// "KVM, native, PVM host" / "process backend: worker threads".
std::string vcpu_description(const Options& options);
// "2 vCPUs", or with --readers "2 vCPUs + 2 readers".
std::string vcpu_count_description(const Options& options);
// "KVM dirty ring, 4096 entries, acq_rel" / "KVM dirty log, manual protect".
std::string tracking_description(Tracking& tracking, const Options& options);

}  // namespace dtvm
