// Where things live in guest-physical memory.
//
// The "system area" at the start of slot 0 holds what the guest needs to run;
// the working set (the pages the workload stamps) starts right after it.
//
//   0x0000   unused
//   0x1000   GDT (TSS descriptor included); the TSS itself at 0x1800
//   0x2000   PML4
//   0x3000   PDPT
//   0x8000   guest code (guest.S), at most 32 KiB
//   0x10000  page directories, one per GiB of guest RAM (2 MiB pages)
//   then     per vCPU: parameter page, VIF page, stack pages
//   end      first page of the working set (workload_first_page)
//
// Guest virtual = guest physical (identity map), so the guest uses these
// addresses as they are.
#pragma once

#include <cstdint>

namespace dtvm {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kPageShift = 12;

struct GuestLayout {
    static constexpr uint64_t kGdtGpa = 0x1000;
    static constexpr uint64_t kTssGpa = 0x1800;
    static constexpr uint64_t kPml4Gpa = 0x2000;
    static constexpr uint64_t kPdptGpa = 0x3000;
    static constexpr uint64_t kCodeGpa = 0x8000;
    static constexpr uint64_t kCodeMaxBytes = 0x8000;
    static constexpr uint64_t kPdGpa = 0x10000;
    static constexpr uint64_t kBytesPerPd = 1ULL << 30;  // 512 entries x 2 MiB
    static constexpr uint64_t kMaxPds = 512;             // one PDPT: 512 GiB of guest RAM
    static constexpr uint64_t kStackPages = 2;
    static constexpr uint64_t kPagesPerVcpu = 2 + kStackPages;  // parameter, VIF, stack

    uint64_t mem_bytes = 0;
    uint32_t vcpus = 0;
    uint64_t pd_count = 0;       // page directories at kPdGpa
    uint64_t vcpu_area_gpa = 0;  // kPagesPerVcpu pages per vCPU from here
    uint64_t end_gpa = 0;        // first byte after the system area

    static GuestLayout compute(uint64_t mem_bytes, uint32_t vcpus) {
        GuestLayout l;
        l.mem_bytes = mem_bytes;
        l.vcpus = vcpus;
        l.pd_count = (mem_bytes + kBytesPerPd - 1) / kBytesPerPd;
        l.vcpu_area_gpa = kPdGpa + l.pd_count * kPageSize;
        l.end_gpa = l.vcpu_area_gpa + uint64_t(vcpus) * kPagesPerVcpu * kPageSize;
        return l;
    }

    uint64_t param_gpa(uint32_t vcpu) const { return vcpu_area_gpa + uint64_t(vcpu) * kPagesPerVcpu * kPageSize; }
    // PVM's virtual-interrupt-flag page: any page the guest does not otherwise use.
    uint64_t vif_gpa(uint32_t vcpu) const { return param_gpa(vcpu) + kPageSize; }
    // The stack grows down from the end of the vCPU's block (the guest loop
    // itself uses no stack; it is there for anything that pushes).
    uint64_t stack_top(uint32_t vcpu) const { return param_gpa(vcpu) + kPagesPerVcpu * kPageSize - 16; }
    uint64_t first_free_page() const { return end_gpa >> kPageShift; }
};

}  // namespace dtvm
