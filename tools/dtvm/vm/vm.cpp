// Vm: guest RAM and its memslots, the vCPUs, and pause/resume/stop; on the
// KVM backend also the VM fd. The pieces live next door (vm/) and in guest/:
//   backend.cpp                      which backend, and opening /dev/kvm
//   guest/guest.S, guest_abi.hpp     the guest program and its parameter page
//   guest/guest_image.cpp            the guest's bytes as linked into dtvm
//   guest/guest_layout.hpp           what is where in guest-physical memory
//   long_mode.cpp                    GDT, page tables, registers for 64-bit mode
//   guest_memory.cpp                 guest RAM and its memslots
//   kvm_cpuid.cpp                    the vCPUs' CPUID table
//   guest/workload_params.cpp        a Workload as the guest reads it
//   guest/vcpu_role.hpp              writers, and readers after them
//   vcpu_runner.cpp                  a vCPU thread: exits, pacing, parking
//   kvm_vcpu.cpp                     a KVM vCPU and its KVM_RUN loop
//   process_vcpu.cpp                 a process-backend vCPU: the workload as a C++ loop
//   guest/workload_cursor.hpp        which page comes next (guest.S's choice, in C++)
//   pacer.cpp                        rate limit and throttle
//   run_control.cpp                  parking the vCPU threads
//   vcpu_kick.cpp                    getting a vCPU out of KVM_RUN
#include "dtvm/vm/vm.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <span>
#include <utility>

#include "dtvm/guest/guest_abi.hpp"
#include "dtvm/guest/guest_image.hpp"
#include "dtvm/guest/guest_layout.hpp"
#include "dtvm/vm/guest_memory.hpp"
#include "dtvm/vm/kvm_vm.hpp"
#include "dtvm/vm/kvm_cpuid.hpp"
#include "dtvm/vm/long_mode.hpp"
#include "dtvm/vm/reader_cpus.hpp"
#include "dtvm/vm/run_control.hpp"
#include "dtvm/vm/kvm_vcpu.hpp"
#include "dtvm/vm/process_vcpu.hpp"
#include "dtrack/unique_fd.hpp"
#include "dtvm/vm/vcpu_kick.hpp"
#include "dtvm/guest/workload_params.hpp"

namespace dtvm {
namespace {

constexpr uint32_t kMaxVcpus = 256;  // the vCPU id is the stamp's low byte

// Waits for the vCPUs to park by themselves first (they reach an exit every
// exit_every writes, or are asleep in the pacer), then kicks them.
constexpr std::chrono::milliseconds kParkGrace{2};
constexpr std::chrono::milliseconds kKickInterval{10};

using Fd = dtrack::UniqueFd;

// Writers and readers: each has a parameter page and a vCPU.
uint64_t all_vcpus(const VmOptions& o) { return uint64_t(o.vcpus) + o.readers; }

// The limits only KVM knows, on top of check_vm_options().
dtrack::Status check_kvm_limits(const VmOptions& o, int kvm_fd) {
    const int max_vcpus = ::ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus > 0 && all_vcpus(o) > static_cast<uint64_t>(max_vcpus))
        return dtrack::Error{0, "KVM here allows " + std::to_string(max_vcpus) + " vCPUs per VM", "use fewer vCPUs"};
    const int max_slots = ::ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
    if (max_slots > 0 && o.slots > static_cast<uint32_t>(max_slots))
        return dtrack::Error{
            0, "KVM here allows 1 to " + std::to_string(max_slots) + " memslots, not " + std::to_string(o.slots),
            "use fewer memslots"};
    return dtrack::Ok{};
}

}  // namespace

dtrack::Status check_vm_options(const VmOptions& o) {
    if (o.mem_bytes == 0 || o.mem_bytes % kPageSize != 0)
        return dtrack::Error{EINVAL, "guest memory must be a positive multiple of 4 KiB", "use e.g. --mem 256M"};
    if (o.mem_bytes > GuestLayout::kMaxPds * GuestLayout::kBytesPerPd)
        return dtrack::Error{
            EINVAL,
            "guest memory (--mem) of " + std::to_string(o.mem_bytes >> 30) + " GiB is more than the 512 GiB dtvm maps",
            "ask for at most 512G"};
    if (o.vcpus == 0 || o.vcpus > kMaxVcpus)
        return dtrack::Error{EINVAL, "dtvm runs 1 to 256 vCPUs, not " + std::to_string(o.vcpus), "use 1 to 255"};
    if (all_vcpus(o) > kMaxVcpus)
        return dtrack::Error{EINVAL,
                             std::to_string(o.vcpus) + " writers and " + std::to_string(o.readers) + " readers make " +
                                 std::to_string(all_vcpus(o)) + " vCPUs, more than the 256 dtvm runs",
                             "use fewer readers or writers"};
    if (o.slots == 0) return dtrack::Error{EINVAL, "a VM needs at least one memslot", "use e.g. --slots 3"};
    const GuestLayout layout = GuestLayout::compute(o.mem_bytes, uint32_t(all_vcpus(o)));
    const uint64_t slot0_pages = o.mem_bytes / kPageSize / o.slots;
    if (slot0_pages < layout.first_free_page())
        return dtrack::Error{EINVAL,
                             "slot 0 (" + std::to_string(slot0_pages) + " pages) cannot hold the guest's " +
                                 std::to_string(layout.first_free_page()) + " system pages",
                             "give the VM more memory or fewer memslots"};
    return dtrack::Ok{};
}

uint64_t workload_capacity(const VmOptions& o) {
    const uint64_t first = GuestLayout::compute(o.mem_bytes, uint32_t(all_vcpus(o))).first_free_page();
    const uint64_t pages = o.mem_bytes / kPageSize;
    return pages > first ? pages - first : 0;
}

bool host_is_pvm() {
    struct stat st;
    return ::stat("/sys/module/kvm_pvm", &st) == 0;
}

// The KVM-only calls are the Impl's own, handed out by Vm::kvm().
struct Vm::Impl final : KvmVm {
    VmOptions options;
    Fd kvm;  // KVM backend only, like vm
    Fd vm;
    GuestMemory memory;
    GuestLayout layout;
    std::vector<Slot> slots;
    size_t run_size = 0;

    std::function<dtrack::Status(uint32_t)> on_ring_full_handler;
    std::atomic<int> throttle_pct{0};
    uint64_t epoch = 1;
    std::unique_ptr<RunControl> control;  // from start() on
    ReaderCpus reader_cpus;               // with options.reader_cpus, from start() on
    bool stopped = false;
    // Last: destroyed first, so vCPU threads end before what they use.
    std::vector<std::unique_ptr<VcpuRunner>> vcpus;

    Impl(const VmOptions& o, Fd k, Fd v, GuestMemory m)
        : options(o),
          kvm(std::move(k)),
          vm(std::move(v)),
          memory(std::move(m)),
          layout(GuestLayout::compute(o.mem_bytes, uint32_t(all_vcpus(o)))) {}

    int fd() const override { return vm.get(); }
    int vcpu_fd(uint32_t vcpu) const override;
    void on_ring_full(std::function<dtrack::Status(uint32_t vcpu)> handler) override {
        on_ring_full_handler = std::move(handler);
    }
    dtrack::Status rearm_dirty_logging() override;
};

dtrack::Result<std::unique_ptr<Vm>> Vm::create(const VmOptions& options) {
    if (dtrack::Status s = check_guest_abi(); !s) return s.error();
    if (dtrack::Status s = check_vm_options(options); !s) return s.error();
    if (options.backend == Backend::process) {
        // No VM to create: guest RAM is this process's memory, the vCPUs are threads.
        auto memory = GuestMemory::map(options.mem_bytes);
        if (!memory) return memory.error();
        auto impl = std::make_unique<Impl>(options, Fd(), Fd(), std::move(*memory));
        impl->slots = split_into_slots(impl->memory, options.slots);
        return std::unique_ptr<Vm>(new Vm(std::move(impl)));
    }

    auto kvm = open_kvm();
    if (!kvm) return kvm.error();
    if (dtrack::Status s = check_kvm_limits(options, kvm->get()); !s) return s.error();

    int vm_fd;
    do vm_fd = ::ioctl(kvm->get(), KVM_CREATE_VM, 0);  // a signal can interrupt it
    while (vm_fd < 0 && errno == EINTR);
    if (vm_fd < 0)
        return dtrack::errno_error("KVM_CREATE_VM", errno,
                                   errno == EACCES || errno == EPERM ? "run as root or join group kvm"
                                                                     : "see dmesg for why KVM refused a new VM");
    Fd vm(vm_fd);

    auto memory = GuestMemory::map(options.mem_bytes);
    if (!memory) return memory.error();
    auto impl = std::make_unique<Impl>(options, std::move(*kvm), std::move(vm), std::move(*memory));

    // The system area: what the guest needs before its first instruction.
    uint8_t* ram = impl->memory.host();
    write_gdt(ram);
    write_identity_page_tables(ram, impl->layout);
    const std::span<const uint8_t> code = guest_code();
    std::memcpy(ram + GuestLayout::kCodeGpa, code.data(), code.size());

    impl->slots = split_into_slots(impl->memory, options.slots);
    if (dtrack::Status s = register_slots(impl->vm.get(), impl->slots, options.dirty_logging); !s) return s.error();

    const int run_size = ::ioctl(impl->kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) return dtrack::errno_error("KVM_GET_VCPU_MMAP_SIZE", errno);
    impl->run_size = static_cast<size_t>(run_size);
    return std::unique_ptr<Vm>(new Vm(std::move(impl)));
}

Vm::Vm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Vm::~Vm() { stop(); }

Backend Vm::backend() const { return impl_->options.backend; }
KvmVm* Vm::kvm() { return backend() == Backend::kvm ? impl_.get() : nullptr; }
const KvmVm* Vm::kvm() const { return backend() == Backend::kvm ? impl_.get() : nullptr; }
const std::vector<Slot>& Vm::slots() const { return impl_->slots; }
uint32_t Vm::vcpu_count() const { return uint32_t(all_vcpus(impl_->options)); }
uint32_t Vm::writer_count() const { return impl_->options.vcpus; }
VcpuRole Vm::role(uint32_t vcpu) const { return role_of(vcpu, writer_count()); }

dtrack::Status Vm::create_vcpus() {
    Impl& m = *impl_;
    if (!m.vcpus.empty()) return dtrack::Error{0, "create_vcpus() was already called", ""};
    if (m.options.backend == Backend::process) {
        for (uint32_t id = 0; id < vcpu_count(); ++id)
            m.vcpus.push_back(std::make_unique<ProcessVcpu>(id, role(id), m.layout, m.memory.host()));
        return dtrack::Ok{};
    }
    auto cpuid = CpuidTable::supported(m.kvm.get());
    if (!cpuid) return cpuid.error();
    for (uint32_t id = 0; id < vcpu_count(); ++id) {
        auto vcpu = KvmVcpu::create(m.vm.get(), id, role(id), m.run_size, *cpuid, m.layout, m.memory.host());
        if (!vcpu) {
            m.vcpus.clear();
            return vcpu.error();
        }
        m.vcpus.push_back(std::move(*vcpu));
    }
    return dtrack::Ok{};
}

int Vm::Impl::vcpu_fd(uint32_t vcpu) const {
    auto* kvm_vcpu = dynamic_cast<const KvmVcpu*>(vcpus.at(vcpu).get());
    return kvm_vcpu ? kvm_vcpu->fd() : -1;
}

dtrack::Status Vm::start(const Workload& workload) {
    Impl& m = *impl_;
    if (m.vcpus.empty()) return dtrack::Error{0, "Vm::start before create_vcpus()", "call create_vcpus() first"};
    if (m.control) return dtrack::Error{0, "the VM was already started", "create a new Vm"};
    if (dtrack::Status s = check_workload(workload, writer_count(), workload_max_pages()); !s) return s.error();

    // docs/ARCHITECTURE.md §6: on a PVM host the guest runs natively only after it has
    // registered a VIF page; leaving that out is how `emulated` gets a guest
    // that crawls under KVM's instruction emulator. Elsewhere (VMX/SVM) the
    // guest is native without it.
    GuestSetup setup;
    setup.register_vif = host_is_pvm() && !m.options.emulated;
    setup.epoch = m.epoch = 1;
    setup.writers = writer_count();
    for (auto& v : m.vcpus) write_params(v->params(), workload, m.layout, v->id(), workload_first_page(), setup);

    if (m.options.backend == Backend::kvm) install_kick_handler();
    m.control = std::make_unique<RunControl>(vcpu_count());
    VcpuShared shared;
    shared.control = m.control.get();
    shared.throttle_pct = &m.throttle_pct;
    shared.share_at = m.options.share_at;
    shared.on_ring_full = &m.on_ring_full_handler;
    shared.rate_per_vcpu = workload.rate_per_vcpu;
    if (!m.options.reader_cpus.empty()) {
        auto plan = plan_reader_cpus(m.options.reader_cpus);
        if (!plan) return plan.error();
        m.reader_cpus = *plan;
        if (dtrack::Status s = keep_rest_apart(m.reader_cpus); !s) return s;
        shared.reader_cpus = &m.reader_cpus;
    }
    for (auto& v : m.vcpus) v->start(shared);
    return dtrack::Ok{};
}

void Vm::pause() {
    Impl& m = *impl_;
    if (!m.control) return;
    m.control->request_pause();
    std::chrono::milliseconds wait = kParkGrace;
    while (!m.control->wait_parked(wait)) {
        // A guest that does not exit (exit_every 0, or one long emulated
        // run): take the vCPUs out of KVM_RUN. The guest only ever stores
        // whole 8-byte stamps, so wherever it stopped is consistent.
        for (auto& v : m.vcpus) v->kick();
        wait = kKickInterval;
    }
}

void Vm::resume() {
    if (impl_->control) impl_->control->resume();
}

void Vm::stop() {
    Impl& m = *impl_;
    if (!m.control || m.stopped) return;
    m.stopped = true;
    m.control->request_stop();
    for (auto& v : m.vcpus) v->kick();
    for (auto& v : m.vcpus) v->join();
}

dtrack::Status Vm::Impl::rearm_dirty_logging() {
    if (dtrack::Status s = register_slots(vm.get(), slots, false); !s) return s;
    return register_slots(vm.get(), slots, true);
}

void Vm::set_throttle(int pct) { impl_->throttle_pct.store(std::clamp(pct, 0, 99), std::memory_order_relaxed); }

void Vm::set_vcpu_share(uint32_t vcpu, double share) {
    impl_->vcpus.at(vcpu)->set_share(std::clamp(share, 0.0, Pacer::kMaxShare));
}

double Vm::vcpu_share(uint32_t vcpu) const { return impl_->vcpus.at(vcpu)->share(); }

void Vm::set_epoch(uint64_t epoch) {
    impl_->epoch = epoch;
    for (auto& v : impl_->vcpus) v->params().write(guest_abi::kParamEpoch, epoch);
}

uint64_t Vm::epoch() const { return impl_->epoch; }

VcpuStats Vm::stats(uint32_t vcpu) const { return impl_->vcpus.at(vcpu)->stats(); }

std::vector<pid_t> Vm::vcpu_thread_ids() const {
    std::vector<pid_t> tids;
    if (!impl_->control) return tids;
    for (const auto& v : impl_->vcpus) tids.push_back(v->thread_id());
    return tids;
}

uint64_t Vm::stamp(const Slot& slot, uint64_t page) const {
    if (page >= slot.pages) return 0;
    auto* word = reinterpret_cast<uint64_t*>(slot.host + (page << kPageShift));
    return std::atomic_ref<uint64_t>(*word).load(std::memory_order_relaxed);
}

uint64_t Vm::workload_first_page() const { return impl_->layout.first_free_page(); }

uint64_t Vm::workload_max_pages() const { return impl_->memory.pages() - workload_first_page(); }

std::string Vm::failure() const {
    std::string all;
    for (const auto& v : impl_->vcpus) {
        const std::string f = v->failure();
        if (f.empty()) continue;
        if (!all.empty()) all += "; ";
        all += f;
    }
    return all;
}

}  // namespace dtvm
