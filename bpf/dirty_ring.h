/* SPDX-License-Identifier: GPL-2.0 */
/* What bpf/dirty_ring.bpf.c shares with userspace (lib/sources/): the values
 * of its maps and its totals. Included by the BPF program after vmlinux.h
 * and by C++ after <linux/types.h>.
 *
 * The maps, all BPF_F_MMAPABLE arrays that userspace reads through mmap:
 *   dirty_words  u64 words; slot s owns [s * words_per_slot, (s+1) * words_per_slot),
 *                bit i of its word j = page j * 64 + i of the slot
 *   slots        struct dtrack_slot, key = memslot id (the low 16 bits of KVM's slot)
 *   vcpus        struct dtrack_vcpu_counters, key = the vCPU's ring index
 * and one global, `totals` in .bss. */
#ifndef DTRACK_BPF_DIRTY_RING_H
#define DTRACK_BPF_DIRTY_RING_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define DTRACK_BITS_PER_WORD 64

/* One memslot id. */
struct dtrack_slot {
	__u64 capacity; /* pages its bitmap holds (written by userspace before attach); 0 = not tracked */
	__u64 seen_end; /* highest page offset pushed + 1, tracked or not: how big the slot really is */
};

/* One vCPU (its dirty ring's index, which is its KVM vcpu id). The counters
 * only grow; the last two fields describe the ring-full exit now pending. */
struct dtrack_vcpu_counters {
	__u64 pushes;	  /* kvm_dirty_ring_push: ring entries this vCPU pushed */
	__u64 full_exits; /* kvm_dirty_ring_exit: KVM_EXIT_DIRTY_RING_FULL exits */
	__u64 resets;	  /* kvm_dirty_ring_reset: KVM_RESET_DIRTY_RINGS passes over this ring */
	/* bpf_ktime_get_ns (CLOCK_MONOTONIC) of the first full exit since the
	 * ring was last reset; 0 when none is pending. A vCPU whose full exit
	 * stays pending is stuck: it cannot run until the VMM resets its ring. */
	__u64 full_pending_since_ns;
	__u64 full_exits_before_pending; /* full_exits just before that first exit */
};

/* Process-wide counters. Only grow. */
struct dtrack_dirty_ring_totals {
	/* Pushes that set no bit: the page is outside every tracked slot. */
	__u64 lost_address_space; /* address space id != 0 (x86 SMM memory) */
	__u64 lost_slot;	  /* a memslot id that is not tracked */
	__u64 lost_offset;	  /* beyond the tracked slot's capacity */
	/* Events of a vCPU whose index is unreadable or >= the vcpus map: counted
	 * here instead of per vCPU (a push's bit is still recorded). */
	__u64 unknown_vcpu;
	/* exceptions:page_fault_user of the target process: an estimate of its
	 * own (host-side) writes: it sees the first write to a page that faults,
	 * not writes. */
	__u64 user_faults;
	__u64 user_write_faults; /* those with the write bit (error_code bit 1) */
};

#endif /* DTRACK_BPF_DIRTY_RING_H */
