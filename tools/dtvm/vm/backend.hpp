// Which machinery runs dtvm's vCPUs.
//
//   kvm      a real KVM VM running guest.S (needs a working /dev/kvm)
//   process  worker threads run the same workload over this process's own
//            memory, tracked by userfaultfd WP_ASYNC + PAGEMAP_SCAN: what a
//            machine without KVM (a cloud VM without nested virtualization,
//            a container, a CI runner) can run
//   auto     kvm where /dev/kvm works, else process, with the reason
#pragma once

#include <cstdint>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtvm {

enum class Backend : uint8_t { kvm, process };

struct BackendChoice {
    Backend backend;
    std::string why;  // for auto, why this backend ("/dev/kvm works"); else empty
};

// "kvm" | "process" | "auto"; auto opens /dev/kvm to decide.
dtrack::Result<BackendChoice> choose_backend(const std::string& name);
std::string backend_name(Backend backend);

// /dev/kvm, checked to speak KVM API 12; the error names why not and the fix.
dtrack::Result<dtrack::UniqueFd> open_kvm();
// Whether /dev/kvm opens and speaks KVM API 12; the error names why not.
dtrack::Status kvm_usable();

}  // namespace dtvm
