/* SPDX-License-Identifier: GPL-2.0 */
/* What bpf/kvm_vm_state.bpf.c writes to its iterator's output, read by
 * lib/sources/kvm_vm_state.cpp: for each KVM VM (an open kvm-vm file) of the
 * target process one dtrack_kvm_memslot record per memslot of that VM, then
 * the VM's dtrack_kvm_vm record, which ends them. Included by the BPF program after vmlinux.h
 * and by C++ after <linux/types.h>. */
#ifndef DTRACK_BPF_KVM_VM_STATE_H
#define DTRACK_BPF_KVM_VM_STATE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define DTRACK_KVM_RECORD_VM 1
#define DTRACK_KVM_RECORD_MEMSLOT 2

struct dtrack_kvm_vm {
	__u32 kind;		 /* DTRACK_KVM_RECORD_VM */
	__u32 fd;		 /* the process's fd of the kvm-vm file */
	__s32 memslots_logging;	 /* struct kvm's nr_memslots_dirty_logging */
	__u32 dirty_ring_bytes;	 /* struct kvm's dirty_ring_size: 0 = the dirty bitmap */
	__u32 manual_protect;	 /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
	__u32 address_spaces;	 /* memslot address spaces this kernel has */
	__u32 memslots;		 /* memslots found (listed or not) */
	__u32 memslots_unlisted; /* deeper in KVM's hash chains than the walk goes */
};

struct dtrack_kvm_memslot {
	__u32 kind; /* DTRACK_KVM_RECORD_MEMSLOT */
	__u32 fd;   /* the VM's fd, as in its dtrack_kvm_vm */
	__u16 address_space;
	__u16 id;
	__u32 flags; /* KVM_MEM_LOG_DIRTY_PAGES (1), KVM_MEM_READONLY (2), ... */
	__u64 base_gfn;
	__u64 pages;
	__u64 userspace_addr;
	__u64 has_dirty_bitmap; /* the kernel keeps a dirty bitmap for it */
};

#endif /* DTRACK_BPF_KVM_VM_STATE_H */
