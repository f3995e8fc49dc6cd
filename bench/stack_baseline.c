// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * stack_baseline.c - loads stack_baseline.bpf.c on every online CPU at HZ
 * (PERF_COUNT_SW_CPU_CLOCK, as ember samples) for SECONDS, then prints the
 * program's "run_time_ns=N run_cnt=N" (kernel.bpf_stats_enabled must be on).
 * usage: stack_baseline HZ SECONDS
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "stack_baseline.skel.h"

int main(int argc, char **argv)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
	};
	int hz = argc > 1 ? atoi(argv[1]) : 999, secs = argc > 2 ? atoi(argv[2]) : 5;
	int ncpus = libbpf_num_possible_cpus(), cpu, fd, ret = 1;
	struct stack_baseline_bpf *skel = NULL;
	struct bpf_link **links = NULL;
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (hz <= 0 || secs <= 0 || ncpus <= 0) {
		fprintf(stderr, "usage: stack_baseline HZ SECONDS\n");
		return 2;
	}
	attr.sample_period = 1000000000ULL / hz;
	skel = stack_baseline_bpf__open_and_load();
	links = calloc(ncpus, sizeof(*links));
	if (!skel || !links) {
		fprintf(stderr, "stack_baseline: cannot load: %s\n", strerror(errno));
		goto cleanup;
	}
	for (cpu = 0; cpu < ncpus; cpu++) {
		fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0)
			continue;	/* offline CPU */
		links[cpu] = bpf_program__attach_perf_event(skel->progs.baseline, fd);
		if (!links[cpu]) {
			close(fd);
			fprintf(stderr, "stack_baseline: cannot attach on CPU %d\n", cpu);
			goto cleanup;
		}
	}
	sleep(secs);
	if (bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.baseline), &info, &len))
		goto cleanup;
	printf("run_time_ns=%llu run_cnt=%llu\n", (unsigned long long)info.run_time_ns,
	       (unsigned long long)info.run_cnt);
	ret = 0;
cleanup:
	for (cpu = 0; links && cpu < ncpus; cpu++)
		bpf_link__destroy(links[cpu]);
	free(links);
	stack_baseline_bpf__destroy(skel);
	return ret;
}
