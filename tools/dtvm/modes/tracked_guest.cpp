#include "dtvm/modes/tracked_guest.hpp"

#include <cstdio>

#include "dtvm/options/exit_codes.hpp"

namespace dtvm {

std::unique_ptr<Tracking> start_tracked_guest(const VmOptions& vm, const TrackingOptions& tracking_options,
                                              const Workload& workload, int& exit_code) {
    auto tracking = Tracking::create(vm, tracking_options);
    if (!tracking) {
        std::fprintf(stderr, "dtvm: %s\n", tracking.error().message().c_str());
        exit_code = exit_bad_input;
        return nullptr;
    }
    if (dtrack::Status s = tracking.value()->start(workload); !s) {
        std::fprintf(stderr, "dtvm: %s\n", s.error().message().c_str());
        exit_code = exit_bad_input;
        return nullptr;
    }
    return std::move(tracking.value());
}

std::string vcpu_description(const VmOptions& vm) {
    if (vm.backend == Backend::process) return "process backend: worker threads";
    return std::string("KVM, ") + (vm.emulated ? "emulated" : "native") + (host_is_pvm() ? ", PVM host" : "");
}

std::string vcpu_count_description(const VmOptions& vm) {
    const std::string writers = std::to_string(vm.vcpus) + " vCPUs";
    return vm.readers ? writers + " + " + std::to_string(vm.readers) + " readers" : writers;
}

std::string tracking_description(Tracking& tracking, const TrackingOptions& options) {
    if (!tracking.uffd().empty())
        return "userfaultfd WP_ASYNC + PAGEMAP_SCAN, " + std::to_string(tracking.uffd().size()) + " ranges";
    if (auto* ring = tracking.ring())
        return "KVM dirty ring, " + std::to_string(options.ring_entries) + " entries" +
               (ring->acq_rel() ? ", acq_rel" : "");
    return std::string("KVM dirty log") + (tracking.log()->manual_protect() ? ", manual protect" : "");
}

}  // namespace dtvm
