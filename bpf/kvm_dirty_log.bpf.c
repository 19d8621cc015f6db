// SPDX-License-Identifier: GPL-2.0
/* Watches one process's KVM dirty bitmaps from the kernel (BpfBitmapSource,
 * lib/sources/bpf_bitmap_source.cpp): the pages a VMM that logs without the
 * dirty ring (QEMU's default, Cloud Hypervisor, Firecracker) will find dirty,
 * without touching the VMM.
 *
 * No tracepoint fires per page for the bitmap, but every dirtied page ends
 * up as a bit in its memslot's dirty_bitmap (mark_page_dirty_in_slot: MMU
 * faults, the emulator, KVM's own writes alike), and the bits leave it only
 * through the VMM's harvest. So the bitmap is read, never written:
 *
 *   an iterator pass (iter/task_file, run by userspace at each harvest)
 *       reads each logging memslot's bitmap: a set bit not reported yet is
 *       a page newly dirty;
 *   KVM_CLEAR_DIRTY_LOG (manual protect) is read twice: before the kernel
 *       clears (raw_tp/sys_enter), the bits about to be cleared, those not
 *       reported yet newly dirty; after it cleared them (raw_tp/sys_exit),
 *       the VMM's mask makes them new again. Not at sys_enter: a reading on
 *       another CPU before the kernel's clear would report them again, and
 *       the write after the clear would then look old;
 *   KVM_GET_DIRTY_LOG (raw_tp/sys_exit, after the copy) reads the VMM's copy:
 *       without manual protect the kernel took those bits (atomically, word
 *       by word) and re-protected the pages, so they become new again; with
 *       it, the copy is one more reading.
 *
 * reported_words holds, per page, "counted, and the kernel's bit is still
 * set"; dirty_words the pages counted since userspace last took them. Both
 * change only by atomic OR/AND whose old value decides what is new, so the
 * iterator and a VMM's harvest on another CPU never both count a page nor
 * both miss it. A page the VMM harvests twice between two takes is one bit
 * in dirty_words (distinct pages), as a ring VMM's re-pushed page is.
 *
 * When a memslot's bitmap appears (logging switched on; QEMU sets it all
 * ones), its bits are taken as the start, not as writes (seeded_slots). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "kvm_dirty_log.h"
#ifndef DTRACK_VMLINUX_FALLBACK_H
#include "kvm_memslots.h" /* CO-RE: needs kernel BTF */
#endif

char LICENSE[] SEC("license") = "GPL";

/* --- set by userspace before load ---------------------------------------- */
const volatile __u32 target_tgid = 0;	 /* the VMM */
const volatile __u32 tracked_slots = 1;	 /* memslot ids 0..n-1 of address space 0 */
const volatile __u32 words_per_slot = 1; /* bitmap words each tracked slot owns */

/* --- maps, resized by userspace before load ------------------------------- */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} dirty_words SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} reported_words SEC(".maps");

struct dtrack_dirty_log_totals totals = {};
/* Each tracked slot's bitmap as last seen: a new one is seeded. */
__u64 bitmap_seen[DTRACK_DIRTY_LOG_MAX_SLOTS] = {};

#ifndef DTRACK_VMLINUX_FALLBACK_H

static __always_inline __u64 popcount(__u64 v)
{
	return __builtin_popcountll(v);
}

/* The two words of page word `w` of slot `slot`, or NULLs. */
static __always_inline bool words_of(__u32 slot, __u64 w, __u64 **dirty, __u64 **reported)
{
	if (slot >= tracked_slots || w >= words_per_slot)
		return false;
	__u32 key = slot * words_per_slot + (__u32)w;
	*dirty = bpf_map_lookup_elem(&dirty_words, &key);
	*reported = bpf_map_lookup_elem(&reported_words, &key);
	return *dirty && *reported;
}

/* A reading shows the kernel's bits `k`: those not reported are new. */
static __always_inline __u64 observe_word(__u32 slot, __u64 w, __u64 k)
{
	__u64 *dirty, *reported;
	if (!k)
		return 0;
	if (!words_of(slot, w, &dirty, &reported)) {
		__sync_fetch_and_add(&totals.untracked_pages, popcount(k));
		return 0;
	}
	__u64 fresh = k & ~__sync_fetch_and_or(reported, k);
	if (fresh)
		__sync_fetch_and_or(dirty, fresh);
	return popcount(fresh);
}

/* The kernel takes bits `h` (and write-protects their pages): those not
 * reported are new, and all of them are unreported from now on. */
static __always_inline __u64 harvest_word(__u32 slot, __u64 w, __u64 h)
{
	__u64 *dirty, *reported;
	if (!h)
		return 0;
	if (!words_of(slot, w, &dirty, &reported)) {
		__sync_fetch_and_add(&totals.untracked_pages, popcount(h));
		return 0;
	}
	__u64 fresh = h & ~__sync_fetch_and_and(reported, ~h);
	if (fresh)
		__sync_fetch_and_or(dirty, fresh);
	return popcount(fresh);
}

/* --- reading one memslot's words with bpf_loop ----------------------------- */
enum word_action { OBSERVE, SEED, CLEAR_BEFORE, CLEAR_AFTER, GET_TAKEN, GET_COPY };

struct words_walk {
	__u32 slot;
	__u32 action;
	__u64 first_word;	  /* of the slot */
	const __u64 *kernel_bits; /* the memslot's dirty_bitmap */
	const __u64 *user_bits;	  /* the VMM's buffer (CLEAR: the mask; GET: the copy), word 0 = first_word */
	__u64 fresh;
};

static long walk_word(__u32 i, struct words_walk *ww)
{
	__u64 w = ww->first_word + i, k = 0, u = 0;
	if ((ww->action == OBSERVE || ww->action == SEED || ww->action == CLEAR_BEFORE) &&
	    bpf_probe_read_kernel(&k, sizeof(k), ww->kernel_bits + w) != 0) {
		__sync_fetch_and_add(&totals.unreadable, 1);
		return 0;
	}
	if (ww->action != OBSERVE && ww->action != SEED && bpf_probe_read_user(&u, sizeof(u), ww->user_bits + i) != 0) {
		__sync_fetch_and_add(&totals.unreadable, 1);
		return 0;
	}
	switch (ww->action) {
	case OBSERVE:
		ww->fresh += observe_word(ww->slot, w, k);
		break;
	case SEED: {
		__u64 *dirty, *reported;
		if (words_of(ww->slot, w, &dirty, &reported))
			*(volatile __u64 *)reported = k;
		break;
	}
	case CLEAR_BEFORE:
		/* What the VMM clears that is not dirty cannot hide a write
		 * (its mask comes from its own GET), but is counted. */
		if (u & ~k)
			__sync_fetch_and_add(&totals.clean_clears, popcount(u & ~k));
		ww->fresh += observe_word(ww->slot, w, k & u);
		break;
	case CLEAR_AFTER: {
		/* The kernel cleared and re-protected them: each is new at its next write. */
		__u64 *dirty, *reported;
		if (u && words_of(ww->slot, w, &dirty, &reported))
			__sync_fetch_and_and(reported, ~u);
		break;
	}
	case GET_TAKEN:
		ww->fresh += harvest_word(ww->slot, w, u);
		break;
	case GET_COPY:
		ww->fresh += observe_word(ww->slot, w, u);
		break;
	}
	return 0;
}

/* Walks `words` words of a slot (capped at the slot's capacity: the rest
 * is counted untracked when seen). */
static __always_inline __u64 walk_words(struct words_walk *ww, __u64 words)
{
	if (ww->slot >= tracked_slots)
		return 0;
	if (ww->first_word >= words_per_slot)
		return 0;
	if (words > words_per_slot - ww->first_word)
		words = words_per_slot - ww->first_word;
	ww->fresh = 0;
	bpf_loop((__u32)words, walk_word, ww, 0);
	return ww->fresh;
}

/* --- the iterator: one reading of every logging memslot -------------------- */
struct slots_walk {
	struct kvm_memslots *slots;
	__u64 node_offset;
};

static void read_memslot(struct kvm_memory_slot *slot)
{
	__u32 id = (__u16)BPF_CORE_READ(slot, id);
	if (BPF_CORE_READ(slot, as_id) != 0 || id >= tracked_slots || id >= DTRACK_DIRTY_LOG_MAX_SLOTS)
		return;
	const __u64 *bits = (const __u64 *)BPF_CORE_READ(slot, dirty_bitmap);
	__u64 words = (BPF_CORE_READ(slot, npages) + 63) / 64;
	__u64 seen = bitmap_seen[id];
	bitmap_seen[id] = (__u64)bits;
	if (!bits)
		return;
	struct words_walk ww = {.slot = id, .action = seen == (__u64)bits ? OBSERVE : SEED, .kernel_bits = bits};
	__u64 fresh = walk_words(&ww, words);
	if (ww.action == SEED)
		__sync_fetch_and_add(&totals.seeded_slots, 1);
	else
		__sync_fetch_and_add(&totals.pages_observed, fresh);
}

static long read_bucket(__u32 bucket, struct slots_walk *sw)
{
	struct hlist_node *node = dtrack_bucket_first(sw->slots, bucket);
	for (__u32 depth = 0; depth < DTRACK_CHAIN_DEPTH && node; depth++) {
		read_memslot((void *)node - sw->node_offset);
		node = BPF_CORE_READ(node, next);
	}
	return 0;
}

SEC("iter/task_file")
int observe_bitmaps(struct bpf_iter__task_file *ctx)
{
	struct kvm *kvm = dtrack_iter_vm(ctx, target_tgid);
	if (!kvm)
		return 0;
	struct kvm_memslots *slots = dtrack_memslots(kvm, 0);
	if (!slots)
		return 0;
	struct slots_walk sw = {.slots = slots, .node_offset = dtrack_id_node_offset(slots)};
	bpf_loop(DTRACK_ID_HASH_BUCKETS, read_bucket, &sw, 0);
	__sync_fetch_and_add(&totals.observations, 1);
	return 0;
}

/* --- the VMM's harvests ------------------------------------------------------ */

/* The struct kvm behind the calling process's fd `fd`, or NULL. */
static struct kvm *kvm_of_fd(__u64 fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file || !dtrack_is_kvm_vm_file(file))
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

struct slot_search {
	struct kvm_memslots *slots;
	__u64 node_offset;
	__u32 id;
	struct kvm_memory_slot *found;
};

static long search_bucket(__u32 bucket, struct slot_search *s)
{
	struct hlist_node *node = dtrack_bucket_first(s->slots, bucket);
	for (__u32 depth = 0; depth < DTRACK_CHAIN_DEPTH && node; depth++) {
		struct kvm_memory_slot *slot = (void *)node - s->node_offset;
		if ((__u16)BPF_CORE_READ(slot, id) == s->id) {
			s->found = slot;
			return 1;
		}
		node = BPF_CORE_READ(node, next);
	}
	return 0;
}

/* Memslot `id` of address space 0, or NULL. All buckets are searched: the
 * kernel's hash function is not part of its ABI. */
static struct kvm_memory_slot *memslot_of(struct kvm *kvm, __u32 id)
{
	struct kvm_memslots *slots = dtrack_memslots(kvm, 0);
	if (!slots)
		return NULL;
	struct slot_search s = {.slots = slots, .node_offset = dtrack_id_node_offset(slots), .id = id};
	bpf_loop(DTRACK_ID_HASH_BUCKETS, search_bucket, &s, 0);
	return s.found;
}

/* The ioctl's (fd, cmd, arg) from the syscall's saved registers (x86-64). */
static __always_inline bool ioctl_args(struct pt_regs *regs, __u64 nr, __u64 *fd, __u32 *cmd, __u64 *arg)
{
	if (nr != 16 /* __NR_ioctl, x86-64 */)
		return false;
	*fd = BPF_CORE_READ(regs, di);
	*cmd = (__u32)BPF_CORE_READ(regs, si);
	*arg = BPF_CORE_READ(regs, dx);
	return true;
}

static __always_inline bool is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("raw_tp/sys_enter")
int clear_dirty_log_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 fd, arg;
	__u32 cmd;
	if (!is_target() || !ioctl_args((struct pt_regs *)ctx->args[0], ctx->args[1], &fd, &cmd, &arg) ||
	    cmd != DTRACK_KVM_CLEAR_DIRTY_LOG)
		return 0;
	struct kvm_clear_dirty_log log = {};
	if (bpf_probe_read_user(&log, sizeof(log), (void *)arg) != 0)
		goto unreadable;
	struct kvm *kvm = kvm_of_fd(fd);
	if (!kvm)
		return 0;
	__sync_fetch_and_add(&totals.vmm_harvests, 1);
	if ((log.slot >> 16) != 0)
		return 0; /* SMM memory: not tracked */
	struct kvm_memory_slot *slot = memslot_of(kvm, log.slot & 0xffff);
	if (!slot)
		return 0; /* the kernel refuses it too */
	const __u64 *bits = (const __u64 *)BPF_CORE_READ(slot, dirty_bitmap);
	__u32 id = log.slot & 0xffff;
	/* A memslot first met here: its bitmap is the start (as in read_memslot). */
	if (id >= DTRACK_DIRTY_LOG_MAX_SLOTS || !bits || bitmap_seen[id] != (__u64)bits)
		return 0;
	/* The kernel wants first_page and num_pages in whole words (but the last). */
	struct words_walk ww = {.slot = id,
				.action = CLEAR_BEFORE,
				.first_word = log.first_page / 64,
				.kernel_bits = bits,
				.user_bits = log.dirty_bitmap};
	__sync_fetch_and_add(&totals.pages_harvested, walk_words(&ww, ((__u64)log.num_pages + 63) / 64));
	return 0;
unreadable:
	__sync_fetch_and_add(&totals.unreadable, 1);
	return 0;
}

/* After KVM_CLEAR_DIRTY_LOG: the pages of the VMM's mask are write-protected
 * again, so each is new at its next write (see the top of this file). */
static int clear_dirty_log_exit(__u64 arg)
{
	struct kvm_clear_dirty_log log = {};
	if (bpf_probe_read_user(&log, sizeof(log), (void *)arg) != 0) {
		__sync_fetch_and_add(&totals.unreadable, 1);
		return 0;
	}
	if ((log.slot >> 16) != 0)
		return 0;
	struct words_walk ww = {.slot = log.slot & 0xffff,
				.action = CLEAR_AFTER,
				.first_word = log.first_page / 64,
				.user_bits = log.dirty_bitmap};
	walk_words(&ww, ((__u64)log.num_pages + 63) / 64);
	return 0;
}

SEC("raw_tp/sys_exit")
int dirty_log_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	__u64 fd, arg;
	__u32 cmd;
	if (!is_target() || (long)ctx->args[1] != 0 || !ioctl_args(regs, BPF_CORE_READ(regs, orig_ax), &fd, &cmd, &arg))
		return 0;
	if (cmd == DTRACK_KVM_CLEAR_DIRTY_LOG)
		return clear_dirty_log_exit(arg);
	if (cmd != DTRACK_KVM_GET_DIRTY_LOG)
		return 0;
	struct kvm_dirty_log log = {};
	if (bpf_probe_read_user(&log, sizeof(log), (void *)arg) != 0) {
		__sync_fetch_and_add(&totals.unreadable, 1);
		return 0;
	}
	struct kvm *kvm = kvm_of_fd(fd);
	if (!kvm)
		return 0;
	__sync_fetch_and_add(&totals.vmm_harvests, 1);
	if ((log.slot >> 16) != 0)
		return 0;
	__u32 id = log.slot & 0xffff;
	struct kvm_memory_slot *slot = memslot_of(kvm, id);
	if (!slot || id >= DTRACK_DIRTY_LOG_MAX_SLOTS)
		return 0;
	const __u64 *bits = (const __u64 *)BPF_CORE_READ(slot, dirty_bitmap);
	if (!bits || bitmap_seen[id] != (__u64)bits)
		return 0;
	struct words_walk ww = {.slot = id,
				.action = BPF_CORE_READ(kvm, manual_dirty_log_protect) ? GET_COPY : GET_TAKEN,
				.kernel_bits = bits,
				.user_bits = log.dirty_bitmap};
	__u64 fresh = walk_words(&ww, (BPF_CORE_READ(slot, npages) + 63) / 64);
	__sync_fetch_and_add(ww.action == GET_TAKEN ? &totals.pages_harvested : &totals.pages_observed, fresh);
	return 0;
}

#else /* no kernel BTF: no iterators and no CO-RE; userspace refuses before loading. */
struct bpf_iter__task_file;
SEC("iter/task_file")
int observe_bitmaps(struct bpf_iter__task_file *ctx)
{
	return 0;
}
SEC("raw_tp/sys_enter")
int clear_dirty_log_enter(void *ctx)
{
	return 0;
}
SEC("raw_tp/sys_exit")
int dirty_log_exit(void *ctx)
{
	return 0;
}
#endif
