// SPDX-License-Identifier: GPL-2.0
/* Counts one process's write faults per thread (ThreadWriteFaults,
 * lib/sources/thread_write_faults.cpp).
 *
 * A write fault is a thread's first write to a page that is not writable for
 * it yet: a page write-protected again since it was last written (userfaultfd
 * WP, soft-dirty clearing), never touched, or shared copy-on-write. For memory
 * a tracker re-protects at each harvest, a thread's write faults between two
 * harvests are the pages it newly dirtied: per thread what the KVM dirty
 * ring's entries are per vCPU. The process backend's vCPUs are threads, so
 * this is its per-vCPU dirty rate.
 *
 * exceptions:page_fault_user fires for every user-mode page fault on the
 * system; the handler keeps the target's faults with the write bit at an
 * address in the ranges userspace gave (the memory it re-protects: a thread's
 * stack or a runtime's own pages are not guest pages), counted under the
 * faulting thread's id in a hash map. A fault outside the ranges is counted in
 * totals.outside_ranges, one of a thread the full map has no room for in
 * totals.unattributed, so no fault goes uncounted.
 *
 * Two entry points, as in dirty_ring.bpf.c: raw_tp/ (by name, no tracefs;
 * BPF_PROG_TEST_RUN can run it) and tp/ (the formatted record, needs
 * tracefs), the fallback. Userspace loads one or the other. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "page_fault_user.h"
#include "thread_write_faults.h"

char LICENSE[] SEC("license") = "GPL";

/* --- set by userspace before load ---------------------------------------- */
const volatile __u32 target_tgid = 0; /* the process, as the initial PID namespace numbers it */
const volatile __u32 range_count = 0; /* 0: every address counts */
const volatile struct dtrack_fault_range ranges[DTRACK_MAX_FAULT_RANGES] = {};

/* --- resized by userspace before load (bpf_map__set_max_entries) ---------- */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4096);
} faults_by_thread SEC(".maps");

struct dtrack_thread_write_fault_totals totals = {};

static __always_inline bool in_ranges(unsigned long address)
{
	if (range_count == 0)
		return true;
	for (__u32 i = 0; i < DTRACK_MAX_FAULT_RANGES && i < range_count; i++)
		if (address >= ranges[i].begin && address < ranges[i].end)
			return true;
	return false;
}

static __always_inline void count_write_fault(unsigned long address, unsigned long error_code)
{
	const __u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((pid_tgid >> 32) != target_tgid || !(error_code & X86_PF_WRITE))
		return;
	__sync_fetch_and_add(&totals.write_faults, 1);
	if (!in_ranges(address)) {
		__sync_fetch_and_add(&totals.outside_ranges, 1);
		return;
	}

	__u32 tid = (__u32)pid_tgid;
	__u64 *count = bpf_map_lookup_elem(&faults_by_thread, &tid);
	if (count) {
		/* Only this thread adds to its own entry; atomic so that a
		 * reader never sees a torn value. */
		__sync_fetch_and_add(count, 1);
		return;
	}
	/* The thread's first write fault. BPF_NOEXIST: nobody else adds this
	 * thread's entry, so it can only fail for want of room (-E2BIG). */
	__u64 one = 1;
	if (bpf_map_update_elem(&faults_by_thread, &tid, &one, BPF_NOEXIST) != 0)
		__sync_fetch_and_add(&totals.unattributed, 1);
}

/* TP_PROTO(unsigned long address, struct pt_regs *regs, unsigned long error_code) */
SEC("raw_tp/page_fault_user")
int BPF_PROG(thread_write_fault_raw, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	count_write_fault(address, error_code);
	return 0;
}

SEC("tp/exceptions/page_fault_user")
int thread_write_fault_tp(struct page_fault_user_record *rec)
{
	count_write_fault(rec->address, rec->error_code);
	return 0;
}
