// The CPUID table a vCPU gets: everything KVM supports here
// (KVM_GET_SUPPORTED_CPUID), handed to each vCPU with KVM_SET_CPUID2 before
// KVM_SET_SREGS (without it KVM refuses EFER.LME: no long mode).
//
// Not through <linux/kvm.h>'s struct kvm_cpuid2: Linux 6.1's uapi declares
// its `entries` with __DECLARE_FLEX_ARRAY, which in C++ puts a 1-byte empty
// struct first, so in C++ sizeof is 12, `entries` sits at offset 12, and the
// two ioctl numbers encode size 12. The kernel's ABI is 8 (KVM rejects the
// C++ numbers with EINVAL). So this file spells the ABI out itself.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "dtrack/error.hpp"

namespace dtvm {

class CpuidTable {
public:
    static dtrack::Result<CpuidTable> supported(int kvm_fd);
    dtrack::Status set_on(int vcpu_fd) const;
    uint32_t size() const;

private:
    std::vector<uint64_t> buffer_;  // the 8-byte header {nent, padding}, then the entries
};

}  // namespace dtvm
