// KvmVm: what only a Vm on the KVM backend has, for a caller that works with
// KVM itself (enables the dirty ring or log on the VM fd, maps each vCPU's
// ring, handles its full exits). Vm::kvm() hands it out, and is null on the
// process backend: a caller that needs KVM asks for it explicitly.
#pragma once

#include <cstdint>
#include <functional>

#include "dtrack/error.hpp"

namespace dtvm {

class KvmVm {
public:
    // The VM fd, for KVM_ENABLE_CAP and the dirty log ioctls.
    virtual int fd() const = 0;
    // A vCPU's fd (for its dirty ring), once Vm::create_vcpus() made it.
    virtual int vcpu_fd(uint32_t vcpu) const = 0;
    // Called on a vCPU thread at KVM_EXIT_DIRTY_RING_FULL, before KVM_RUN
    // again. An error stops the guest with it (the ring is still full:
    // running again would only exit full again).
    virtual void on_ring_full(std::function<dtrack::Status(uint32_t vcpu)> handler) = 0;
    // Write-protects all guest memory again for dirty tracking, by turning
    // KVM_MEM_LOG_DIRTY_PAGES off and on for every slot: the dirty ring's way
    // back after entries were lost (KvmRingOptions::rearm).
    virtual dtrack::Status rearm_dirty_logging() = 0;

protected:
    ~KvmVm() = default;  // owned by its Vm, never deleted through this
};

}  // namespace dtvm
