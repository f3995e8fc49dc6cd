/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * webproc.h - the agent's UI process (no capabilities, not root, webproc.c)
 * and the shared snapshot its /metrics reads (snapshot.c).
 */
#ifndef EMBER_WEBPROC_H
#define EMBER_WEBPROC_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "collector.h"
#include "kfeat.h"
#include "push.h"
#include "web.h"

/* The agent's own counters. */
struct agent_counts {
	uint64_t written, dropped, write_errors;	/* windows */
	uint64_t truncated;	/* samples whose stack was cut to the store's depth */
	uint64_t unstored;	/* samples a window could not take */
	uint64_t clock_steps;
	uint64_t evicted;	/* windows deleted, oldest first, for --max-size */
	int pending;
};

/* What the agent publishes after each drain, in memory both processes map. */
struct agent_snapshot {
	pthread_mutex_t lock;		/* process-shared */
	struct collector_stats stats;
	struct agent_counts n;
	struct kfeat kf;		/* what the kernel offers; valid once kf_set */
	bool kf_set;
	struct push_stats push;		/* valid when push_on (--push) */
	bool push_on;
};

/* A zeroed snapshot shared with processes forked later; NULL with errno set. */
struct agent_snapshot *snapshot__new(void);

/* NULL is a no-op. */
void snapshot__free(struct agent_snapshot *s);

/* /metrics from the snapshot @ctx (a web_metrics_source's collect). */
int snapshot__metrics(void *ctx, struct web_metrics *m);

struct webproc;

/*
 * Forks the UI process, which drops to the user ember when the agent is
 * root (giving it the store's group) and drops every capability, then
 * serves @o until SIGTERM or *@exiting.  Call it before any thread starts.
 * @o's metrics source runs in the child, so it must read only the
 * snapshot.  Returns 0 or a -errno from web__new() (or of the fork).
 */
int webproc__start(const struct web_opts *o, volatile sig_atomic_t *exiting,
		   struct webproc **out);

/* The port the child bound. */
int webproc__port(const struct webproc *wp);

/* Stops the child and waits for it.  NULL is a no-op. */
void webproc__stop(struct webproc *wp);

#endif /* EMBER_WEBPROC_H */
