// SPDX-License-Identifier: GPL-2.0
/* Trivial BPF programs used by `dtrack doctor` (lib/probe/) to find out which
 * program types this kernel loads and attaches. One program per type; the
 * probe switches autoload off for all but the one it tests, so a type the
 * kernel refuses never blocks the others.
 *
 * Programs that attach count how often they fired for the probing process
 * (probe_tgid, set before load), so a probe can prove "attached and fired",
 * not just "attached". */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 probe_tgid = 0;

__u64 tracepoint_hits = 0;
__u64 raw_tracepoint_hits = 0;

static __always_inline void count_if_prober(__u64 *counter)
{
	if ((bpf_get_current_pid_tgid() >> 32) == probe_tgid)
		__sync_fetch_and_add(counter, 1);
}

/* tp/: classic tracepoint; libbpf needs tracefs to look up the event id. */
SEC("tp/raw_syscalls/sys_enter")
int probe_tracepoint(void *ctx)
{
	count_if_prober(&tracepoint_hits);
	return 0;
}

/* raw_tp/: attaches by name, no tracefs needed. */
SEC("raw_tp/sys_enter")
int probe_raw_tracepoint(struct bpf_raw_tracepoint_args *ctx)
{
	count_if_prober(&raw_tracepoint_hits);
	return 0;
}

/* Only run through BPF_PROG_TEST_RUN, never attached: echoes args[0] + 1 so
 * the caller sees that its own context reached the program. */
SEC("raw_tp/sys_enter")
int probe_test_run(struct bpf_raw_tracepoint_args *ctx)
{
	return (int)(ctx->args[0] + 1);
}

/* The KVM dirty ring tracepoints the eBPF sidecar source hooks. They take
 * 1 to 3 arguments; these programs read none, so they attach to any. */
SEC("raw_tp/kvm_dirty_ring_push")
int probe_kvm_dirty_ring_push(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

SEC("raw_tp/kvm_dirty_ring_reset")
int probe_kvm_dirty_ring_reset(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

SEC("raw_tp/kvm_dirty_ring_exit")
int probe_kvm_dirty_ring_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

/* BTF-typed tracing programs (BPF trampolines / BTF raw tracepoints).
 * bpf_fentry_test1 is a noinline kernel function that exists for exactly
 * this kind of test (net/bpf/test_run.c). */
SEC("fentry/bpf_fentry_test1")
int probe_fentry(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int probe_tp_btf(void *ctx)
{
	return 0;
}

SEC("kprobe/bpf_fentry_test1")
int probe_kprobe(void *ctx)
{
	return 0;
}
