/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * sampler.h - owns the BPF side: perf events on every online CPU, the loaded
 * profile program, and the double-buffered maps it is drained through.
 */
#ifndef EMBER_SAMPLER_H
#define EMBER_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "profile.h"

struct sampler;
struct kfeat;

struct sampler_opts {
	unsigned int freq;		/* samples per second per CPU */
	bool kernel_stacks;
	bool user_stacks;
	bool include_idle;
	const int *pids;		/* only these tgids, when npids > 0 */
	int npids;
	enum unwind_mode unwind;	/* UNWIND_MODE_FP or UNWIND_MODE_AUTO */
	uint32_t unwind_rows;		/* capacity of the unwind row pool */
	uint32_t unwind_files;		/* ELF files with tables at once; 0: MAX_UNWIND_FILES */
	bool bpf_stats;			/* turn on the kernel's BPF run-time accounting */
	bool no_python;			/* do not walk CPython frames (they need tables) */
	const struct kfeat *kfeat;	/* the kernel already probed; NULL: probe it */
};

/* The maps the unwind-table manager fills (see bpf/profile.h). */
struct sampler_unwind_maps {
	int rows_fd;			/* ARRAY of struct unwind_row, mmapable */
	uint32_t rows_max;
	int files_fd;			/* ARRAY of struct unwind_file */
	uint32_t files_max;
	int procs_fd;			/* HASH tgid -> struct unwind_proc */
	int inodes_fd;			/* HASH inode -> struct unwind_inode; -1: unused */
	int py_procs_fd;		/* HASH tgid -> struct py_proc; -1: no Python walk */
	volatile uint32_t *gen;		/* bumped after each change: BPF's cached rows go stale */
};

/* One aggregated row; ips arrays are 0-terminated, leaf first. */
struct sampler_row {
	const struct sample_key *key;
	uint64_t count;
	const uint64_t *kips;		/* NULL when there is no kernel stack */
	const uint64_t *uips;		/* NULL when there is no user stack */
};

typedef int (*sampler_row_fn)(void *ctx, const struct sampler_row *row);
/*
 * A process event; @data is the whole event, its size checked for its
 * type (struct ember_maps_event for EVENT_MAPS, with n checked against
 * MAX_EXIT_VMAS; struct ember_exec_event for EVENT_EXEC).  Strings in it
 * are not checked: NUL-terminate them.
 */
typedef void (*sampler_proc_fn)(void *ctx, uint32_t type, uint32_t tgid, const void *data);

/*
 * Loads the program and starts sampling.  Returns NULL with errno set; the
 * reason has been logged.
 */
struct sampler *sampler__new(const struct sampler_opts *opts);

/* Stops sampling and frees everything; NULL is a no-op. */
void sampler__free(struct sampler *s);

/*
 * Stops sampling on every CPU (maps stay readable), so a final drain and
 * the counters agree exactly.  Returns 0 or -errno.
 */
int sampler__stop(struct sampler *s);

/*
 * Waits up to @timeout_ms for process events and calls @fn for each (type is
 * an enum ember_event_type).  Returns the number handled or -errno (-EINTR
 * on a signal).
 */
int sampler__poll(struct sampler *s, int timeout_ms, sampler_proc_fn fn, void *ctx);

/*
 * Switches sampling to the other half of the maps, then hands every row of
 * the idle half to @fn and clears it.  No sample is lost or counted twice.
 * Returns 0, the first negative result of @fn, or -errno.
 */
int sampler__drain(struct sampler *s, sampler_row_fn fn, void *ctx);

/*
 * Tells the BPF side that user space has read @tgid's maps, so it sends no
 * EVENT_MAPS at exit; a process exec'd meanwhile keeps its stale mark.
 * Returns 0 or -errno.
 */
int sampler__mark_read(struct sampler *s, uint32_t tgid);

/* True when mappings are sent at exit (EVENT_MAPS). */
bool sampler__exit_maps(struct sampler *s);

/* Which hook sends them ("fentry do_exit", ...), or NULL. */
const char *sampler__exit_hook(struct sampler *s);

/*
 * Where mappings of short-lived processes come from: the exit hook, or
 * the first sample ("first sample (VMA list)", ...); NULL: nowhere.
 */
const char *sampler__maps_hook(struct sampler *s);

/* What the kernel was probed to offer before loading. */
const struct kfeat *sampler__kfeat(struct sampler *s);

/* Fills @m with the unwind maps' fds (owned by the sampler). */
void sampler__unwind_maps(struct sampler *s, struct sampler_unwind_maps *m);

/* True when the loaded program unwinds with tables (it may have fallen back). */
bool sampler__unwinds(struct sampler *s);

/* True when it also seeds new processes' unwind entries (bpf_find_vma). */
bool sampler__seeds(struct sampler *s);

/*
 * Opens events on CPUs that came online since the last call (or went
 * offline and came back, which kills their old events).  Cheap: one read
 * per CPU, at most once a second.  Returns 0 or -errno.
 */
int sampler__check_cpus(struct sampler *s);

/* CPUs with a live event now, and events opened after the start. */
void sampler__cpu_stats(struct sampler *s, uint64_t *sampled, uint64_t *reopened);

/* True when BPF counter @id counts something lost or failed. */
bool sampler_counter_is_loss(int id);

/* Sums the per-CPU counters into @out (CNT_MAX slots).  Returns 0 or -errno. */
int sampler__counters(struct sampler *s, uint64_t out[CNT_MAX]);

/*
 * Reports the sampling program's total run time and run count (kernel
 * bpf_stats: enabled by sampler__new when opts->bpf_stats asked for it, as
 * it accounts every BPF program on the host, or by the sysctl
 * kernel.bpf_stats_enabled; zeros otherwise).
 */
void sampler__prog_stats(struct sampler *s, uint64_t *run_ns, uint64_t *run_cnt);

/* The counter names, in enum ember_counter order. */
extern const char *const sampler_counter_names[CNT_MAX];

#endif /* EMBER_SAMPLER_H */
