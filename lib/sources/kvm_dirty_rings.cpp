#include "sources/kvm_dirty_rings.hpp"

#include <linux/kvm.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/installed_docs.hpp"
#include "sources/kvm_ioctl.hpp"
#include "sources/signals_held.hpp"

namespace dtrack {

Result<std::unique_ptr<KvmDirtyRings>> KvmDirtyRings::enable(int vm_fd, uint32_t n, bool acq_rel) {
    // KVM wants a power of two of at least one page of entries (4096 / 16).
    if (n < 256 || (n & (n - 1)))
        return Error{EINVAL, "dirty ring size " + std::to_string(n) + " is not a power of two of at least 256",
                     "choose a power of two such as 4096 or 65536"};
    const uint64_t bytes = uint64_t(n) * sizeof(kvm_dirty_gfn);

    // ACQ_REL first: it is the variant with documented memory ordering.
    const uint32_t caps[] = {KVM_CAP_DIRTY_LOG_RING_ACQ_REL, KVM_CAP_DIRTY_LOG_RING};
    Error last{};
    for (uint32_t cap : caps) {
        if (cap == KVM_CAP_DIRTY_LOG_RING_ACQ_REL && !acq_rel) continue;
        const int max_bytes = ::ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);
        if (max_bytes < 0) return kvm::vm_fd_error(vm_fd, "KVM_CHECK_EXTENSION(dirty ring)", errno);
        if (max_bytes == 0) {
            last = Error{ENOTSUP, "the kernel has no KVM dirty ring (KVM_CAP_DIRTY_LOG_RING)",
                         "track with the dirty log instead (KvmLogSource), or use a kernel >= 5.11; see " +
                             installed_doc("kconfig-notes/kvm-dirty-ring.md")};
            continue;
        }
        if (bytes > uint64_t(max_bytes))
            return Error{EINVAL,
                         "dirty ring of " + std::to_string(n) + " entries exceeds the kernel's maximum of " +
                             std::to_string(max_bytes / sizeof(kvm_dirty_gfn)),
                         "choose at most " + std::to_string(max_bytes / sizeof(kvm_dirty_gfn)) + " entries"};
        kvm_enable_cap ec{};
        ec.cap = cap;
        ec.args[0] = bytes;
        if (::ioctl(vm_fd, KVM_ENABLE_CAP, &ec) < 0) {
            last =
                errno_error("KVM_ENABLE_CAP(dirty ring)", errno, "enable the ring before creating vCPUs, once per VM");
            continue;
        }
        return std::unique_ptr<KvmDirtyRings>(new KvmDirtyRings(vm_fd, n, cap == KVM_CAP_DIRTY_LOG_RING_ACQ_REL));
    }
    return last;
}

KvmDirtyRings::~KvmDirtyRings() {
    for (kvm_dirty_gfn* gfns : mapped_) ::munmap(gfns, size_t(entries_) * sizeof(kvm_dirty_gfn));
}

Result<DirtyRingMemory> KvmDirtyRings::map_vcpu(int vcpu_fd, uint32_t index) {
    const long page = ::sysconf(_SC_PAGESIZE);
    void* p = ::mmap(nullptr, size_t(entries_) * sizeof(kvm_dirty_gfn), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
                     KVM_DIRTY_LOG_PAGE_OFFSET * page);
    if (p == MAP_FAILED)
        return errno_error("mmap of the vCPU dirty ring", errno, "enable the ring before creating the vCPU");
    mapped_.push_back(static_cast<kvm_dirty_gfn*>(p));
    return DirtyRingMemory{.vcpu = index, .gfns = mapped_.back(), .entries = entries_};
}

Result<uint64_t> KvmDirtyRings::reset_ioctl() const {
    // Newer kernels (KVM's 2025 "bail from the dirty ring reset flow if a
    // signal is pending") check for a pending signal before each entry and
    // return what they reset so far; the entries walked just before the stop
    // (up to 64, coalesced into one mask) are cleared but their pages are not
    // write-protected again. So catchable signals wait until the call returns.
    const SignalsHeld held;
    const int reset = kvm::ioctl_retry(vm_fd_, KVM_RESET_DIRTY_RINGS, 0);
    if (reset < 0) return errno_error("KVM_RESET_DIRTY_RINGS", errno);
    return static_cast<uint64_t>(reset);
}

Result<RingResetResult> KvmDirtyRings::reset() {
    // A signal that cannot be held back (SIGSTOP, the freezer, ptrace) stops
    // the thread on its way out of the ioctl: a voluntary context switch. The
    // call itself does not sleep unless it waits for a memslot update, so a
    // switch across it means "maybe cut short", and the reader treats it as
    // one (a false alarm costs a re-arm, never a page).
    rusage before{}, after{};
    ::getrusage(RUSAGE_THREAD, &before);
    auto count = reset_ioctl();
    ::getrusage(RUSAGE_THREAD, &after);
    if (!count) return count.error();
    return RingResetResult{.count = count.value(), .stopped = after.ru_nvcsw != before.ru_nvcsw};
}

}  // namespace dtrack
