// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * variant.c - picks the variant of profile.bpf.c the probed kernel takes
 * (table unwinding or frame pointers, preallocated maps or not, where the
 * mappings of short-lived processes come from), loads it, and falls back
 * to the plain frame-pointer program if the verifier still refuses it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "internal.h"
#include "log.h"

/*
 * Prints the end of a verifier log, where the verifier says why it gave
 * up; the whole log (a million instructions' worth) only at -vv.
 */
static int print_verifier_tail(const char *fmt, va_list ap)
{
	const char *end, *p;
	char *msg = NULL;
	int lines = 0, n;

	n = vasprintf(&msg, fmt, ap);
	if (n < 0)
		return n;
	end = strstr(msg, "-- END PROG LOAD LOG --");
	if (!end)
		end = msg + n;
	for (p = end; p > msg && lines < 4; p--)
		if (p[-1] == '\n' && p != end)
			lines++;
	fprintf(stderr, "ember: libbpf: %.*s[...]\n%.*s(-vv prints the whole verifier log)\n",
		(int)strcspn(msg, "\n") + 1, msg, (int)(end - p), p);
	free(msg);
	return n;
}

/* libbpf's messages, at our log level; verifier logs cut to their end. */
int sampler_libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_get_level() < (level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG))
		return 0;
	if (log_get_level() < LOG_DEBUG && strstr(fmt, "BEGIN PROG LOAD LOG"))
		return print_verifier_tail(fmt, ap);
	fputs("ember: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

static int set_targets(struct sampler *s, const struct sampler_opts *opts)
{
	int fd = bpf_map__fd(s->skel->maps.targets);
	__u8 one = 1;
	int i;

	for (i = 0; i < opts->npids; i++) {
		__u32 pid = opts->pids[i];

		if (bpf_map_update_elem(fd, &pid, &one, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;
	const struct ember_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (e->type == EVENT_MAPS &&
	    (size < sizeof(struct ember_maps_event) ||
	     ((const struct ember_maps_event *)data)->n > MAX_EXIT_VMAS))
		return 0;
	if (e->type == EVENT_EXEC && size < sizeof(struct ember_exec_event))
		return 0;
	if (e->type == EVENT_NEW_PROCESS && size < sizeof(struct ember_proc_event))
		return 0;
	if (e->type == EVENT_PY_STACK && size < sizeof(struct ember_py_stack_event))
		return 0;
	s->proc_fn(s->proc_ctx, e->type, e->tgid, data);
	s->handled++;
	return 0;
}

/*
 * Attaches the tracepoint programs one by one: each is best effort, as
 * sampling works without them.  The exit-time dump goes first so it runs
 * before on_exit (which drops the process's `seen` entry) at every exit.
 */
static void attach_tracking(struct sampler *s)
{
	struct profile_bpf *skel = s->skel;
	struct bpf_program *exit_prog = NULL;
	struct bpf_link **exit_link = NULL;

	if (bpf_program__autoload(skel->progs.exit_maps_tp)) {
		exit_prog = skel->progs.exit_maps_tp;
		exit_link = &skel->links.exit_maps_tp;
		s->exit_hook = "tracepoint sched_process_exit";
	} else if (bpf_program__autoload(skel->progs.exit_maps_fentry)) {
		exit_prog = skel->progs.exit_maps_fentry;
		exit_link = &skel->links.exit_maps_fentry;
		s->exit_hook = "fentry do_exit";
	}
	if (exit_prog) {
		*exit_link = bpf_program__attach(exit_prog);
		if (!*exit_link) {
			log_warn("mappings of short-lived processes are not sent at exit: "
				 "attaching to %s failed: %s", s->exit_hook, strerror(errno));
			s->exit_hook = NULL;
		}
	}
	/* nothing needs reading at once: events come in batches (collector__poll) */
	skel->bss->batch_events = s->exit_hook != NULL;
	skel->links.on_exec = bpf_program__attach(skel->progs.on_exec);
	if (!skel->links.on_exec)
		log_warn("process exec tracking unavailable: %s", strerror(errno));
	skel->links.on_exit = bpf_program__attach(skel->progs.on_exit);
	if (!skel->links.on_exit)
		log_warn("process exit tracking unavailable: %s", strerror(errno));
}

/* Preallocated unwind maps (before 6.1) are smaller: they cost memory unused. */
#define PREALLOC_UNWIND_PROCS 1024
#define PREALLOC_DW_STACKS 4096

/*
 * Sizes the maps only one variant uses: without tables they shrink to one
 * entry; where perf_event programs need preallocated hash maps they lose
 * BPF_F_NO_PREALLOC and most of their entries.
 */
static int size_unwind_maps(struct sampler *s, const struct sampler_opts *opts, bool tables,
			    bool seed)
{
	struct profile_bpf *skel = s->skel;
	struct bpf_map *lazy[] = { skel->maps.unwind_procs, skel->maps.ustacks_dw0,
				   skel->maps.ustacks_dw1, skel->maps.py_procs };
	unsigned int i;
	int err = 0;

	err = bpf_map__set_max_entries(skel->maps.unwind_rows,
				       tables && opts->unwind_rows ? opts->unwind_rows : 1) ?:
	      bpf_map__set_max_entries(skel->maps.unwind_files,
				       !tables ? 1 : opts->unwind_files ?: MAX_UNWIND_FILES) ?:
	      bpf_map__set_max_entries(skel->maps.unwind_inodes,
				       !seed ? 1 : opts->unwind_files ?: MAX_UNWIND_FILES);
	for (i = 0; i < sizeof(lazy) / sizeof(lazy[0]) && !err; i++) {
		if (!tables)
			err = bpf_map__set_max_entries(lazy[i], 1);
		else if (!s->kf.has[KFEAT_NO_PREALLOC])
			err = bpf_map__set_map_flags(lazy[i], 0) ?:
			      bpf_map__set_max_entries(lazy[i], i == 1 || i == 2 ?
							PREALLOC_DW_STACKS : PREALLOC_UNWIND_PROCS);
	}
	/* the inode map stays at the files' size: it is small */
	if (!err && !s->kf.has[KFEAT_NO_PREALLOC])
		err = bpf_map__set_map_flags(skel->maps.unwind_inodes, 0);
	return err;
}

/*
 * Without an exit hook, mappings go with the first sample: from the VMA
 * list where there is one (before 6.1), else from bpf_find_vma(), which
 * only the table program may call.
 */
static enum start_maps_mode start_maps_mode(const struct kfeat *kf, bool tables, bool exit_maps)
{
	if (exit_maps)
		return START_MAPS_NONE;
	if (kf->has[KFEAT_VMA_LIST])
		return START_MAPS_LIST;
	if (tables && kf->has[KFEAT_FIND_VMA])
		return START_MAPS_FIND_VMA;
	return START_MAPS_NONE;
}

/*
 * Loads one variant: @tables picks do_sample_dw, @seed has it seed new
 * processes' unwind entries, @exit_maps the exit-time dump (on the hook
 * the kernel was probed to have), @start_maps how mappings go with first
 * samples otherwise.
 */
static int load(struct sampler *s, const struct sampler_opts *opts, bool tables, bool seed,
		bool exit_maps, enum start_maps_mode start_maps)
{
	bool tp = exit_maps && s->kf.has[KFEAT_EXIT_TP_MM];
	int err;

	s->skel = profile_bpf__open();
	if (!s->skel)
		return -errno;
	s->tables = tables;
	s->seed = seed;
	s->skel->rodata->seed_procs = seed;
	bpf_program__set_autoload(s->skel->progs.do_sample, !tables);
	bpf_program__set_autoload(s->skel->progs.do_sample_dw, tables);
	bpf_program__set_autoload(s->skel->progs.exit_maps_tp, tp);
	bpf_program__set_autoload(s->skel->progs.exit_maps_fentry, exit_maps && !tp);
	s->skel->rodata->kernel_stacks = opts->kernel_stacks;
	s->skel->rodata->user_stacks = opts->user_stacks;
	s->skel->rodata->include_idle = opts->include_idle;
	s->skel->rodata->filter_pids = opts->npids > 0;
	s->skel->rodata->start_maps = start_maps;
	/* CPython frames: only the table walk has the bpf_loop they run in */
	s->skel->rodata->python_unwind = tables && !opts->no_python;
	s->python = tables && !opts->no_python;
	err = size_unwind_maps(s, opts, tables, seed);
	if (err)
		return err;
	err = profile_bpf__load(s->skel);
	if (err)
		return err;
	err = set_targets(s, opts);
	if (err)
		return err;
	attach_tracking(s);
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_event, s, NULL);
	return s->rb ? 0 : -errno;
}

/* Undoes load(); the perf events are not open yet. */
static void unload(struct sampler *s)
{
	ring_buffer__free(s->rb);
	profile_bpf__destroy(s->skel);
	s->rb = NULL;
	s->skel = NULL;
	s->exit_hook = NULL;
	s->seed = false;
}

/*
 * Picks the program variant the probed kernel supports, says once what is
 * missing and what that costs, and loads it.  Should the verifier still
 * refuse the richer variant (its limits differ per kernel), the plain
 * frame-pointer program is loaded instead, with libbpf's reason logged.
 */
int sampler_load(struct sampler *s, const struct sampler_opts *opts)
{
	const struct kfeat *kf = &s->kf;
	bool tables = opts->unwind == UNWIND_MODE_AUTO;
	bool exit_maps = kf->has[KFEAT_VMA_ITER] &&
			 (kf->has[KFEAT_EXIT_TP_MM] || kf->has[KFEAT_FENTRY]);
	enum start_maps_mode start_maps;
	bool seed;
	int err;

	if (tables && (!kf->has[KFEAT_BPF_LOOP] || !kf->has[KFEAT_TASK_PT_REGS])) {
		log_warn("table unwinding unavailable: kernel %s lacks %s (Linux %s+); "
			 "user stacks use frame pointers only", kf->release,
			 kf->has[KFEAT_BPF_LOOP] ? "bpf_task_pt_regs" : "bpf_loop",
			 kf->has[KFEAT_BPF_LOOP] ? "5.15" : "5.17");
		tables = false;
	}
	start_maps = start_maps_mode(kf, tables, exit_maps);
	if (!exit_maps)
		log_info("mappings of short-lived processes are not sent at exit: kernel %s "
			 "lacks %s; %s", kf->release,
			 !kf->has[KFEAT_VMA_ITER] ? "the VMA iterator (Linux 6.7+)" :
			 "an exit hook that sees the mm (sched_process_exit 6.16+, or fentry)",
			 start_maps == START_MAPS_LIST ?
			 "they are sent with each process's first sample" :
			 start_maps == START_MAPS_FIND_VMA ?
			 "those of each process's first sampled stack are sent with it" :
			 "a process is named once user space has read its maps");
	/* new processes' entries seeded in BPF: bpf_find_vma (5.17+) */
	seed = tables && kf->has[KFEAT_FIND_VMA];
	err = load(s, opts, tables, seed, exit_maps, start_maps);
	if (err && err != -EPERM && seed) {
		log_warn("kernel %s refused seeding new processes' unwind entries in BPF (%s; "
			 "the verifier's reason is above): they use frame pointers until their "
			 "maps are read", kf->release, strerror(-err));
		unload(s);
		seed = false;
		err = load(s, opts, tables, seed, exit_maps, start_maps);
	}
	if (err && err != -EPERM && s->python) {
		/*
		 * The Python walk adds to what the verifier explores; a kernel
		 * refusing it keeps table unwinding without it (the CPython
		 * processes are then counted as unwalked).
		 */
		struct sampler_opts no_py = *opts;

		log_warn("kernel %s refused the Python frame walk (%s; the verifier's reason is "
			 "above): CPython processes show native frames only", kf->release,
			 strerror(-err));
		unload(s);
		no_py.no_python = true;
		err = load(s, &no_py, tables, seed, exit_maps, start_maps);
	}
	if (!err || err == -EPERM || (!tables && !exit_maps && !start_maps))
		return err;
	log_warn("kernel %s refused the program (%s; the verifier's reason is above): "
		 "loading the frame-pointer program alone (dropped:%s%s%s)", kf->release,
		 strerror(-err), tables ? " table-unwinding" : "", exit_maps ? " exit-maps" : "",
		 start_maps ? " first-sample-maps" : "");
	unload(s);
	return load(s, opts, false, false, false, START_MAPS_NONE);
}

