// KvmVcpu: one KVM vCPU (its fd and kvm_run page) running guest.S.
//
// The thread loop: KVM_RUN; at the guest's `out` (every exit_every writes)
// count, pace (rate limit, throttle) and park if a pause is pending; at
// KVM_EXIT_DIRTY_RING_FULL call the ring handler; on EINTR (a kick) look for
// a pause or stop. Any other exit ends the thread with failure() set.
#pragma once

#include <linux/kvm.h>

#include <memory>
#include <string>

#include "dtrack/error.hpp"
#include "dtvm/guest/guest_layout.hpp"
#include "dtvm/vm/kvm_cpuid.hpp"
#include "dtvm/vm/vcpu_runner.hpp"

namespace dtvm {

class KvmVcpu : public VcpuRunner {
public:
    // KVM_CREATE_VCPU, map kvm_run, KVM_SET_CPUID2, then the long-mode sregs and
    // the entry regs. `ram` is guest RAM as the VMM sees it.
    static dtrack::Result<std::unique_ptr<KvmVcpu>> create(int vm_fd, uint32_t id, VcpuRole role, size_t run_size,
                                                           const CpuidTable& cpuid, const GuestLayout& layout,
                                                           uint8_t* ram);
    ~KvmVcpu() override;  // joins the thread (ask RunControl to stop it first)

    int fd() const { return fd_; }
    void kick() override;

private:
    KvmVcpu(uint32_t id, VcpuRole role, int fd, kvm_run* run, size_t run_size, ParamPage params)
        : VcpuRunner(id, role, params), fd_(fd), run_(run), run_size_(run_size) {}

    void run() override;
    // Handles the exit in kvm_run; false when the thread must end.
    bool handle_exit(Pacer& pacer);
    // For a vCPU stopped between two exits: its count is in a register, and a
    // new epoch must go into its stamp register (guest_abi.hpp).
    bool sync_count_from_registers();
    bool load_stamp_into_register();
    std::string describe_exit() const;

    const int fd_;
    kvm_run* const run_;
    const size_t run_size_;
};

}  // namespace dtvm
