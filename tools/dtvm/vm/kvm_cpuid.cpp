#include "dtvm/vm/kvm_cpuid.hpp"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace dtvm {
namespace {

struct CpuidHeader {  // struct kvm_cpuid2 as the kernel lays it out
    uint32_t nent;
    uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8);
static_assert(sizeof(kvm_cpuid_entry2) == 40);

constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
static_assert(kGetSupportedCpuid == 0xc008ae05UL && kSetCpuid2 == 0x4008ae90UL);

constexpr uint32_t kMaxEntries = 4096;

}  // namespace

dtrack::Result<CpuidTable> CpuidTable::supported(int kvm_fd) {
    // Grow the buffer until the kernel's list fits (E2BIG until then).
    for (uint32_t n = 64;; n *= 2) {
        CpuidTable table;
        table.buffer_.resize((sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2) + 7) / 8);
        auto* header = reinterpret_cast<CpuidHeader*>(table.buffer_.data());
        header->nent = n;
        if (::ioctl(kvm_fd, kGetSupportedCpuid, header) == 0) return table;
        if (errno != E2BIG || n >= kMaxEntries) return dtrack::errno_error("KVM_GET_SUPPORTED_CPUID", errno);
    }
}

dtrack::Status CpuidTable::set_on(int vcpu_fd) const {
    if (::ioctl(vcpu_fd, kSetCpuid2, buffer_.data()) < 0) return dtrack::errno_error("KVM_SET_CPUID2", errno);
    return dtrack::Ok{};
}

uint32_t CpuidTable::size() const { return reinterpret_cast<const CpuidHeader*>(buffer_.data())->nent; }

}  // namespace dtvm
