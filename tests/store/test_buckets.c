// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_buckets.c - store__proc_buckets() (the timeline and process list)
 * must give exactly the sums store__query() gives for the same windows,
 * per process and bucket, with filters, over raw and rolled-up windows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "test_store.h"

#define NB 64			/* buckets compared at most */
#define NP 5			/* PA, PB, PC, then "app" and "other" merged by a rollup (pid 0) */

/* Per bucket and process (by pid / 100 - 1): samples. */
struct grid {
	uint64_t v[NB][NP];
	int64_t from, step, last;	/* last bucket start seen, for the order */
	int unordered, stray;
};

static int proc_ix(const struct store_proc *p)
{
	int i = p->pid / 100 - 1;

	if (!p->pid)
		return strcmp(p->comm, "app") ? 4 : 3;
	return p->pid % 100 || i < 0 || i >= NP ? -1 : i;
}

static int on_bucket(void *ctx, int64_t start, const struct store_proc *p, uint64_t n)
{
	struct grid *g = ctx;
	int64_t k = g->step ? (start - g->from) / g->step : 0;
	int i = proc_ix(p);

	if (start < g->last)
		g->unordered = 1;
	g->last = start;
	if (i < 0 || k < 0 || k >= NB || start != g->from + k * g->step)
		g->stray = 1;
	else
		g->v[k][i] += n;
	return 0;
}

struct one {
	uint64_t v[NP];
	int stray;
};

static int on_sample(void *ctx, const struct store_proc *p, const struct frame *fr,
		     int n, uint64_t count)
{
	struct one *o = ctx;
	int i = proc_ix(p);

	(void)fr;
	(void)n;
	if (i < 0)
		o->stray = 1;
	else
		o->v[i] += count;
	return 0;
}

/* Random windows of 10 s over 2 h from @base. */
static int write_load(struct store *st, int64_t base)
{
	static const struct store_proc *procs[] = { &PA, &PB, &PC };
	struct store_window *w = NULL;
	uint32_t seed = 7;
	int i, j, err = 0;

	for (i = 0; i < 720 && !err; i++) {
		err = store__window_begin(st, base + i * 10 * SEC, 10 * SEC, &w);
		for (j = 0; j < 5 && !err; j++) {
			seed = seed * 1103515245u + 12345u;
			err = store__window_add(w, procs[(seed >> 8) % 3], (seed >> 12) % 2 ? F : S2,
						1 + (seed >> 16) % 3, 1 + (seed >> 20) % 50);
		}
		if (!err)
			err = store__window_commit(w);
		store__window_free(w);
		w = NULL;
	}
	return err;
}

/* Compares every bucket of [from, to) by @step against store__query(); 0 or a message. */
static int compare(struct store *st, struct store_filter f, int64_t step, char *why,
		   size_t len)
{
	struct grid *g = calloc(1, sizeof(*g));
	int64_t to = f.to_ms, k, nb;
	struct one o;
	int i, err;

	if (!g)
		return -ENOMEM;
	*g = (struct grid){ .from = f.from_ms, .step = step, .last = INT64_MIN };
	err = store__proc_buckets(st, &f, step, on_bucket, g);
	nb = step ? (to - f.from_ms + step - 1) / step : 1;
	if (err || g->unordered || g->stray || nb > NB) {
		snprintf(why, len, "step %lld: err %d unordered %d stray %d", (long long)step,
			 err, g->unordered, g->stray);
		err = -1;
	}
	for (k = 0; k < nb && !err; k++) {
		memset(&o, 0, sizeof(o));
		f.from_ms = g->from + k * step;
		f.to_ms = step && f.from_ms + step < to ? f.from_ms + step : to;
		err = store__query(st, &f, on_sample, &o);
		for (i = 0; i < NP && !err; i++)
			if (o.stray || o.v[i] != g->v[k][i]) {
				snprintf(why, len, "step %lld bucket %lld proc %d: %llu, query %llu",
					 (long long)step, (long long)k, i,
					 (unsigned long long)g->v[k][i], (unsigned long long)o.v[i]);
				err = -1;
			}
	}
	free(g);
	return err;
}

void test_proc_buckets(struct env *e)
{
	static const struct store_rollup_level lv[] = { { .age_ms = HOUR, .bucket_ms = MIN } };
	static const int64_t steps[] = { 0, 7 * MIN, 10 * MIN, HOUR };
	const int64_t base = T0 - T0 % HOUR;
	struct store_filter fs[] = {
		{ .from_ms = base, .to_ms = base + 2 * HOUR, .pid = -1 },
		{ .from_ms = base + 95 * SEC, .to_ms = base + 101 * MIN, .pid = -1 },
		{ .from_ms = base, .to_ms = base + 2 * HOUR, .comm = "app", .pid = -1 },
		{ .from_ms = base, .to_ms = base + 2 * HOUR, .pid = 300 },
		{ .from_ms = base, .to_ms = base + 2 * HOUR, .comm = "none", .pid = -1 },
	};
	const char *path = fresh(e, "buckets");
	struct store *st = NULL;
	char why[256] = "", msg[200] = "";
	size_t i, j;
	int err, round;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	CHECK(!write_load(st, base), "write failed");
	CHECK(store__proc_buckets(st, &fs[0], -1, on_bucket, NULL) == -EINVAL,
	      "negative bucket accepted");
	for (round = 0; round < 2; round++) {
		for (i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
			for (j = 0; j < sizeof(steps) / sizeof(steps[0]); j++)
				CHECK(!compare(st, fs[i], steps[j], msg, sizeof(msg)),
				      "%s (filter %zu, round %d)", msg, i, round);
		/* The same sums once the first hour is rolled up into 1 min windows. */
		CHECK(!store__rollup(st, base + 2 * HOUR, lv, 1), "rollup");
	}
out:
	store__free(st);
	cleanup(e);
	report(e, "proc_buckets_match_query", why);
}
