// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * probe.bpf.c - start-up probes of what the running kernel's hooks see,
 * which neither BTF nor the kernel version tell reliably: whether
 * sched_process_exit still sees the exiting task's mm (Linux 6.16+), and
 * whether fentry programs attach (they need ftrace and BPF trampolines).
 * User space forks one child that exits at once and reads what fired.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* The child to watch; set before attaching. */
volatile __u32 target_tgid;

/* Results, read by user space after the child was reaped. */
volatile __u32 tp_hits;
volatile __u32 tp_saw_mm;
volatile __u32 fentry_hits;

SEC("tp_btf/sched_process_exit")
int BPF_PROG(probe_exit_tp, struct task_struct *p)
{
	struct task_struct *task = (void *)bpf_get_current_task();

	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	tp_hits++;
	if (BPF_CORE_READ(task, mm))
		tp_saw_mm = 1;
	return 0;
}

SEC("fentry/do_exit")
int BPF_PROG(probe_exit_fentry, long code)
{
	if (bpf_get_current_pid_tgid() >> 32 == target_tgid)
		fentry_hits++;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
