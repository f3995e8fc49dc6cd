// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * stack_baseline.bpf.c - the bench's yardstick: the least a stack profiler
 * does per sample, a kernel and a user stack id and one hash update
 * (bpftrace's `profile:hz:N { @[kstack, ustack] = count(); }`).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define MAX_DEPTH 127

struct bkey {
	__u32 pid;
	__s32 kstack, ustack;
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bkey);
	__type(value, __u64);
} counts SEC(".maps");

SEC("perf_event")
int baseline(void *ctx)
{
	struct bkey k = { .pid = (__u32)bpf_get_current_pid_tgid() };
	__u64 one = 1, *v;

	k.kstack = bpf_get_stackid(ctx, &stacks, 0);
	k.ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
