/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * collector.h - the sampling pipeline shared by `record` and `agent`:
 * sampler + process tracking + symbolizer, delivering symbolized samples.
 */
#ifndef EMBER_COLLECTOR_H
#define EMBER_COLLECTOR_H

#include <stdint.h>
#include "sampler.h"
#include "symbolizer.h"
#include "unwinder.h"
#include "python.h"

struct collector;

/* One aggregated, symbolized sample. */
struct collector_sample {
	const struct sample_key *key;
	uint64_t count;
	const struct frame *frames;	/* root first: user frames, then kernel */
	int nframes;
	const char *exe;		/* executable path, NULL when unknown */
	const char *cgroup;		/* cgroup v2 path, NULL when unknown */
	uint32_t stack_id;		/* equal for samples with equal stacks within one
					 * drain (dense from 0 at each drain) */
};

typedef int (*collector_sample_fn)(void *ctx, const struct collector_sample *s);

struct collector_stats {
	uint64_t bpf[CNT_MAX];		/* the BPF side's counters */
	uint64_t unknown_frames;	/* sampled frames without a name, times their count */
	uint64_t maps_unreadable;	/* processes whose mappings could not be read */
	uint64_t processes_seen;
	uint64_t processes_exited;
	uint64_t processes_deferred;	/* new processes whose read waited for them to settle */
	uint64_t processes_unread;	/* of them, those gone first (named from exit mappings) */
	uint64_t unwind_rescans;	/* mapping re-reads asked for by BPF (dlopen) */
	uint64_t exit_maps;		/* mapping dumps received for exited processes */
	uint64_t exe_reads;		/* /proc/PID/exe read: an exec'd path and file new to the agent */
	uint64_t exe_cached;		/* executables known from an earlier exec of the same path and file */
	uint64_t processes_reused;	/* a new process took a tracked process's pid */
	uint64_t stale_exits;		/* exits of a pid's earlier process, not applied to its new one */
	uint64_t processes_tracked;	/* processes known now (the gone ones until the next drain) */
	uint64_t paths_refused;		/* mapped files whose path led outside their process's root */
	uint64_t bpf_run_ns, bpf_run_cnt;
	uint64_t rss_bytes;		/* resident set size now, 0 when unknown */
	uint64_t memory_shrinks;	/* times symbol data was dropped for the memory limit */
	uint64_t heap_trims;		/* drains after which free heap pages went back */
	uint64_t page_releases;		/* in-drain returns of touched mapped-file pages */
	uint64_t heap_trimmed_bytes;	/* resident bytes those gave back */
	uint64_t cpus_sampled;		/* CPUs with a live perf event now */
	uint64_t cpus_reopened;		/* events opened on CPUs that came online later */
	struct symbolizer_stats sym;
	struct unwinder_stats unwind;	/* zeros with --unwind fp */
	struct python_stats python;
};

/*
 * Starts sampling, naming frames as @sym_opts says (NULL: defaults).
 * Returns NULL with errno set; the reason was logged.
 */
struct collector *collector__new(const struct sampler_opts *opts,
				 const struct symbolizer_opts *sym_opts);

/* NULL is a no-op. */
void collector__free(struct collector *c);

/*
 * Handles process events for up to @timeout_ms (new processes have their
 * mappings read at once).  Returns 0 or -errno; -EINTR on a signal.
 */
int collector__poll(struct collector *c, int timeout_ms);

/* Stops sampling before the last drain.  Returns 0 or -errno. */
int collector__stop(struct collector *c);

/*
 * Drains everything sampled so far, symbolizes it and hands each sample to
 * @fn; then forgets processes that exited before the drain.  Returns 0, the
 * first non-zero result of @fn, or -errno.
 */
int collector__drain(struct collector *c, collector_sample_fn fn, void *ctx);

/*
 * From now on, whenever the resident size passes @bytes (0: never) while
 * or after draining, drop the symbol data that can be rebuilt on demand.
 */
void collector__set_memory_limit(struct collector *c, uint64_t bytes);

/* What the kernel was probed to offer (see kfeat.h). */
const struct kfeat *collector__kfeat(struct collector *c);

/* Fills @st with running totals.  Returns 0 or -errno. */
int collector__stats(struct collector *c, struct collector_stats *st);

#endif /* EMBER_COLLECTOR_H */
