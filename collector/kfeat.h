/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * kfeat.h - what the running kernel offers ember, probed once at start-up
 * by asking the kernel itself (helper and map probes, BTF, a forked child),
 * never guessed from the version, so backports and distribution configs
 * count.  The sampler picks its program variant from this, `ember check`
 * prints it, and the agent logs it and exports it on /metrics.
 */
#ifndef EMBER_KFEAT_H
#define EMBER_KFEAT_H

#include <stdbool.h>
#include <stdio.h>

enum kfeat_id {
	KFEAT_BTF,		/* vmlinux BTF: CO-RE relocations, tp_btf programs */
	KFEAT_PERF_EVENT,	/* perf_event programs: sampling at all */
	KFEAT_RINGBUF,		/* ring buffer maps: process events */
	KFEAT_BPF_LOOP,		/* bpf_loop(): table (.eh_frame) unwinding */
	KFEAT_TASK_PT_REGS,	/* bpf_task_pt_regs(): tables for kernel-mode samples */
	KFEAT_NO_PREALLOC,	/* lazily allocated hash maps in perf_event programs */
	KFEAT_VMA_ITER,		/* open-coded VMA iterator kfuncs: mappings at exit */
	KFEAT_EXIT_TP_MM,	/* sched_process_exit still sees the mm */
	KFEAT_FENTRY,		/* fentry programs attach (on do_exit) */
	KFEAT_VMA_LIST,		/* mm->mmap VMA list (before 6.1): mappings at first sample */
	KFEAT_FIND_VMA,		/* bpf_find_vma(): mappings of a first sample's pcs */
	KFEAT_BATCH_OPS,	/* batched map lookup-and-delete */
	KFEAT_BPF_STATS,	/* BPF run-time statistics */
	KFEAT_MAX
};

struct kfeat {
	bool has[KFEAT_MAX];
	int err[KFEAT_MAX];	/* why a probe said no, when it failed (-errno) */
	bool disabled[KFEAT_MAX]; /* turned off by EMBER_DISABLE_FEATURES (tests) */
	char release[65];	/* uname -r */
};

/*
 * Probes every feature.  Never fails: a probe that cannot run (no
 * privilege, no BTF) reports the feature missing with its error.  Features
 * named in $EMBER_DISABLE_FEATURES (comma-separated) count as missing.
 */
void kfeat__probe(struct kfeat *kf);

/* The feature's name as /metrics and `ember check` show it. */
const char *kfeat_name(enum kfeat_id id);

/* Prints one line per feature: name, yes/no, what needs it or what ember does instead. */
void kfeat__print(const struct kfeat *kf, FILE *out);

/* Logs one line at info level: the kernel and each feature's yes/no. */
void kfeat__log(const struct kfeat *kf);

#endif /* EMBER_KFEAT_H */
