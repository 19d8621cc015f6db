// What a 64-bit guest needs from the VMM before its first instruction: a GDT,
// identity page tables, and the vCPU's segment/control registers.
//
// The recipe is the one docs/ARCHITECTURE.md §6 records for this PVM host (and it is also
// plain x86-64, so a VMX/SVM host runs it natively as well):
//   - long mode with 4-level paging: CR0.PG|PE, CR4.PAE, EFER.LME|LMA, CS.L=1;
//   - the User bit in every present entry at every paging level, or PVM's
//     shadow MMU livelocks on page faults ("refault livelock" in dmesg);
//   - no IDT: any guest exception becomes a triple fault, which reaches the
//     VMM as KVM_EXIT_SHUTDOWN - what a test VMM wants.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "dtvm/guest/guest_layout.hpp"

namespace dtvm {

// Writes the GDT and the TSS at their GuestLayout addresses in `ram`.
void write_gdt(uint8_t* ram);

// Writes PML4, PDPT and page directories that identity-map all of guest RAM
// with 2 MiB pages.
void write_identity_page_tables(uint8_t* ram, const GuestLayout& layout);

// `sregs` as KVM_GET_SREGS returned them, turned into 64-bit mode at CPL 0.
// KVM takes the segment caches from here; the GDT only has to agree.
void set_long_mode_sregs(kvm_sregs& sregs);

// RIP at the guest code, RDI at the vCPU's parameter page, RSP on its stack.
kvm_regs guest_entry_regs(const GuestLayout& layout, uint32_t vcpu);

}  // namespace dtvm
