// SPDX-License-Identifier: GPL-2.0
/* Reads the dirty-logging state of one process's KVM VMs from the kernel
 * (KvmStateReader, lib/sources/kvm_vm_state.cpp).
 *
 * Whether a VMM logs dirty pages right now is not visible from outside the
 * kernel: QEMU sets KVM_MEM_LOG_DIRTY_PAGES on its memslots only while it
 * migrates or measures, and the rest of the time no kernel event follows
 * guest writes. struct kvm counts its logging memslots
 * (nr_memslots_dirty_logging) and each struct kvm_memory_slot carries its
 * flags, so an iterator over the process's open files reads both: for each
 * kvm-vm file (private_data is the struct kvm) one dtrack_kvm_vm record and
 * a dtrack_kvm_memslot record per memslot.
 *
 * An iterator runs only when userspace reads its fd, so the state costs
 * nothing between reads, needs no tracepoint to fire, and sees a VM whose
 * vCPUs are all halted. Field offsets come from kernel BTF (CO-RE), which
 * iterators need anyway. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#ifndef DTRACK_VMLINUX_FALLBACK_H
#include "kvm_memslots.h" /* CO-RE: needs kernel BTF */
#endif
#include "kvm_vm_state.h"

char LICENSE[] SEC("license") = "GPL";

/* --- set by userspace before load ---------------------------------------- */
const volatile __u32 target_tgid = 0; /* the VMM, as the initial PID namespace numbers it */

#ifndef DTRACK_VMLINUX_FALLBACK_H

static void emit_memslot(struct seq_file *seq, __u32 fd, struct kvm_memory_slot *slot)
{
	struct dtrack_kvm_memslot r = {.kind = DTRACK_KVM_RECORD_MEMSLOT, .fd = fd};
	r.address_space = BPF_CORE_READ(slot, as_id);
	r.id = (__u16)BPF_CORE_READ(slot, id);
	r.flags = BPF_CORE_READ(slot, flags);
	r.base_gfn = BPF_CORE_READ(slot, base_gfn);
	r.pages = BPF_CORE_READ(slot, npages);
	r.userspace_addr = BPF_CORE_READ(slot, userspace_addr);
	r.has_dirty_bitmap = BPF_CORE_READ(slot, dirty_bitmap) != 0;
	bpf_seq_write(seq, &r, sizeof(r));
}

/* One address space's id_hash, walked bucket by bucket with bpf_loop: the
 * verifier checks the callback once, where nested loops would be checked
 * once per bucket. */
struct walk {
	struct seq_file *seq;
	struct kvm_memslots *slots;
	struct dtrack_kvm_vm *vm;
	__u64 node_offset; /* from a memslot to its id_node[node_idx] */
};

static long walk_bucket(__u32 bucket, struct walk *w)
{
	struct hlist_node *node = dtrack_bucket_first(w->slots, bucket);
	for (__u32 depth = 0; depth < DTRACK_CHAIN_DEPTH && node; depth++) {
		struct kvm_memory_slot *slot = (void *)node - w->node_offset;
		w->vm->memslots++;
		emit_memslot(w->seq, w->vm->fd, slot);
		node = BPF_CORE_READ(node, next);
	}
	if (node)
		w->vm->memslots_unlisted++; /* at least one more down this chain */
	return 0;
}

SEC("iter/task_file")
int kvm_vm_state(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct kvm *kvm = dtrack_iter_vm(ctx, target_tgid);
	if (!kvm)
		return 0;

	struct dtrack_kvm_vm vm = {.kind = DTRACK_KVM_RECORD_VM, .fd = ctx->fd};
	vm.memslots_logging = BPF_CORE_READ(kvm, nr_memslots_dirty_logging.counter);
	vm.dirty_ring_bytes = BPF_CORE_READ(kvm, dirty_ring_size);
	vm.manual_protect = BPF_CORE_READ(kvm, manual_dirty_log_protect) != 0;
	vm.address_spaces = dtrack_address_spaces(kvm);

	struct walk w = {.seq = seq, .vm = &vm};
	for (__u32 as = 0; as < DTRACK_MAX_ADDRESS_SPACES; as++) {
		if (as >= vm.address_spaces)
			break;
		struct kvm_memslots *slots = dtrack_memslots(kvm, as);
		if (!slots)
			continue;
		w.slots = slots;
		w.node_offset = dtrack_id_node_offset(slots);
		bpf_loop(DTRACK_ID_HASH_BUCKETS, walk_bucket, &w, 0);
	}
	/* The VM record last: its counts are complete only now. */
	bpf_seq_write(seq, &vm, sizeof(vm));
	return 0;
}

#else /* no kernel BTF: iterators need it, and so does CO-RE. Userspace
       * refuses before loading this. */
struct bpf_iter__task_file;
SEC("iter/task_file")
int kvm_vm_state(struct bpf_iter__task_file *ctx)
{
	return 0;
}
#endif
