// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * gen.c - writes stores for the web tests through the store API:
 *   web_gen fixture PATH [T0_MS]   six 10 s windows of known stacks and odd names
 *                          (numbers documented in tests/web/fixture.py)
 *   web_gen busy PATH      24 h of a busy host as the rollups leave it:
 *                          1 min windows, then 10 s windows for the last hour,
 *                          and the hours' sums
 *   web_gen window PATH MS one more 10 s window starting at MS: the
 *                          fixture's first-half stacks (65 samples) and 7
 *                          samples of a JIT frame (72 in all)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store.h"

#define T0 1700000000000LL	/* 2023-11-14T22:13:20Z */
#define K FRAME_F_KERNEL

struct stack {
	struct store_proc proc;
	struct frame f[8];
	int n;
	uint64_t count[2];	/* per window in the first and second half */
};

#define U(nm, ln) { .name = nm, .module = "app", .file = "app.c", .line = ln }
#define KF(nm) { .name = nm, .module = "vmlinux", .flags = K }

static const struct stack fixture[] = {
	{ { "app", 100, "/usr/bin/app", NULL }, { U("main", 10), U("compute", 20), U("hot", 30) },
	  3, { 30, 60 } },
	{ { "app", 100, "/usr/bin/app", NULL },
	  { U("main", 12), U("io", 40), KF("sys_read"), KF("vfs_read") }, 4, { 10, 10 } },
	{ { "db", 200, "/usr/bin/db", "/system.slice/db.service" },
	  { { .name = "main", .module = "db" }, { .name = "query", .module = "db" } }, 2,
	  { 20, 10 } },
	{ { "evil", 300, NULL, NULL },
	  { { .name = "<img src=x onerror=alert(1)>", .module = "evil" },
	    { .name = "a;b", .module = "evil" },
	    { .name = "line\nbreak", .module = "evil", .flags = FRAME_F_INLINE },
	    { .name = "bad\xff\xfe\xc0\x80utf8", .module = "evil" },
	    { .name = "ctl\x01\x1f\x7f\"q\\", .module = "evil" },
	    { .name = "evil+0x1234", .module = "evil", .flags = FRAME_F_UNKNOWN } }, 6,
	  { 5, 5 } },
};

static int write_window(struct store *st, int64_t start, int64_t dur, const struct stack *s,
			int ns, int half)
{
	struct store_window *w = NULL;
	int err, i;

	err = store__window_begin(st, start, dur, &w);
	for (i = 0; i < ns && !err; i++)
		err = store__window_add(w, &s[i].proc, s[i].f, s[i].n, s[i].count[half]);
	if (!err)
		err = store__window_commit(w);
	store__window_free(w);
	return err;
}

static const struct stack jit[] = {
	{ { "node", 400, "/usr/bin/node", NULL },
	  { { .name = "main", .module = "node" },
	    { .name = "LazyCompile:*tick", .module = "perf-400.map", .flags = FRAME_F_JIT } }, 2,
	  { 7, 7 } },
};

static int gen_window(struct store *st, int64_t start)
{
	int err = write_window(st, start, 10000, fixture, sizeof(fixture) / sizeof(fixture[0]), 0);

	return err ?: write_window(st, start + 1, 9999, jit, 1, 0);
}

static int gen_fixture(struct store *st, int64_t t0)
{
	int i, err = store__set_period_ns(st, 10101010);

	for (i = 0; i < 6 && !err; i++)
		err = write_window(st, t0 + i * 10000LL, 10000, fixture,
				   sizeof(fixture) / sizeof(fixture[0]), i >= 3);
	return err;
}

/* A synthetic busy host: 200 processes, 20,000 stacks 15-30 deep. */
struct busy {
	char names[3000][48];
	char comms[200][16];
	struct frame fr[3000];
	struct store_proc procs[200];
	struct frame stack[32];
};

static void busy_init(struct busy *b)
{
	int i;

	for (i = 0; i < 3000; i++) {
		snprintf(b->names[i], sizeof(b->names[i]), "ns%d::Class::method_%d(int)", i % 50, i);
		b->fr[i] = (struct frame){ .name = b->names[i],
						 .module = i < 300 ? "vmlinux" : "libapp.so",
						 .flags = i < 300 ? K : 0, .line = i };
	}
	for (i = 0; i < 200; i++) {
		snprintf(b->comms[i], sizeof(b->comms[i]), "worker%d", i % 40);
		b->procs[i] = (struct store_proc){ .comm = b->comms[i], .pid = 1000 + i };
	}
}

/* Stack @r: user frames shared by groups, then a few kernel frames. */
static int busy_stack(struct busy *b, int r)
{
	int j, n = 15 + r % 16, k;

	for (j = 0; j < n; j++) {
		k = j < 6 ? 300 + (r / 500) * 6 + j : 300 + (r * 31 + j * 97) % 2700;
		if (j >= n - 3 && r % 3 == 0)
			k = (r + j * 7) % 300;
		b->stack[j] = b->fr[k];
	}
	return n;
}

static int busy_window(struct store *st, struct busy *b, int64_t start, int64_t dur,
		       uint64_t seed)
{
	struct store_window *w = NULL;
	int err, i, r, rows = dur > 10000 ? 3000 : 800;

	err = store__window_begin(st, start, dur, &w);
	for (i = 0; i < rows && !err; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		r = (seed >> 33) % 20000;
		err = store__window_add(w, &b->procs[r % 200], b->stack, busy_stack(b, r),
					1 + (seed >> 20) % 20);
	}
	if (!err)
		err = store__window_commit(w);
	store__window_free(w);
	return err;
}

static int gen_busy(struct store *st, int64_t now)
{
	struct busy *b = malloc(sizeof(*b));
	int64_t t = (now - 24 * 3600000LL) / 60000 * 60000;
	int err = b ? 0 : -ENOMEM;

	if (b)
		busy_init(b);
	for (; !err && t < now - 3600000; t += 60000)
		err = busy_window(st, b, t, 60000, t);
	for (; !err && t < now; t += 10000)
		err = busy_window(st, b, t, 10000, t);
	/* nothing is old enough to merge: this sums the settled hours, as the agent's keeper does */
	if (!err)
		err = store__rollup(st, now, NULL, 0);
	free(b);
	return err;
}

int main(int argc, char **argv)
{
	struct store *st = NULL;
	int err;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: web_gen fixture PATH [T0_MS] | busy PATH [NOW_MS] | "
			"window PATH START_MS\n");
		return 2;
	}
	err = store__open(argv[2], 0, &st);
	if (!err && !strcmp(argv[1], "fixture"))
		err = gen_fixture(st, argc == 4 ? atoll(argv[3]) : T0);
	else if (!err && !strcmp(argv[1], "window") && argc == 4)
		err = gen_window(st, atoll(argv[3]));
	else if (!err)
		err = gen_busy(st, argc == 4 ? atoll(argv[3]) : T0);
	if (err)
		fprintf(stderr, "web_gen: %s\n", store__strerror(err));
	store__free(st);
	return err ? 1 : 0;
}
