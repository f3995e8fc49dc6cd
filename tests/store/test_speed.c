// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_speed.c - the store's size and speed on a realistic window: 5,000
 * distinct (process, stack) rows, stacks 20-30 deep sharing prefixes.
 * Prints "# ..." measurement lines on stderr for the record.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "test_store.h"

#define ROWS 5000
#define POOL 3000
#define WARM 20

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Frame names, modules and files of the synthetic program. */
struct pool {
	char name[POOL][64];
	char file[POOL][32];
	struct frame fr[POOL];
	char comm[50][16];
	struct store_proc proc[50];
	struct frame stack[32];
};

static void pool_init(struct pool *p)
{
	int i;

	for (i = 0; i < POOL; i++) {
		snprintf(p->name[i], sizeof(p->name[i]), "ns%d::Class<T>::method_%d(int, char*)",
			 i % 40, i);
		snprintf(p->file[i], sizeof(p->file[i]), "src/file%d.cc", i % 300);
		p->fr[i] = (struct frame){ .name = p->name[i], .module = "libapp.so",
						 .file = p->file[i], .line = 10 + i };
	}
	for (i = 0; i < 50; i++) {
		snprintf(p->comm[i], sizeof(p->comm[i]), "worker%d", i % 10);
		p->proc[i] = (struct store_proc){ .comm = p->comm[i], .pid = 1000 + i,
						  .exe = "/usr/bin/app" };
	}
}

/* Stack @r: 8 frames shared by groups of 250 rows, then 12-22 of its own. */
static int make_stack(struct pool *p, int r)
{
	int j, n = 20 + r % 11;

	for (j = 0; j < n; j++) {
		int k = j < 8 ? (r / 250) * 8 + j : (r * 31 + j * 97) % POOL;

		p->stack[j] = p->fr[k % POOL];
	}
	return n;
}

/* Commits one window of ROWS rows; returns its commit time in ms or -1. */
static double one_window(struct store *st, struct pool *p, int64_t start, uint64_t k)
{
	struct store_window *w = NULL;
	double t = -1;
	int r, n, err;

	err = store__window_begin(st, start, 10 * SEC, &w);
	for (r = 0; r < ROWS && !err; r++) {
		n = make_stack(p, r);
		err = store__window_add(w, &p->proc[r % 50], p->stack, n, 1 + (r * k) % 7);
	}
	if (!err) {
		t = now_ms();
		err = store__window_commit(w);
		t = err ? -1 : now_ms() - t;
	}
	store__window_free(w);
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void test_commit_speed(struct env *e)
{
	const char *path = fresh(e, "speed");
	struct store_stats s0, s1;
	struct pool *p = calloc(1, sizeof(*p));
	struct store *st = NULL;
	double cold, warm[WARM];
	char why[256] = "";
	int i, err;

	err = p ? store__open(path, 0, &st) : -ENOMEM;
	CHECK(!err, "open: %s", store__strerror(err));
	pool_init(p);
	cold = one_window(st, p, T0, 1);
	CHECK(cold >= 0 && !store__stats(st, &s0), "first window failed");
	for (i = 0; i < WARM; i++) {
		warm[i] = one_window(st, p, T0 + (i + 1) * 10 * SEC, i + 2);
		CHECK(warm[i] >= 0, "window %d failed", i + 1);
	}
	CHECK(!store__stats(st, &s1), "stats");
	qsort(warm, WARM, sizeof(warm[0]), cmp_double);
	fprintf(stderr, "# store: %d-row window commit: first %.1f ms, then median %.1f max %.1f"
		" ms\n", ROWS, cold, warm[WARM / 2], warm[WARM - 1]);
	fprintf(stderr, "# store: %.1f bytes/row after the first window (%llu bytes),"
		" %.1f bytes/row for each later one, %.1f bytes/row overall\n",
		(double)s0.bytes / ROWS, (unsigned long long)s0.bytes,
		(double)(s1.bytes - s0.bytes) / (WARM * ROWS),
		(double)s1.bytes / ((WARM + 1) * ROWS));
	/* timings are reported above; make bench owns speed, tests own correctness */
	CHECK(s1.windows == WARM + 1, "%llu windows stored, want %d",
	      (unsigned long long)s1.windows, WARM + 1);
out:
	free(p);
	store__free(st);
	cleanup(e);
	report(e, "commit_5000_row_windows", why);
}
