/* SPDX-License-Identifier: GPL-2.0 */
/* Finding a VM's struct kvm and its memslots from BPF, with CO-RE (kernel
 * BTF). Shared by bpf/kvm_vm_state.bpf.c and bpf/kvm_dirty_log.bpf.c;
 * include after vmlinux.h and bpf_core_read.h.
 *
 * A VM is the private_data of an anon_inode "kvm-vm" file. Its memslots sit,
 * per address space, in a 128-bucket hash by id (struct kvm_memslots'
 * id_hash), each through id_node[node_idx]: KVM keeps two sets and flips
 * between them on every change. */
#ifndef DTRACK_BPF_KVM_MEMSLOTS_H
#define DTRACK_BPF_KVM_MEMSLOTS_H

#define DTRACK_ID_HASH_BUCKETS 128
#define DTRACK_MAX_ADDRESS_SPACES 2
/* How deep one hash chain is walked; KVM spreads ids over 128 buckets, so a
 * VM needs thousands of memslots to reach it. */
#define DTRACK_CHAIN_DEPTH 16

static __always_inline bool dtrack_is_kvm_vm_file(struct file *file)
{
	/* anon_inode_getfile("kvm-vm", ...): the dentry's name is "kvm-vm". */
	char name[8] = {};
	const unsigned char *dname = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(name, sizeof(name), dname) != 7)
		return false;
	return name[0] == 'k' && name[1] == 'v' && name[2] == 'm' && name[3] == '-' && name[4] == 'v' &&
	       name[5] == 'm' && name[6] == 0;
}

/* The struct kvm of an iterator's file when it is a VM of process `tgid`, else NULL. */
static __always_inline struct kvm *dtrack_iter_vm(struct bpf_iter__task_file *ctx, __u32 tgid)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file || task->tgid != tgid || !dtrack_is_kvm_vm_file(file))
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

/* The memslot address spaces this kernel has (1 without x86 SMM, else 2). */
static __always_inline __u32 dtrack_address_spaces(struct kvm *kvm)
{
	__u32 spaces = bpf_core_field_size(kvm->memslots) / sizeof(void *);
	return spaces > DTRACK_MAX_ADDRESS_SPACES ? DTRACK_MAX_ADDRESS_SPACES : spaces;
}

/* The active memslot set of address space `as`, or NULL. */
static __always_inline struct kvm_memslots *dtrack_memslots(struct kvm *kvm, __u32 as)
{
	struct kvm_memslots *slots = NULL;
	if (as >= DTRACK_MAX_ADDRESS_SPACES)
		return NULL;
	bpf_probe_read_kernel(&slots, sizeof(slots), &kvm->memslots[as]);
	return slots;
}

/* From a memslot to its hash node in `slots`, as a byte offset. */
static __always_inline __u64 dtrack_id_node_offset(struct kvm_memslots *slots)
{
	return bpf_core_field_offset(struct kvm_memory_slot, id_node) +
	       (BPF_CORE_READ(slots, node_idx) & 1) * sizeof(struct hlist_node);
}

/* The first node of bucket `bucket` of `slots`' id hash. */
static __always_inline struct hlist_node *dtrack_bucket_first(struct kvm_memslots *slots, __u32 bucket)
{
	struct hlist_node *node = NULL;
	if (bucket < DTRACK_ID_HASH_BUCKETS)
		bpf_probe_read_kernel(&node, sizeof(node), &slots->id_hash[bucket].first);
	return node;
}

#endif /* DTRACK_BPF_KVM_MEMSLOTS_H */
