/* SPDX-License-Identifier: GPL-2.0 */
/* exceptions:page_fault_user as the BPF programs that hook it see it
 * (bpf/dirty_ring.bpf.c, bpf/thread_write_faults.bpf.c). BPF side only:
 * include after vmlinux.h.
 *
 * The tracepoint exists on x86 only. Its raw_tp/ arguments are TP_PROTO's:
 *   (unsigned long address, struct pt_regs *regs, unsigned long error_code)
 * Its tp/ record's BTF name changed between kernels
 * (trace_event_raw_x86_exceptions, then trace_event_raw_exceptions), its
 * tracefs layout did not: declared here, read at fixed offsets. */
#ifndef DTRACK_BPF_PAGE_FAULT_USER_H
#define DTRACK_BPF_PAGE_FAULT_USER_H

/* x86's page fault error code: the fault was a write. */
#define X86_PF_WRITE (1UL << 1)

struct page_fault_user_record {
	struct trace_entry ent;
	unsigned long address;	  /* offset 8: the faulting address */
	unsigned long ip;	  /* offset 16 */
	unsigned long error_code; /* offset 24 */
};

#endif /* DTRACK_BPF_PAGE_FAULT_USER_H */
