/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/* profile.h - the ABI shared by profile.bpf.c and the collector. */
#ifndef EMBER_PROFILE_H
#define EMBER_PROFILE_H

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif
#ifndef MAX_STACK_DEPTH
#define MAX_STACK_DEPTH 127
#endif
#ifndef MAX_STACKS
#define MAX_STACKS 16384
#endif
#ifndef MAX_COUNTS
#define MAX_COUNTS 32768
#endif
#ifndef MAX_TARGET_PIDS
#define MAX_TARGET_PIDS 1024
#endif

/* Aggregation key: one row per (thread, kernel stack, user stack). */
struct sample_key {
	__u32 tgid;
	__u32 pid;
	__s32 kstack_id;	/* < 0: none (user-mode sample, or walk failed) */
	__s32 ustack_id;	/* < 0: none (kernel thread, or walk failed) */
	char comm[TASK_COMM_LEN];
};

/* Events sent to user space through the ring buffer. */
enum ember_event_type {
	EVENT_NEW_PROCESS = 1,	/* first sample of a tgid (or first since exec) */
	EVENT_EXIT = 2,		/* a sampled tgid exited */
};

struct ember_event {
	__u32 type;
	__u32 tgid;
};

/*
 * Per-CPU counters of everything the BPF side does and loses.  The order is
 * ABI: the collector sums each slot over all CPUs.
 */
#define EMBER_BPF_COUNTERS(X)						\
	X(SAMPLES, "samples")						\
	X(KSTACK_FAULT, "kernel_walk_failed")				\
	X(KSTACK_COLLISION, "kernel_stack_collision")			\
	X(KSTACK_FULL, "kernel_stack_map_full")				\
	X(USTACK_FAULT, "user_walk_failed")				\
	X(USTACK_COLLISION, "user_stack_collision")			\
	X(USTACK_FULL, "user_stack_map_full")				\
	X(COUNTS_FULL, "counts_map_full")				\
	X(EVENTS_LOST, "process_events_lost")

#define X(id, name) CNT_##id,
enum ember_counter { EMBER_BPF_COUNTERS(X) CNT_MAX };
#undef X

#endif /* EMBER_PROFILE_H */
