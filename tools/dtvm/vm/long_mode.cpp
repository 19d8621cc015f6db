#include "dtvm/vm/long_mode.hpp"

#include <cstring>

namespace dtvm {
namespace {

// GDT selectors (index * 8).
constexpr uint16_t kCodeSelector = 0x08;
constexpr uint16_t kDataSelector = 0x10;
constexpr uint16_t kTssSelector = 0x18;  // a 16-byte descriptor: entries 3 and 4
constexpr uint64_t kTssLimit = 0x67;     // the 64-bit TSS is 104 bytes
constexpr uint16_t kGdtLimit = 5 * 8 - 1;

// Descriptor words, as the Intel SDM lays them out.
constexpr uint64_t kCode64Descriptor = 0x00af9b000000ffffULL;  // present, DPL 0, exec/read, L=1, G=1
constexpr uint64_t kData64Descriptor = 0x00cf93000000ffffULL;  // present, DPL 0, read/write, D/B=1, G=1

// Paging entry bits.
constexpr uint64_t kPresent = 1ULL << 0;
constexpr uint64_t kWritable = 1ULL << 1;
constexpr uint64_t kUser = 1ULL << 2;       // PVM needs it at every level (see long_mode.hpp)
constexpr uint64_t kLargePage = 1ULL << 7;  // in a PD entry: a 2 MiB page
constexpr uint64_t kTableFlags = kPresent | kWritable | kUser;

// Control register bits.
constexpr uint64_t kCr0Pe = 1ULL << 0, kCr0Mp = 1ULL << 1, kCr0Et = 1ULL << 4, kCr0Ne = 1ULL << 5, kCr0Wp = 1ULL << 16,
                   kCr0Pg = 1ULL << 31;
constexpr uint64_t kCr4Pae = 1ULL << 5, kCr4Osfxsr = 1ULL << 9, kCr4Osxmmexcpt = 1ULL << 10;
constexpr uint64_t kEferLme = 1ULL << 8, kEferLma = 1ULL << 10;

uint64_t* table_at(uint8_t* ram, uint64_t gpa) { return reinterpret_cast<uint64_t*>(ram + gpa); }

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = code64 ? 0 : 1;  // L=1 requires D=0
    s.s = 1;                // code/data, not system
    s.l = code64 ? 1 : 0;
    s.g = 1;
    return s;
}

}  // namespace

void write_gdt(uint8_t* ram) {
    uint64_t* gdt = table_at(ram, GuestLayout::kGdtGpa);
    std::memset(gdt, 0, kPageSize / 2);
    gdt[kCodeSelector / 8] = kCode64Descriptor;
    gdt[kDataSelector / 8] = kData64Descriptor;
    // 64-bit TSS descriptor (type 0xb = busy, since TR is loaded as if by LTR).
    const uint64_t base = GuestLayout::kTssGpa;
    gdt[kTssSelector / 8] = (kTssLimit & 0xffff) | ((base & 0xffffff) << 16) | (0xbULL << 40) | (1ULL << 47) |
                            (((base >> 24) & 0xff) << 56);
    gdt[kTssSelector / 8 + 1] = base >> 32;
    std::memset(ram + GuestLayout::kTssGpa, 0, kTssLimit + 1);
}

void write_identity_page_tables(uint8_t* ram, const GuestLayout& layout) {
    uint64_t* pml4 = table_at(ram, GuestLayout::kPml4Gpa);
    uint64_t* pdpt = table_at(ram, GuestLayout::kPdptGpa);
    std::memset(pml4, 0, kPageSize);
    std::memset(pdpt, 0, kPageSize);
    pml4[0] = GuestLayout::kPdptGpa | kTableFlags;

    const uint64_t large_pages = (layout.mem_bytes + (2ULL << 20) - 1) >> 21;
    for (uint64_t d = 0; d < layout.pd_count; ++d) {
        const uint64_t pd_gpa = GuestLayout::kPdGpa + d * kPageSize;
        uint64_t* pd = table_at(ram, pd_gpa);
        std::memset(pd, 0, kPageSize);
        pdpt[d] = pd_gpa | kTableFlags;
        for (uint64_t i = 0; i < 512 && d * 512 + i < large_pages; ++i)
            pd[i] = ((d * 512 + i) << 21) | kTableFlags | kLargePage;
    }
}

void set_long_mode_sregs(kvm_sregs& sregs) {
    sregs.cs = flat_segment(kCodeSelector, 11 /* execute/read, accessed */, true);
    sregs.ds = flat_segment(kDataSelector, 3 /* read/write, accessed */, false);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;

    sregs.tr = kvm_segment{};
    sregs.tr.base = GuestLayout::kTssGpa;
    sregs.tr.limit = kTssLimit;
    sregs.tr.selector = kTssSelector;
    sregs.tr.type = 11;  // busy 64-bit TSS
    sregs.tr.present = 1;
    sregs.ldt = kvm_segment{};
    sregs.ldt.type = 2;
    sregs.ldt.present = 1;
    sregs.ldt.limit = 0xffff;

    sregs.gdt.base = GuestLayout::kGdtGpa;
    sregs.gdt.limit = kGdtLimit;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;

    sregs.cr0 = kCr0Pg | kCr0Wp | kCr0Ne | kCr0Et | kCr0Mp | kCr0Pe;
    sregs.cr3 = GuestLayout::kPml4Gpa;
    sregs.cr4 = kCr4Pae | kCr4Osfxsr | kCr4Osxmmexcpt;
    sregs.efer = kEferLme | kEferLma;
}

kvm_regs guest_entry_regs(const GuestLayout& layout, uint32_t vcpu) {
    kvm_regs regs{};
    regs.rip = GuestLayout::kCodeGpa;
    regs.rflags = 0x2;  // bit 1 is always set; interrupts off
    regs.rsp = layout.stack_top(vcpu);
    regs.rdi = layout.param_gpa(vcpu);
    return regs;
}

}  // namespace dtvm
