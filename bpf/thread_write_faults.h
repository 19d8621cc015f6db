/* SPDX-License-Identifier: GPL-2.0 */
/* What bpf/thread_write_faults.bpf.c shares with userspace
 * (lib/sources/thread_write_faults_program.cpp). Included by the BPF program
 * after vmlinux.h and by C++ after <linux/types.h>.
 *
 * The map:
 *   faults_by_thread  BPF_MAP_TYPE_HASH, key __u32 thread id (the kernel's
 *                     pid of the task), value __u64 write faults; sized by
 *                     userspace before load. Entries are never deleted.
 * and one global, `totals` in .bss. */
#ifndef DTRACK_BPF_THREAD_WRITE_FAULTS_H
#define DTRACK_BPF_THREAD_WRITE_FAULTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The target process's write faults, all threads together. Only grow. */
struct dtrack_thread_write_fault_totals {
	__u64 write_faults;  /* every write fault of the target: counted per thread or in unattributed */
	__u64 unattributed;  /* of those, faults of threads the full map had no room for */
};

#endif /* DTRACK_BPF_THREAD_WRITE_FAULTS_H */
