/* SPDX-License-Identifier: GPL-2.0 */
/* Stand-in for vmlinux.h on kernels without BTF (no /sys/kernel/btf/vmlinux).
 *
 * The Makefile makes build/bpf/vmlinux.h include this file when bpftool
 * cannot dump the running kernel's BTF. It holds only what dtrack's BPF
 * programs use: fixed-width types, a few uapi BPF constants, the raw
 * tracepoint context, and the tracepoint records dtrack reads.
 *
 * No CO-RE here: without kernel BTF libbpf cannot relocate field accesses,
 * so the layouts below are the kernel's fixed ones. The tracepoint records
 * were copied field by field from tracefs
 * (events/<system>/<event>/format, Linux 6.18, x86_64); a kernel whose
 * format files differ needs them updated. */
#ifndef DTRACK_VMLINUX_FALLBACK_H
#define DTRACK_VMLINUX_FALLBACK_H
/* Tells bpf_tracing.h to use the kernel's struct pt_regs field names, as it
 * does with a real vmlinux.h. */
#define __VMLINUX_H__

/* --- fixed-width types (as include/uapi/asm-generic/int-ll64.h) --------- */
typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;

typedef __s8 s8;
typedef __u8 u8;
typedef __s16 s16;
typedef __u16 u16;
typedef __s32 s32;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;

typedef __u16 __le16;
typedef __u16 __be16;
typedef __u32 __le32;
typedef __u32 __be32;
typedef __u64 __le64;
typedef __u64 __be64;
typedef __u32 __wsum;

typedef _Bool bool;
enum { false = 0, true = 1 };

/* --- uapi BPF constants (include/uapi/linux/bpf.h) ---------------------- */
enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PROG_ARRAY = 3,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

/* flags for bpf_map_update_elem() */
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
	BPF_F_LOCK = 4,
};

/* map_flags */
enum {
	BPF_F_NO_PREALLOC = 1,
	BPF_F_MMAPABLE = 1024,
};

/* bpf_perf_event_output() index */
#define BPF_F_CURRENT_CPU 0xffffffffULL

/* --- program contexts --------------------------------------------------- */

/* raw_tp/ programs: the tracepoint's arguments, one u64 each. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

#if defined(__TARGET_ARCH_x86)
/* kprobe/ programs on x86_64 (arch/x86/include/asm/ptrace.h). cs and ss are
 * unions of a u16 and a u64 in the kernel; the u64 keeps the layout. */
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
};
#endif

/* --- tracepoint records (tp/ programs), from tracefs format files ------- */

/* The common header of every record (offsets 0..7). */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

/* kvm:kvm_dirty_ring_push: a vCPU pushed one dirty GFN into its ring. */
struct trace_event_raw_kvm_dirty_ring_push {
	struct trace_entry ent;
	int index;	 /* offset 8: ring (vCPU) index */
	u32 dirty_index; /* offset 12 */
	u32 reset_index; /* offset 16 */
	u32 slot;	 /* offset 20: memslot (as_id << 16 | id) */
	u64 offset;	 /* offset 24: page offset in the slot */
	char __data[0];
};

/* kvm:kvm_dirty_ring_reset: KVM_RESET_DIRTY_RINGS recycled entries. */
struct trace_event_raw_kvm_dirty_ring_reset {
	struct trace_entry ent;
	int index;	 /* offset 8 */
	u32 dirty_index; /* offset 12 */
	u32 reset_index; /* offset 16 */
	char __data[0];
};

/* kvm:kvm_dirty_ring_exit: a vCPU exited with KVM_EXIT_DIRTY_RING_FULL. */
struct trace_event_raw_kvm_dirty_ring_exit {
	struct trace_entry ent;
	int vcpu_id; /* offset 8 */
	char __data[0];
};

/* exceptions:page_fault_user (x86): a user-mode page fault. */
struct trace_event_raw_exceptions { /* the kernel's BTF name since 6.x */
	struct trace_entry ent;
	unsigned long address;	  /* offset 8: faulting address */
	unsigned long ip;	  /* offset 16 */
	unsigned long error_code; /* offset 24: bit 1 = write */
	char __data[0];
};

#endif /* DTRACK_VMLINUX_FALLBACK_H */
