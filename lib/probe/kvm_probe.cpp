// KVM's two dirty tracking interfaces, tried on throwaway VMs: the per-vCPU
// dirty ring (and its acquire/release variant) and the per-slot dirty log
// with manual re-protection.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#include "common/linux_compat.h"
#include "probe/anon_mapping.hpp"
#include "probe/probes.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack::probe {
namespace {

constexpr FeatureText ring_text{
    feature_id::kvm_dirty_ring,
    "KVM dirty ring",
    "KvmRingSource: per-vCPU lists of dirtied pages; harvest cost follows pages written",
    "use Linux 5.11+ with KVM; without it dtrack uses the KVM dirty log",
    "kvm-dirty-ring.md",
};
constexpr FeatureText acq_rel_text{
    feature_id::kvm_dirty_ring_acq_rel,
    "KVM dirty ring, acquire/release",
    "the dirty ring on weakly ordered CPUs (arm64 offers only this one)",
    "use Linux 6.1+; on x86 the plain dirty ring is equivalent",
    "kvm-dirty-ring.md",
};
constexpr FeatureText log_text{
    feature_id::kvm_dirty_log,
    "KVM dirty log, manual protect",
    "KvmLogSource: per-slot bitmaps; re-protect only what was sent",
    "use Linux 5.2+ with KVM (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)",
    "kvm-dirty-log.md",
};

constexpr int slot_pages = 16;  // the test memslot of the dirty log probe

// Why /dev/kvm did not open, and what to do.
Error kvm_open_error(int err) {
    if (err == ENOENT)
        return Error{err, errno_error("open /dev/kvm", err).what + ": KVM is not built or not loaded",
                     "load KVM (modprobe kvm_intel or kvm_amd) with virtualization enabled in "
                     "firmware, or build the kernel with CONFIG_KVM"};
    if (err == EACCES || err == EPERM)
        return Error{err, errno_error("open /dev/kvm", err).what,
                     "run as root or join the group that owns /dev/kvm (usually kvm)"};
    return Error{err, errno_error("open /dev/kvm", err).what, "check dmesg for KVM errors"};
}

Result<UniqueFd> open_kvm() {
    UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!kvm.valid()) return kvm_open_error(errno);
    return kvm;
}

Result<UniqueFd> create_vm(const UniqueFd& kvm) {
    UniqueFd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
    if (!vm.valid()) return Error{errno, errno_error("KVM_CREATE_VM", errno).what, {}};
    return vm;
}

Status enable_cap(const UniqueFd& vm, std::uint32_t cap, std::uint64_t arg, const char* cap_name) {
    kvm_enable_cap enable{};
    enable.cap = cap;
    enable.args[0] = arg;
    if (::ioctl(vm.get(), KVM_ENABLE_CAP, &enable) != 0)
        return Error{errno, errno_error(std::string("KVM_ENABLE_CAP(") + cap_name + ")", errno).what, {}};
    return Ok{};
}

std::string size_text(std::uint64_t bytes) {
    if (bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    if (bytes % (1 << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
    return std::to_string(bytes) + " bytes";
}

// Checks the ring capability, enables it at its maximum size and maps the
// ring of one vCPU: the steps a VMM takes, so "yes" means it really works.
Feature probe_ring(const UniqueFd& kvm, const FeatureText& text, std::uint32_t cap, const char* cap_name) {
    auto vm = create_vm(kvm);
    if (!vm) return unavailable(text, vm.error().what);

    int max_bytes = ::ioctl(vm->get(), KVM_CHECK_EXTENSION, cap);
    if (max_bytes < 0)
        return unavailable(text, errno_error(std::string("KVM_CHECK_EXTENSION(") + cap_name + ")", errno).what);
    if (max_bytes == 0)
        return unavailable(text, std::string("KVM_CHECK_EXTENSION(") + cap_name + ") is 0: this KVM does not offer it");

    // The VM has no vCPU yet, as enabling the ring requires.
    auto enabled = enable_cap(*vm, cap, static_cast<std::uint64_t>(max_bytes), cap_name);
    if (!enabled) return unavailable(text, "offered, but " + enabled.error().what);

    UniqueFd vcpu(::ioctl(vm->get(), KVM_CREATE_VCPU, 0));
    if (!vcpu.valid()) return unavailable(text, "enabled, but " + errno_error("KVM_CREATE_VCPU", errno).what);
    void* ring = ::mmap(nullptr, static_cast<std::size_t>(max_bytes), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.get(),
                        KVM_DIRTY_LOG_PAGE_OFFSET * static_cast<off_t>(AnonMapping::page_size()));
    if (ring == MAP_FAILED)
        return unavailable(text, "enabled, but mapping the vCPU ring " + errno_error("mmap", errno).what);
    ::munmap(ring, static_cast<std::size_t>(max_bytes));

    std::uint64_t entries = static_cast<std::uint64_t>(max_bytes) / sizeof(kvm_dirty_gfn);
    std::string detail = "max " + std::to_string(entries) + " entries (" + size_text(max_bytes) +
                         " per vCPU); enabled and mapped on a test vCPU";
    if (cap == KVM_CAP_DIRTY_LOG_RING) {
        // Only arm64 needs the bitmap companion (writes made outside a vCPU).
        bool with_bitmap = ::ioctl(vm->get(), KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP) > 0;
        detail += with_bitmap ? "; WITH_BITMAP offered" : "; no WITH_BITMAP";
    }
    return available(text, detail);
}

// Runs one dirty log round on a 16-page slot: GET (with INITIALLY_SET all
// pages start dirty), CLEAR, GET again (now clean).
Feature probe_dirty_log(const UniqueFd& kvm) {
    auto vm = create_vm(kvm);
    if (!vm) return unavailable(log_text, vm.error().what);

    int flags = ::ioctl(vm->get(), KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    if (flags <= 0)
        return unavailable(log_text,
                           "KVM_CHECK_EXTENSION(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) is 0: "
                           "this KVM cannot defer re-protection");
    auto enabled = enable_cap(*vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, static_cast<std::uint64_t>(flags),
                              "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2");
    if (!enabled) return unavailable(log_text, "offered, but " + enabled.error().what);

    AnonMapping memory(slot_pages);
    if (!memory.valid()) return unavailable(log_text, errno_error("mmap of the test slot", errno).what);
    kvm_userspace_memory_region region{};
    region.slot = 0;
    region.flags = KVM_MEM_LOG_DIRTY_PAGES;
    region.guest_phys_addr = 0;
    region.memory_size = memory.size();
    region.userspace_addr = memory.address();
    if (::ioctl(vm->get(), KVM_SET_USER_MEMORY_REGION, &region) != 0)
        return unavailable(log_text,
                           errno_error("KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES", errno).what);

    std::uint64_t bitmap = 0;  // one bit per page; 16 pages fit one word
    auto get_log = [&]() -> bool {
        kvm_dirty_log log{};
        log.slot = 0;
        log.dirty_bitmap = &bitmap;
        return ::ioctl(vm->get(), KVM_GET_DIRTY_LOG, &log) == 0;
    };
    if (!get_log()) return unavailable(log_text, errno_error("KVM_GET_DIRTY_LOG", errno).what);
    std::uint64_t all_pages = (1ULL << slot_pages) - 1;
    bool initially_set = (flags & KVM_DIRTY_LOG_INITIALLY_SET) != 0;
    if (initially_set && bitmap != all_pages)
        return unavailable(log_text, "KVM_DIRTY_LOG_INITIALLY_SET is offered, but a new slot is not all dirty");

    kvm_clear_dirty_log clear{};
    clear.slot = 0;
    clear.first_page = 0;
    clear.num_pages = slot_pages;
    std::uint64_t to_clear = all_pages;
    clear.dirty_bitmap = &to_clear;
    if (::ioctl(vm->get(), KVM_CLEAR_DIRTY_LOG, &clear) != 0)
        return unavailable(log_text, errno_error("KVM_CLEAR_DIRTY_LOG", errno).what);
    if (!get_log()) return unavailable(log_text, errno_error("KVM_GET_DIRTY_LOG after a clear", errno).what);
    if (bitmap != 0) return unavailable(log_text, "KVM_CLEAR_DIRTY_LOG left pages dirty");

    std::string names = (flags & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) ? "MANUAL_PROTECT_ENABLE" : "";
    if (initially_set) names += names.empty() ? "INITIALLY_SET" : "|INITIALLY_SET";
    return available(
        log_text, "flags " + std::to_string(flags) + " (" + names + "); GET and CLEAR_DIRTY_LOG work on a test slot");
}

}  // namespace

std::vector<Feature> probe_kvm() {
    auto kvm = open_kvm();
    if (!kvm) {
        std::vector<Feature> missing;
        for (const FeatureText* text : {&ring_text, &acq_rel_text, &log_text}) {
            Feature f = unavailable(*text, kvm.error().what);
            f.fix = kvm.error().fix;
            missing.push_back(std::move(f));
        }
        return missing;
    }
    return {
        probe_ring(*kvm, ring_text, KVM_CAP_DIRTY_LOG_RING, "KVM_CAP_DIRTY_LOG_RING"),
        probe_ring(*kvm, acq_rel_text, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, "KVM_CAP_DIRTY_LOG_RING_ACQ_REL"),
        probe_dirty_log(*kvm),
    };
}

}  // namespace dtrack::probe
