// SPDX-License-Identifier: GPL-2.0
/* Watches one process's KVM dirty rings from the kernel (BpfSource,
 * lib/sources/bpf_source.cpp).
 *
 * kvm:kvm_dirty_ring_push fires once for every entry a vCPU pushes into its
 * dirty ring, i.e. once per page dirtied since the VMM last reset the ring.
 * Instead of streaming those events, the handler sets the page's bit in a
 * per-slot bitmap that userspace maps and takes words from; nothing is queued,
 * so nothing can overflow. Companion handlers count ring-full exits, ring
 * resets (and whether a full exit is still waiting for one) and the
 * process's own write faults.
 *
 * Every handler is written once (record_*, count_*) and has two entry points:
 *   raw_tp/  the tracepoint's C arguments (TP_PROTO); attaches by name, needs
 *            no tracefs, and BPF_PROG_TEST_RUN can run it on made-up
 *            arguments (the tests do);
 *   tp/      the formatted record (trace_event_raw_*); libbpf needs tracefs
 *            to find the event id. The fallback when raw_tp is refused.
 * Userspace loads one family or the other, never both. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "dirty_ring.h"
#include "page_fault_user.h"

char LICENSE[] SEC("license") = "GPL";

/* --- set by userspace before load ---------------------------------------- */
const volatile __u32 target_tgid = 0;	 /* the VMM's process id */
const volatile __u32 words_per_slot = 1; /* the bitmap words each slot owns */

/* --- maps, resized by userspace before load (bpf_map__set_max_entries) ---- */
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
	__type(value, struct dtrack_slot);
	__uint(max_entries, 1);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct dtrack_vcpu_counters);
	__uint(max_entries, 1);
} vcpus SEC(".maps");

struct dtrack_dirty_ring_totals totals = {};

/* --- reading kernel structures from raw_tp arguments ---------------------
 * With kernel BTF, CO-RE finds the field wherever this kernel put it. A
 * real tracepoint always passes kernel pointers; the read from user memory
 * is there for BPF_PROG_TEST_RUN, whose made-up ring lives in the test
 * process (it only runs when the kernel read fails). */
#ifdef DTRACK_VMLINUX_FALLBACK_H
/* No kernel BTF, so no CO-RE: include/linux/kvm_dirty_ring.h's layout,
 * unchanged since the ring appeared (5.11). struct kvm_vcpu's layout
 * depends on the kernel config, so without BTF its vcpu_id is unknown. */
struct kvm_dirty_ring {
	__u32 dirty_index;
	__u32 reset_index;
	__u32 size;
	__u32 soft_limit;
	void *dirty_gfns;
	int index;
};
struct kvm_vcpu;
#define read_field(dst, ptr, field)                                                                                    \
	(bpf_probe_read_kernel(dst, sizeof(*(dst)), &(ptr)->field) == 0 ||                                             \
	 bpf_probe_read_user(dst, sizeof(*(dst)), &(ptr)->field) == 0)
#else
#define read_field(dst, ptr, field)                                                                                    \
	(bpf_core_read(dst, sizeof(*(dst)), &(ptr)->field) == 0 ||                                                     \
	 bpf_core_read_user(dst, sizeof(*(dst)), &(ptr)->field) == 0)
#endif

/* The ring's index: the vCPU's KVM vcpu id (kvm_dirty_ring_alloc). */
static __always_inline int ring_index(const struct kvm_dirty_ring *ring)
{
	int index = -1;
	if (!read_field(&index, ring, index))
		return -1;
	return index;
}

static __always_inline int vcpu_id(const struct kvm_vcpu *vcpu)
{
#ifdef DTRACK_VMLINUX_FALLBACK_H
	return -1;
#else
	int id = -1;
	if (!read_field(&id, vcpu, vcpu_id))
		return -1;
	return id;
#endif
}

/* --- the handlers -------------------------------------------------------- */

static __always_inline bool is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/* The vCPU's counters, or NULL (then the event counts as unknown_vcpu). */
static __always_inline struct dtrack_vcpu_counters *vcpu_counters(int index)
{
	__u32 key = index;
	struct dtrack_vcpu_counters *c = NULL;
	if (index >= 0)
		c = bpf_map_lookup_elem(&vcpus, &key);
	if (!c)
		__sync_fetch_and_add(&totals.unknown_vcpu, 1);
	return c;
}

/* seen_end = max(seen_end, end). BPF has no atomic max: compare-and-swap
 * until it holds; each failed try means another CPU raised the value. */
static __always_inline void raise_seen_end(struct dtrack_slot *s, __u64 end)
{
	__u64 seen = s->seen_end;
	for (int i = 0; i < 16 && seen < end; i++) {
		__u64 prev = __sync_val_compare_and_swap(&s->seen_end, seen, end);
		if (prev == seen)
			break;
		seen = prev;
	}
}

/* One ring entry: page `offset` of memslot `slot` (as_id << 16 | id). */
static __always_inline void record_push(int ring, __u32 slot, __u64 offset)
{
	struct dtrack_vcpu_counters *c = vcpu_counters(ring);
	if (c)
		__sync_fetch_and_add(&c->pushes, 1);

	if (slot >> 16) { /* dtrack tracks address space 0 only */
		__sync_fetch_and_add(&totals.lost_address_space, 1);
		return;
	}
	__u32 id = slot;
	struct dtrack_slot *s = bpf_map_lookup_elem(&slots, &id);
	if (!s) {
		__sync_fetch_and_add(&totals.lost_slot, 1);
		return;
	}
	raise_seen_end(s, offset + 1);
	__u64 capacity = s->capacity;
	if (offset >= capacity) {
		__sync_fetch_and_add(capacity ? &totals.lost_offset : &totals.lost_slot, 1);
		return;
	}
	__u32 key = id * words_per_slot + (__u32)(offset / DTRACK_BITS_PER_WORD);
	__u64 *word = bpf_map_lookup_elem(&dirty_words, &key);
	if (!word) { /* capacity beyond the slot's words: userspace never sets that */
		__sync_fetch_and_add(&totals.lost_offset, 1);
		return;
	}
	/* A bit already set is still there for a harvest that comes after this
	 * push, so the locked OR is only needed when it is clear. */
	__u64 bit = 1ULL << (offset % DTRACK_BITS_PER_WORD);
	if (!(*word & bit))
		__sync_fetch_and_or(word, bit);
}

/* A vCPU's full exits all come from its own thread, one at a time, so the
 * pending fields need no compare-and-swap here; only a reset (another
 * thread) clears them. */
static __always_inline void count_full_exit(int vcpu)
{
	struct dtrack_vcpu_counters *c = vcpu_counters(vcpu);
	if (!c)
		return;
	__sync_fetch_and_add(&c->full_exits, 1);
	if (!c->full_pending_since_ns) {
		c->full_exits_before_pending = c->full_exits - 1;
		c->full_pending_since_ns = bpf_ktime_get_ns();
	}
}

static __always_inline void count_reset(int ring)
{
	struct dtrack_vcpu_counters *c = vcpu_counters(ring);
	if (!c)
		return;
	__sync_fetch_and_add(&c->resets, 1);
	c->full_pending_since_ns = 0; /* the ring has room again */
}

static __always_inline void count_user_fault(unsigned long error_code)
{
	__sync_fetch_and_add(&totals.user_faults, 1);
	if (error_code & X86_PF_WRITE)
		__sync_fetch_and_add(&totals.user_write_faults, 1);
}

/* --- raw_tp/ entry points: TP_PROTO arguments ---------------------------- */

/* TP_PROTO(struct kvm_dirty_ring *ring, u32 slot, u64 offset) */
SEC("raw_tp/kvm_dirty_ring_push")
int BPF_PROG(dirty_ring_push_raw, struct kvm_dirty_ring *ring, __u32 slot, __u64 offset)
{
	if (is_target())
		record_push(ring_index(ring), slot, offset);
	return 0;
}

/* TP_PROTO(struct kvm_vcpu *vcpu) */
SEC("raw_tp/kvm_dirty_ring_exit")
int BPF_PROG(dirty_ring_exit_raw, struct kvm_vcpu *vcpu)
{
	if (is_target())
		count_full_exit(vcpu_id(vcpu));
	return 0;
}

/* TP_PROTO(struct kvm_dirty_ring *ring) */
SEC("raw_tp/kvm_dirty_ring_reset")
int BPF_PROG(dirty_ring_reset_raw, struct kvm_dirty_ring *ring)
{
	if (is_target())
		count_reset(ring_index(ring));
	return 0;
}

/* TP_PROTO(unsigned long address, struct pt_regs *regs, unsigned long error_code) */
SEC("raw_tp/page_fault_user")
int BPF_PROG(page_fault_user_raw, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	if (is_target())
		count_user_fault(error_code);
	return 0;
}

/* --- tp/ entry points: formatted records --------------------------------- */

SEC("tp/kvm/kvm_dirty_ring_push")
int dirty_ring_push_tp(struct trace_event_raw_kvm_dirty_ring_push *rec)
{
	if (is_target())
		record_push(rec->index, rec->slot, rec->offset);
	return 0;
}

SEC("tp/kvm/kvm_dirty_ring_exit")
int dirty_ring_exit_tp(struct trace_event_raw_kvm_dirty_ring_exit *rec)
{
	if (is_target())
		count_full_exit(rec->vcpu_id);
	return 0;
}

SEC("tp/kvm/kvm_dirty_ring_reset")
int dirty_ring_reset_tp(struct trace_event_raw_kvm_dirty_ring_reset *rec)
{
	if (is_target())
		count_reset(rec->index);
	return 0;
}

/* exceptions:page_fault_user's record: page_fault_user.h. */
SEC("tp/exceptions/page_fault_user")
int page_fault_user_tp(struct page_fault_user_record *rec)
{
	if (is_target())
		count_user_fault(rec->error_code);
	return 0;
}
