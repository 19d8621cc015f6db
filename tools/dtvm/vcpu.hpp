// Vcpu: one KVM vCPU (its fd and kvm_run page) and the thread that runs it.
//
// The thread loop: KVM_RUN; at the guest's `out` (every exit_every writes)
// count, pace (rate limit, throttle) and park if a pause is pending; at
// KVM_EXIT_DIRTY_RING_FULL call the ring handler; on EINTR (a kick) look for
// a pause or stop. Any other exit ends the thread with failure() set.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dtrack/error.hpp"
#include "guest_layout.hpp"
#include "kvm_cpuid.hpp"
#include "pacer.hpp"
#include "param_page.hpp"
#include "run_control.hpp"
#include "vm.hpp"

namespace dtvm {

// What the vCPU threads share with their Vm; outlives them.
struct VcpuShared {
    RunControl* control = nullptr;
    const std::atomic<int>* throttle_pct = nullptr;
    const std::function<void(uint32_t)>* on_ring_full = nullptr;
    uint64_t rate_per_vcpu = 0;  // 0 = unlimited
};

class Vcpu {
public:
    // KVM_CREATE_VCPU, map kvm_run, KVM_SET_CPUID2, then the long-mode sregs and
    // the entry regs. `ram` is guest RAM as the VMM sees it.
    static dtrack::Result<std::unique_ptr<Vcpu>> create(int vm_fd, uint32_t id, size_t run_size,
                                                         const CpuidTable& cpuid, const GuestLayout& layout,
                                                         uint8_t* ram);
    ~Vcpu();  // joins the thread (ask RunControl to stop it first)
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;

    uint32_t id() const { return id_; }
    int fd() const { return fd_; }
    const ParamPage& params() const { return params_; }

    void start(const VcpuShared& shared);
    // Gets the thread out of KVM_RUN if it is in there (harmless otherwise).
    void kick();
    void join();

    VcpuStats stats() const;
    std::string failure() const;

private:
    Vcpu(uint32_t id, int fd, kvm_run* run, size_t run_size, ParamPage params)
        : id_(id), fd_(fd), run_(run), run_size_(run_size), params_(params) {}

    void thread_main();
    // Handles the exit in kvm_run; false when the thread must end.
    bool handle_exit(Pacer& pacer);
    // For a vCPU stopped between two exits: its count is in a register, and a
    // new epoch must go into its stamp register (guest_abi.hpp).
    bool sync_writes_from_registers();
    bool load_stamp_into_register();
    void fail(std::string why);
    std::string describe_exit() const;

    const uint32_t id_;
    const int fd_;
    kvm_run* const run_;
    const size_t run_size_;
    const ParamPage params_;

    VcpuShared shared_;
    std::thread thread_;
    std::atomic<bool> running_{false};

    std::atomic<uint64_t> writes_{0};  // as of the last exit or park
    std::atomic<uint64_t> io_exits_{0};
    std::atomic<uint64_t> ring_full_exits_{0};
    std::atomic<uint64_t> run_ns_{0};

    mutable std::mutex failure_mutex_;
    std::string failure_;
};

}  // namespace dtvm
