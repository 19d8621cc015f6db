// dtvm's virtual machine: guest RAM in memslots and vCPUs that run a
// stamp-writing workload, on one of two backends (backend.hpp): a real KVM VM
// running guest.S, or worker threads over this process's memory. Everything
// here works the same on both; what only KVM has is behind kvm() (kvm_vm.hpp).
//
// Set-up order matters to KVM, and the API follows it:
//   auto vm = Vm::create(options);        // VM fd + memslots, no vCPUs yet
//   ... enable the dirty ring on vm->kvm()->fd() here (it must precede vCPUs) ...
//   vm->create_vcpus();                   // vCPU fds exist from here on
//   vm->start(workload);                  // one thread per vCPU
//   vm->pause(); ... check ... vm->set_epoch(e + 1); vm->resume();
//   vm->stop();
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dtvm/vm/backend.hpp"
#include "dtrack/error.hpp"
#include "dtvm/guest/vcpu_role.hpp"
#include "dtvm/guest/workload.hpp"

namespace dtvm {

class KvmVm;

// Where a vCPU takes its own sleep share (Vm::set_vcpu_share, the dirty
// limit's actuator).
enum class ShareAt : uint8_t {
    slice,      // that share of every 10 ms slice, at the guest's exits (both backends)
    ring_full,  // at KVM_EXIT_DIRTY_RING_FULL, as QEMU's dirty limit (KVM ring tracking only)
};

struct VmOptions {
    uint64_t mem_bytes = 64ULL << 20;  // guest RAM, split over `slots` memslots
    uint32_t slots = 1;                // the last slot gets the odd remainder (not a multiple of 64 pages)
    uint32_t vcpus = 1;                // writers: each stamps its own part of the working set
    uint32_t readers = 0;        // reader vCPUs after the writers: they read the whole working set, write none of it
    bool dirty_logging = false;  // KVM_MEM_LOG_DIRTY_PAGES on every slot
    bool emulated = false;       // leave out the native-mode steps: the guest crawls under KVM's emulator
    Backend backend = Backend::kvm;
    ShareAt share_at = ShareAt::slice;
    std::vector<uint32_t> reader_cpus;  // host CPUs of the readers' own; the rest of dtvm elsewhere (reader_cpus.hpp)
};

// Checks what needs no device: memory size and alignment, vCPU and slot
// counts (writers and readers together), room for the system area in slot 0. Vm::create checks it again,
// with the KVM limits on top.
dtrack::Status check_vm_options(const VmOptions& options);
// Pages of working set a VM with these options has room for.
uint64_t workload_capacity(const VmOptions& options);

struct Slot {
    uint32_t id;     // memslot id (KVM's, or its place in the process backend)
    uint64_t gpa;    // guest-physical base
    uint64_t pages;  // 4 KiB pages
    uint8_t* host;   // where the VMM sees it
};

// What a vCPU thread knows; read any time (relaxed), exact while paused.
struct VcpuStats {
    uint64_t writes = 0;  // page writes the guest reported (ground truth); 0 for a reader
    uint64_t reads = 0;   // page reads a reader reported; 0 for a writer
    uint64_t io_exits = 0;
    uint64_t ring_full_exits = 0;
    uint64_t run_ns = 0;  // time inside KVM_RUN, or running the workload loop
};

class Vm {
public:
    static dtrack::Result<std::unique_ptr<Vm>> create(const VmOptions& options);
    ~Vm();  // stops the vCPUs, closes everything

    Backend backend() const;
    const std::vector<Slot>& slots() const;
    // Every vCPU: the writers (ids 0 to writer_count() - 1), then the readers.
    uint32_t vcpu_count() const;
    uint32_t writer_count() const;
    VcpuRole role(uint32_t vcpu) const;

    dtrack::Status create_vcpus();

    // The KVM backend's own calls (the VM fd, the vCPUs' fds, ring-full
    // exits, re-arming dirty logging); null on the process backend.
    KvmVm* kvm();
    const KvmVm* kvm() const;

    // Starts one thread per vCPU running `workload` (stamps with epoch 1).
    dtrack::Status start(const Workload& workload);
    // Returns once every vCPU is parked between two guest writes (at an exit).
    void pause();
    void resume();
    // Ends the vCPU threads (kicks them out of KVM_RUN if needed).
    void stop();
    // Makes each vCPU sleep `pct` percent of every 10 ms slice (0 = off, max 99).
    void set_throttle(int pct);
    // Makes one vCPU sleep `share` (0 to 0.99) of its time, where
    // VmOptions::share_at says; the dirty limit's actuator. The larger of
    // this and the throttle applies.
    void set_vcpu_share(uint32_t vcpu, double share);
    double vcpu_share(uint32_t vcpu) const;
    // The epoch the guest writes into its stamps; change it only while paused.
    void set_epoch(uint64_t epoch);
    uint64_t epoch() const;

    VcpuStats stats(uint32_t vcpu) const;
    // Each vCPU's thread id (index = vCPU), once started; empty before.
    std::vector<pid_t> vcpu_thread_ids() const;
    // The stamp in the first 8 bytes of a guest page: epoch << 8 | vcpu.
    uint64_t stamp(const Slot& slot, uint64_t page) const;
    // Guest pages the workload may write: [first, first + count) of the whole
    // guest, in guest-physical page numbers (the system pages come before).
    uint64_t workload_first_page() const;
    uint64_t workload_max_pages() const;
    // The error that ended a vCPU thread early (a failed ioctl, a guest
    // crash), or an empty string.
    std::string failure() const;

private:
    struct Impl;
    explicit Vm(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// True when KVM here is the PVM nested hypervisor, which needs the guest to
// register a virtual-interrupt-flag page before it runs natively.
bool host_is_pvm();

}  // namespace dtvm
