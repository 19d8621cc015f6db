// DirtyRingKernel: what the ring protocol needs from the kernel's side of
// KVM's dirty rings, and nothing more.
//
// Why: DirtyRingReader (the protocol: read, flag, reset, publish, detect jams)
// runs over plain memory behind this interface, so it can be tested against a
// model of the kernel's producer side where there is no /dev/kvm
// (tests/ring_model). KvmDirtyRings is the real one: the ring each vCPU fd
// maps and KVM_RESET_DIRTY_RINGS.
#pragma once

#include <cstdint>

#include "dtrack/error.hpp"

struct kvm_dirty_gfn;

namespace dtrack {

// The ring of one vCPU: `entries` kvm_dirty_gfn, shared with the kernel.
struct DirtyRingMemory {
    uint32_t vcpu = 0;  // KVM vcpu id
    kvm_dirty_gfn* gfns = nullptr;
    uint32_t entries = 0;  // a power of two
};

// What one KVM_RESET_DIRTY_RINGS call did.
struct RingResetResult {
    uint64_t count = 0;  // entries the kernel reported reset
    // The calling thread was stopped during the call (SIGSTOP, the cgroup
    // freezer, ptrace: the signals that cannot be held back). Linux 6.18
    // bails out of a reset on such a signal before each entry, also right
    // after the last flagged one: then the count is whole and no entry is
    // left flagged, yet the pages gathered last (up to 64) were not
    // write-protected again. Only this flag can tell.
    bool stopped = false;
};

class DirtyRingKernel {
public:
    virtual ~DirtyRingKernel() = default;

    // KVM_RESET_DIRTY_RINGS: walks every ring from where its last reset
    // stopped while the entries are flagged RESET, clears them and
    // write-protects their pages again. It may stop early, see KvmDirtyRings.
    virtual Result<RingResetResult> reset() = 0;
};

}  // namespace dtrack
