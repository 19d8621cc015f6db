/* SPDX-License-Identifier: GPL-2.0 */
/* What bpf/kvm_dirty_log.bpf.c shares with userspace (BpfBitmapSource,
 * lib/sources/bpf_bitmap_source.cpp). Included by the BPF program after
 * vmlinux.h and by C++ after <linux/types.h>.
 *
 * Two BPF_F_MMAPABLE arrays of u64 words, laid out alike: slot s owns
 * [s * words_per_slot, (s+1) * words_per_slot), bit i of its word j = page
 * j * 64 + i of memslot s (address space 0):
 *   dirty_words     pages that became dirty for the VMM since userspace last
 *                   took them (taken by atomic exchange)
 *   reported_words  pages already counted whose bit the kernel still holds:
 *                   a page is new again only after the VMM's harvest clears it
 * and one global, `totals` in .bss. */
#ifndef DTRACK_BPF_KVM_DIRTY_LOG_H
#define DTRACK_BPF_KVM_DIRTY_LOG_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The ioctls watched (include/uapi/linux/kvm.h); userspace checks them
 * against <linux/kvm.h>. */
/* _IOW(KVMIO, 0x42, struct kvm_dirty_log) */
#define DTRACK_KVM_GET_DIRTY_LOG 0x4010ae42u
/* _IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log) */
#define DTRACK_KVM_CLEAR_DIRTY_LOG 0xc018aec0u

/* Memslot ids a source can track at most (address space 0). */
#define DTRACK_DIRTY_LOG_MAX_SLOTS 512

struct dtrack_dirty_log_totals {
	__u64 observations;    /* passes of the iterator over the kernel's bitmaps */
	__u64 vmm_harvests;    /* KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG calls of the VMM seen */
	__u64 pages_observed;  /* pages found newly dirty by an iterator pass */
	__u64 pages_harvested; /* pages found newly dirty in a VMM's harvest */
	__u64 seeded_slots;    /* memslots whose bitmap appeared (logging switched on): taken as the start */
	__u64 clean_clears;    /* KVM_CLEAR_DIRTY_LOG bits of pages not dirty in the kernel's bitmap */
	__u64 untracked_pages; /* dirty pages of a memslot id >= the tracked slots or beyond its capacity */
	__u64 unreadable;      /* kernel or VMM memory that could not be read (a word or a struct) */
};

#endif /* DTRACK_BPF_KVM_DIRTY_LOG_H */
