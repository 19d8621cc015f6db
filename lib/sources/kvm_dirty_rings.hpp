// KvmDirtyRings: the kernel's side of a real VM's dirty rings, the ioctls and
// mappings only: KVM_ENABLE_CAP, the ring each vCPU fd maps at page
// KVM_DIRTY_LOG_PAGE_OFFSET, and KVM_RESET_DIRTY_RINGS with the caller's
// catchable signals held back.
//
// Why apart from the protocol: DirtyRingReader reads the rings through
// DirtyRingKernel, so the same reader runs over this and over the model in
// tests/ring_model.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dtrack/error.hpp"
#include "sources/dirty_ring_kernel.hpp"

namespace dtrack {

class KvmDirtyRings final : public DirtyRingKernel {
public:
    // Enables the dirty ring of `entries` per vCPU on `vm_fd` (ACQ_REL first
    // when `acq_rel`); must run before the first KVM_CREATE_VCPU.
    static Result<std::unique_ptr<KvmDirtyRings>> enable(int vm_fd, uint32_t entries, bool acq_rel);
    ~KvmDirtyRings() override;

    // Maps the ring of vCPU `index`; it stays mapped as long as this object.
    Result<DirtyRingMemory> map_vcpu(int vcpu_fd, uint32_t index);

    // KVM_RESET_DIRTY_RINGS. Newer kernels (6.18 here) stop the walk between
    // entries when the caller has a signal pending and still return success
    // with the count so far, leaving up to 64 pages just reset writable; so
    // the call runs with catchable signals held back. SIGSTOP still cuts it
    // short, and the result says when the thread was stopped during the call:
    // DirtyRingReader then finishes the reset and handles it as a jam.
    Result<RingResetResult> reset() override;

    uint32_t entries() const { return entries_; }
    bool acq_rel() const { return acq_rel_; }

private:
    KvmDirtyRings(int vm_fd, uint32_t entries, bool acq_rel) : vm_fd_(vm_fd), entries_(entries), acq_rel_(acq_rel) {}
    Result<uint64_t> reset_ioctl() const;  // the count

    int vm_fd_;
    uint32_t entries_;
    bool acq_rel_;
    std::vector<kvm_dirty_gfn*> mapped_;
};

}  // namespace dtrack
