/* SPDX-License-Identifier: GPL-2.0 */
/* What bpf/thread_write_faults.bpf.c shares with userspace
 * (lib/sources/thread_write_faults_program.cpp). Included by the BPF program
 * after vmlinux.h and by C++ after <linux/types.h>.
 *
 * The map:
 *   faults_by_thread  BPF_MAP_TYPE_HASH, key __u32 thread id (the kernel's
 *                     pid of the task), value __u64 write faults; sized by
 *                     userspace before load. Entries are never deleted.
 * one global, `totals` in .bss, and in .rodata, set before load, the
 * address ranges whose write faults count (range_count of `ranges`, sorted,
 * disjoint; none: every write fault counts). */
#ifndef DTRACK_BPF_THREAD_WRITE_FAULTS_H
#define DTRACK_BPF_THREAD_WRITE_FAULTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The target process's write faults, all threads together. Only grow. */
struct dtrack_thread_write_fault_totals {
	__u64 write_faults;   /* every write fault of the target: per thread, unattributed or outside the ranges */
	__u64 unattributed;   /* of those, faults of threads the full map had no room for */
	__u64 outside_ranges; /* of those, faults at addresses outside the ranges (not counted per thread) */
};

/* [begin, end): addresses whose write faults count. A linear scan per write
 * fault of the target, so a handful: a VMM's guest RAM blocks. */
#define DTRACK_MAX_FAULT_RANGES 64
struct dtrack_fault_range {
	__u64 begin;
	__u64 end;
};

#endif /* DTRACK_BPF_THREAD_WRITE_FAULTS_H */
