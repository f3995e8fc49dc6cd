// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * store_stall.c - how long the agent's main loop stalls on the store while
 * retention, rollups and size-cap evictions run on a full week of data.
 *
 * Builds, through the store API, the store a busy host leaves after 7 days
 * plus HOURS_OVER (so retention has work): 10 s windows for the last hour,
 * 1 min windows to 24 h, 10 min windows beyond, as the default rollups
 * leave them, each with short-lived processes (new pids) and a share of
 * new stacks.  Then it caps the store at its size and plays the agent:
 * one 10 s window every TICK_MS of real time, committed (evicting at the
 * cap as cmd/agent.c does), and every 6 windows the housekeeping, either
 * on the same thread (mode "sync", as the agent did) or handed to a
 * store_keeper thread (mode "keeper", as it does now).  The stall of a
 * window is the time the main thread spends on it in the store.
 *
 * usage: store_stall PATH [MODE [ROWS [WINDOWS [TICK_MS]]]]
 *        (defaults: keeper, 300 rows per 10 s window, 120 windows, 100 ms)
 * prints: stall_max_ms, stall_p99_ms, commit_median_ms, ...
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "store.h"

#define NSTACKS 6000
#define DEPTH 24
#define DAY (86400 * 1000LL)
#define HOUR (3600 * 1000LL)

struct gen {
	struct store *st;
	uint64_t rng;
	int rows;		/* rows per 10 s window */
	uint32_t next_pid;
	char names[NSTACKS / 4][40];
	int next_new;		/* stacks made new so far (shifts the pool) */
};

static uint64_t next_rand(struct gen *g)
{
	g->rng ^= g->rng << 13;
	g->rng ^= g->rng >> 7;
	g->rng ^= g->rng << 17;
	return g->rng;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stack @id: a prefix shared by groups of ids, then a tail of its own. */
static int make_stack(struct gen *g, uint64_t id, struct frame *f)
{
	static const char *const mods[] = { "/usr/bin/appd", "/usr/lib/libc.so.6", "/usr/lib/libssl.so.3" };
	int n = 0, k;

	for (k = 0; k < DEPTH; k++) {
		uint64_t h = k < 10 ? (id / 50) * 7919 + k * 104729 : id * 2654435761u + k * 40503;
		int fn = (int)(h % (NSTACKS / 4));

		f[n++] = (struct frame){ .name = g->names[fn], .module = mods[fn % 3], .line = fn };
	}
	return n;
}

/*
 * One window of @dur_ms starting at @start_ms, with @rows rows: processes
 * from a churning pool (most short-lived: a new pid), stacks mostly from a
 * pool, some new ever after.  Returns 0 or -errno.
 */
static int add_rows(struct gen *g, struct store_window *w, int rows)
{
	struct frame f[DEPTH];
	char comm[16], exe[32];
	struct store_proc p = { .comm = comm, .exe = exe };
	int i, n, err = 0;

	for (i = 0; i < rows && !err; i++) {
		uint64_t r = next_rand(g), id;
		int c = (int)(r % 40);

		if (i % 10 == 0)
			g->next_pid++;	/* a new short-lived process every 10 rows */
		snprintf(comm, sizeof(comm), "job%d", c % 12);
		snprintf(exe, sizeof(exe), "/usr/bin/job%d", c % 12);
		p.pid = c < 8 ? 100u + (uint32_t)c : g->next_pid;
		id = (r >> 8) % 50 ? (r >> 16) % NSTACKS : NSTACKS + (uint64_t)g->next_new++;
		n = make_stack(g, id, f);
		err = store__window_add(w, &p, f, n, 1 + (r >> 32) % 30);
	}
	return err;
}

static int write_window(struct gen *g, int64_t start, int64_t dur, int rows)
{
	struct store_window *w = NULL;
	int err;

	err = store__window_begin(g->st, start, dur, &w);
	if (!err)
		err = add_rows(g, w, rows);
	if (!err)
		err = store__window_commit(w);
	store__window_free(w);
	return err;
}

/* 7 days + @over_h hours ending at @end_ms, as the default rollups leave them. */
static int generate(struct gen *g, int64_t end_ms, int over_h)
{
	int64_t t = end_ms - 7 * DAY - over_h * HOUR;
	int err = 0;

	for (; !err && t < end_ms - DAY; t += 600000)
		err = write_window(g, t, 600000, g->rows * 4);
	for (; !err && t < end_ms - HOUR; t += 60000)
		err = write_window(g, t, 60000, g->rows * 2);
	for (; !err && t < end_ms; t += 10000)
		err = write_window(g, t, 10000, g->rows);
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Commits like cmd/agent.c's flush_pending(): at the cap, evicts and retries. */
static int commit_capped(struct gen *g, int64_t start, uint64_t *evicted)
{
	struct store_window *w = NULL;
	uint64_t n;
	int err, round;

	err = store__window_begin(g->st, start, 10000, &w);
	if (!err)
		err = add_rows(g, w, g->rows);
	if (!err)
		err = store__window_commit(w);
	for (round = 0; err == -ENOSPC && round < 6; round++) {
		if (store__evict(g->st, round, &n))
			break;
		*evicted += n;
		err = store__window_commit(w);
	}
	store__window_free(w);
	return err;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "keeper";
	int nwin = argc > 4 ? atoi(argv[4]) : 120;
	int tick_ms = argc > 5 ? atoi(argv[5]) : 100;
	static struct gen g = { .rng = 88172645463325252ULL };
	struct store_keeper *k = NULL;
	struct store_stats ss;
	double *stall, *commit, t0, t1, gen_s;
	uint64_t evicted = 0, n;
	int64_t end_ms, now_ms;
	int i, err, keeper;

	g.rows = argc > 3 ? atoi(argv[3]) : 300;
	keeper = !strcmp(mode, "keeper");
	if (argc < 2 || (!keeper && strcmp(mode, "sync")) || g.rows <= 0 || nwin <= 0 || tick_ms < 0) {
		fprintf(stderr, "usage: store_stall PATH [sync|keeper [ROWS [WINDOWS [TICK_MS]]]]\n");
		return 2;
	}
	for (i = 0; i < NSTACKS / 4; i++)
		snprintf(g.names[i], sizeof(g.names[i]), "app::mod%d::function_%d", i % 23, i);
	stall = calloc(nwin, sizeof(*stall));
	commit = calloc(nwin, sizeof(*commit));
	if (!stall || !commit)
		return 1;
	unlink(argv[1]);
	err = store__open(argv[1], 0, &g.st);
	end_ms = wall_ms() - 60000;
	t0 = now_s();
	if (!err)
		err = generate(&g, end_ms, 2);
	gen_s = now_s() - t0;
	if (!err)
		err = store__stats(g.st, &ss);
	if (err) {
		fprintf(stderr, "store_stall: generating %s: %s\n", argv[1], store__strerror(err));
		return 1;
	}
	/* at the cap from the first window on */
	err = store__set_max_bytes(g.st, ss.bytes);
	if (!err && keeper)
		err = store_keeper__new(argv[1], 7 * DAY, ss.bytes, &k);
	if (err) {
		fprintf(stderr, "store_stall: %s\n", store__strerror(err));
		return 1;
	}
	now_ms = end_ms;
	for (i = 0; i < nwin; i++) {
		t0 = now_s();
		err = commit_capped(&g, now_ms, &evicted);
		t1 = now_s();
		now_ms += 10000;
		if (!err && i % 6 == 5) {
			if (keeper) {
				store_keeper__kick(k, now_ms);
			} else {
				err = store__retain(g.st, now_ms - 7 * DAY);
				if (!err)
					err = store__rollup(g.st, now_ms, NULL, 0);
				/* as the keeper does: at the cap a rollup needs a few pages first */
				if (err == -ENOSPC && !store__evict(g.st, 0, &n))
					err = store__rollup(g.st, now_ms, NULL, 0);
			}
		}
		if (err) {
			fprintf(stderr, "store_stall: window %d: %s\n", i, store__strerror(err));
			return 1;
		}
		commit[i] = (t1 - t0) * 1000;
		stall[i] = (now_s() - t0) * 1000;
		if (tick_ms)
			usleep(tick_ms * 1000);
	}
	store_keeper__free(k);
	qsort(stall, nwin, sizeof(*stall), cmp_double);
	qsort(commit, nwin, sizeof(*commit), cmp_double);
	printf("# store_stall %s: 7 d + 2 h, %d rows per 10 s window, %.1f MB cap, %d windows\n",
	       mode, g.rows, ss.bytes / 1048576.0, nwin);
	printf("store_stall_gen_s %.1f s\n", gen_s);
	printf("store_stall_samples %llu samples\n", (unsigned long long)ss.samples);
	printf("store_stall_%s_commit_median_ms %.1f ms\n", mode, commit[nwin / 2]);
	printf("store_stall_%s_p99_ms %.1f ms\n", mode, stall[nwin * 99 / 100]);
	printf("store_stall_%s_max_ms %.1f ms\n", mode, stall[nwin - 1]);
	printf("store_stall_%s_max_vs_commit %.1f ratio\n", mode, stall[nwin - 1] / commit[nwin / 2]);
	printf("store_stall_%s_evicted %llu windows\n", mode, (unsigned long long)evicted);
	store__free(g.st);
	free(stall);
	free(commit);
	return 0;
}
