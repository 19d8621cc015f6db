#include "dtvm/vm/kvm_vcpu.hpp"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "dtvm/guest/guest_abi.hpp"
#include "dtvm/guest/guest_image.hpp"
#include "dtvm/vm/long_mode.hpp"
#include "dtvm/vm/vcpu_kick.hpp"

namespace dtvm {
namespace {

using Clock = std::chrono::steady_clock;

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

const char* exit_reason_name(uint32_t reason) {
    switch (reason) {
        case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
        case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
        case KVM_EXIT_IO: return "KVM_EXIT_IO";
        case KVM_EXIT_HYPERCALL: return "KVM_EXIT_HYPERCALL";
        case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
        case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
        case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
        case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
        case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
        case KVM_EXIT_INTR: return "KVM_EXIT_INTR";
        case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
        case KVM_EXIT_SYSTEM_EVENT: return "KVM_EXIT_SYSTEM_EVENT";
        case KVM_EXIT_X86_RDMSR: return "KVM_EXIT_X86_RDMSR";
        case KVM_EXIT_X86_WRMSR: return "KVM_EXIT_X86_WRMSR";
        case KVM_EXIT_DIRTY_RING_FULL: return "KVM_EXIT_DIRTY_RING_FULL";
        default: return "an unknown exit";
    }
}

}  // namespace

dtrack::Result<std::unique_ptr<KvmVcpu>> KvmVcpu::create(int vm_fd, uint32_t id, VcpuRole role, size_t run_size,
                                                         const CpuidTable& cpuid, const GuestLayout& layout,
                                                         uint8_t* ram) {
    const std::string which = " (vCPU " + std::to_string(id) + ")";
    const int fd = ::ioctl(vm_fd, KVM_CREATE_VCPU, static_cast<unsigned long>(id));
    if (fd < 0) return dtrack::errno_error("KVM_CREATE_VCPU" + which, errno, "use fewer vCPUs (KVM_CAP_MAX_VCPUS)");
    void* run = ::mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        return dtrack::errno_error("mmap of kvm_run" + which, err);
    }
    // From here the Vcpu owns fd and run; an early return cleans up.
    std::unique_ptr<KvmVcpu> vcpu(
        new KvmVcpu(id, role, fd, static_cast<kvm_run*>(run), run_size, ParamPage(ram + layout.param_gpa(id))));

    // CPUID first: without it KVM refuses EFER.LME in KVM_SET_SREGS.
    if (dtrack::Status s = cpuid.set_on(fd); !s)
        return dtrack::Error{s.error().errno_value, s.error().what + which, ""};
    kvm_sregs sregs{};
    if (::ioctl(fd, KVM_GET_SREGS, &sregs) < 0) return dtrack::errno_error("KVM_GET_SREGS" + which, errno);
    set_long_mode_sregs(sregs);
    if (::ioctl(fd, KVM_SET_SREGS, &sregs) < 0) return dtrack::errno_error("KVM_SET_SREGS" + which, errno);
    const kvm_regs regs = guest_entry_regs(layout, id);
    if (::ioctl(fd, KVM_SET_REGS, &regs) < 0) return dtrack::errno_error("KVM_SET_REGS" + which, errno);
    return vcpu;
}

KvmVcpu::~KvmVcpu() {
    join();
    ::munmap(run_, run_size_);
    ::close(fd_);
}

void KvmVcpu::kick() {
    if (running_.load()) dtvm::kick(native_handle(), run_);
}

bool KvmVcpu::sync_count_from_registers() {
    kvm_regs regs{};
    if (::ioctl(fd_, KVM_GET_REGS, &regs) < 0) {
        fail(dtrack::errno_error("KVM_GET_REGS", errno).what);
        return false;
    }
    accesses_.store(regs.*guest_abi::kRegWrites, std::memory_order_relaxed);
    return true;
}

bool KvmVcpu::load_stamp_into_register() {
    kvm_regs regs{};
    if (::ioctl(fd_, KVM_GET_REGS, &regs) < 0) {
        fail(dtrack::errno_error("KVM_GET_REGS", errno).what);
        return false;
    }
    const uint64_t stamp = params_.read(guest_abi::kParamEpoch) << 8 | id_;
    if (regs.*guest_abi::kRegStamp == stamp) return true;
    regs.*guest_abi::kRegStamp = stamp;
    if (::ioctl(fd_, KVM_SET_REGS, &regs) < 0) {
        fail(dtrack::errno_error("KVM_SET_REGS", errno).what);
        return false;
    }
    return true;
}

void KvmVcpu::run() {
    allow_kicks_on_this_thread();
    RunControl& control = *shared_.control;
    Pacer pacer = make_pacer();
    pacer.restart(Clock::now(), accesses_.load());
    // True when the last KVM_RUN ended at the guest's `out`: the guest has
    // just published its count and re-reads the epoch before its next write.
    // Otherwise (a kick, a ring-full exit) it stopped somewhere in its loop
    // with the count and stamp in registers.
    bool at_exit_port = true;

    for (;;) {
        if (control.attention()) {
            // Out of KVM_RUN, the guest is between two whole writes: a
            // consistent point to park at.
            if (!at_exit_port && !sync_count_from_registers()) break;
            const RunControl::Next next = control.checkpoint();
            if (next == RunControl::Next::stop) break;
            if (next == RunControl::Next::resumed) {
                if (!at_exit_port && !load_stamp_into_register()) break;  // the epoch may have changed
                resumed(pacer, accesses_.load());
            }
        }

        const Clock::time_point entered = Clock::now();
        const int r = ::ioctl(fd_, KVM_RUN, 0);
        run_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - entered).count(),
                          std::memory_order_relaxed);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {  // kicked: the loop top looks for the reason
                clear_kick(run_);
                at_exit_port = false;
                continue;
            }
            fail(dtrack::errno_error("KVM_RUN", errno).what);
            break;
        }
        at_exit_port = run_->exit_reason == KVM_EXIT_IO;
        if (!handle_exit(pacer)) break;
    }
}

bool KvmVcpu::handle_exit(Pacer& pacer) {
    switch (run_->exit_reason) {
        case KVM_EXIT_IO:
            if (run_->io.port != guest_abi::kExitPort || run_->io.direction != KVM_EXIT_IO_OUT) {
                fail("unexpected " + describe_exit());
                return false;
            }
            // The count (a reader's reads share the slot), published just before the `out`.
            exit_reached(pacer, params_.read(guest_abi::kParamWrites));
            return true;
        case KVM_EXIT_DIRTY_RING_FULL:
            // The ring is at size - 64 entries (docs/ARCHITECTURE.md §6); KVM_RUN will not
            // go on until it is harvested and reset.
            ring_full_exits_.fetch_add(1, std::memory_order_relaxed);
            if (!*shared_.on_ring_full) {
                fail("KVM_EXIT_DIRTY_RING_FULL and no Vm::on_ring_full handler to empty the ring");
                return false;
            }
            if (dtrack::Status emptied = (*shared_.on_ring_full)(id_); !emptied) {
                fail("emptying the full dirty ring failed: " + emptied.error().message());
                return false;
            }
            ring_full_reached(pacer);
            return true;
        default: fail("the guest stopped with " + describe_exit()); return false;
    }
}

std::string KvmVcpu::describe_exit() const {
    std::string s = exit_reason_name(run_->exit_reason);
    switch (run_->exit_reason) {
        case KVM_EXIT_IO:
            s += std::string(run_->io.direction == KVM_EXIT_IO_OUT ? " out" : " in") + " port " + hex(run_->io.port);
            break;
        case KVM_EXIT_MMIO: s += " at guest-physical " + hex(run_->mmio.phys_addr) + " (outside guest RAM)"; break;
        case KVM_EXIT_SHUTDOWN: s += " (a triple fault: the guest took an exception, and it has no IDT)"; break;
        case KVM_EXIT_FAIL_ENTRY:
            s += " (hardware entry failure reason " + hex(run_->fail_entry.hardware_entry_failure_reason) + ")";
            break;
        case KVM_EXIT_INTERNAL_ERROR: s += " (suberror " + std::to_string(run_->internal.suberror) + ")"; break;
        case KVM_EXIT_HLT: s += " (the guest loop never halts)"; break;
        default: s += " (exit reason " + std::to_string(run_->exit_reason) + ")"; break;
    }
    kvm_regs regs{};
    if (::ioctl(fd_, KVM_GET_REGS, &regs) == 0) {
        s += " at rip " + hex(regs.rip);
        if (regs.rip >= GuestLayout::kCodeGpa && regs.rip < GuestLayout::kCodeGpa + guest_code().size())
            s += " (guest.S offset " + hex(regs.rip - GuestLayout::kCodeGpa) + ")";
    }
    return s;
}

}  // namespace dtvm
