// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_data.c - store tests of what goes in and comes out: interning,
 * hostile names, filters, the timeline, retention and rollups.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "test_store.h"

void test_interning(struct env *e)
{
	const char *path = fresh(e, "intern");
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	CHECK(!write_fixed(st, T0, 1) && !write_fixed(st, T0 + 10 * SEC, 1), "write failed");
	/* app, /bin/app, other, /sys/x, main, foo, bar, baz, app.c, libc.so.6, its build id, vmlinux */
	CHECK(sql1(path, "SELECT count(*) FROM strings") == 12, "strings: %lld",
	      (long long)sql1(path, "SELECT count(*) FROM strings"));
	CHECK(sql1(path, "SELECT count(*) FROM frames") == 4, "frames");
	CHECK(sql1(path, "SELECT count(*) FROM stacks") == 4, "stack nodes: %lld",
	      (long long)sql1(path, "SELECT count(*) FROM stacks"));
	CHECK(sql1(path, "SELECT count(*) FROM procs") == 3, "procs");
	CHECK(sql1(path, "SELECT count(*) FROM samples") == 8, "samples: %lld",
	      (long long)sql1(path, "SELECT count(*) FROM samples"));
	err = query(st, T0, T0 + MIN, NULL, -1, &r);
	CHECK(!err && r.n == 4 && r.total == 36, "query: err %d n %d total %llu", err, r.n,
	      (unsigned long long)r.total);
	CHECK(rows_count(&r, &PA, F, 3) == 8 && rows_count(&r, &PA, S2, 3) == 4 &&
	      rows_count(&r, &PB, F, 3) == 10 && rows_count(&r, &PC, F, 1) == 14,
	      "wrong per-stack counts");
out:
	rows_free(&r);
	store__free(st);
	cleanup(e);
	report(e, "interning", why);
}

void test_odd_names(struct env *e)
{
	static const struct frame odd[] = {
		{ .name = "<img src=x onerror=alert(1)>", .module = "a;b", .file = "\"q\".c",
		  .line = 7, .flags = FRAME_F_INLINE },
		{ .name = "a;b", .module = "line1\nline2", .file = "x\xff\xfe" },
		{ .name = "\xff\xfe", .module = NULL, .file = NULL, .flags = FRAME_F_UNKNOWN },
		{ .name = "", .module = "", .file = "", .line = 4294967295u,
		  .flags = FRAME_F_KERNEL | FRAME_F_INLINE | FRAME_F_UNKNOWN },
	};
	static const struct store_proc p = { .comm = "x\n;<\"\xff", .pid = 4294967295u,
					     .exe = "/tmp/a b;c\n", .cgroup = "\xc3\x28" };
	const char *path = fresh(e, "odd");
	struct store_window *w = NULL;
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	err = store__window_begin(st, T0, 10 * SEC, &w);
	CHECK(!err, "begin: %d", err);
	CHECK(!store__window_add(w, &p, odd, 4, 9) && !store__window_add(w, &p, NULL, 0, 2),
	      "add failed");
	CHECK(!store__window_commit(w), "commit failed");
	store__free(st);	/* read back through a fresh connection: no caches */
	st = NULL;
	err = store__open(path, STORE_READONLY, &st);
	CHECK(!err, "reopen: %s", store__strerror(err));
	err = query(st, T0, T0 + 1, "x\n;<\"\xff", -1, &r);
	CHECK(!err && r.n == 2, "query: err %d rows %d", err, r.n);
	CHECK(rows_count(&r, &p, odd, 4) == 9, "odd stack not returned exactly");
	CHECK(rows_count(&r, &p, NULL, 0) == 2, "empty stack not returned");
out:
	rows_free(&r);
	store__window_free(w);
	store__free(st);
	cleanup(e);
	report(e, "odd_names_round_trip", why);
}

/*
 * Frames that differ only in their build id (none, empty, two builds) are
 * distinct frames and stacks, each returned exactly; an equal one is reused.
 */
void test_build_ids(struct env *e)
{
	static const char *const ids[] = { NULL, "", "aa01", "bb02\xff" };
	struct frame fr[4][2];
	const char *path = fresh(e, "buildid");
	struct store_window *w = NULL;
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err, i, pass;

	for (i = 0; i < 4; i++) {
		fr[i][0] = F[0];
		fr[i][1] = (struct frame){ .name = "leaf", .module = "libx.so",
						 .build_id = ids[i], .line = 3 };
	}
	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	for (pass = 0; pass < 2; pass++) {
		err = store__window_begin(st, T0 + pass * 10 * SEC, 10 * SEC, &w);
		for (i = 0; i < 4 && !err; i++)
			err = store__window_add(w, &PA, fr[i], 2, i + 1);
		CHECK(!err && !store__window_commit(w), "window %d: %d", pass, err);
		store__window_free(w);
		w = NULL;
	}
	CHECK(sql1(path, "SELECT count(*) FROM frames") == 5 &&
	      sql1(path, "SELECT count(DISTINCT build_id) FROM frames") == 4, "frames: %lld",
	      (long long)sql1(path, "SELECT count(*) FROM frames"));
	store__free(st);	/* read back through a fresh connection: no caches */
	st = NULL;
	err = store__open(path, STORE_READONLY, &st);
	CHECK(!err, "reopen: %s", store__strerror(err));
	err = query(st, T0, T0 + MIN, NULL, -1, &r);
	CHECK(!err && r.n == 4, "query: err %d rows %d", err, r.n);
	for (i = 0; i < 4; i++)
		CHECK(rows_count(&r, &PA, fr[i], 2) == 2 * (uint64_t)(i + 1),
		      "build id %s: count %llu", ids[i] ? ids[i] : "NULL",
		      (unsigned long long)rows_count(&r, &PA, fr[i], 2));
out:
	rows_free(&r);
	store__window_free(w);
	store__free(st);
	cleanup(e);
	report(e, "build_ids_round_trip", why);
}

void test_filters(struct env *e)
{
	const char *path = fresh(e, "filters");
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err, i;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	for (i = 0; i < 6; i++)
		CHECK(!write_fixed(st, T0 + i * 10 * SEC, i + 1), "write %d", i);
	err = query(st, T0, T0 + 60 * SEC, "app", -1, &r);
	CHECK(!err && r.n == 3 && r.total == 11 * 21, "comm: n %d total %llu", r.n,
	      (unsigned long long)r.total);
	rows_free(&r);
	err = query(st, T0, T0 + 60 * SEC, "app", 200, &r);
	CHECK(!err && r.n == 1 && rows_count(&r, &PB, F, 3) == 5 * 21, "comm+pid");
	rows_free(&r);
	err = query(st, T0, T0 + 60 * SEC, NULL, 300, &r);
	CHECK(!err && r.n == 1 && rows_count(&r, &PC, F, 1) == 7 * 21, "pid only");
	rows_free(&r);
	err = query(st, T0, T0 + 60 * SEC, "nosuch", -1, &r);
	CHECK(!err && r.n == 0, "unknown comm matched %d rows", r.n);
	rows_free(&r);
	/* Windows 2 and 3 (k = 3, 4): start in [T0+20s, T0+40s). */
	err = query(st, T0 + 20 * SEC, T0 + 40 * SEC, NULL, -1, &r);
	CHECK(!err && r.total == 18 * 7, "time range total %llu", (unsigned long long)r.total);
	rows_free(&r);
	err = query(st, T0 + 19 * SEC, T0 + 20 * SEC, NULL, -1, &r);
	CHECK(!err && r.n == 0, "range that holds no start returned %d rows", r.n);
out:
	rows_free(&r);
	store__free(st);
	cleanup(e);
	report(e, "filters", why);
}

/* A timeline as returned by store__windows(). */
struct tl {
	int n;
	struct store_window_info v[512];
};

static int tl_add(void *ctx, const struct store_window_info *w)
{
	struct tl *t = ctx;

	if (t->n == 512)
		return -E2BIG;
	t->v[t->n++] = *w;
	return 0;
}

void test_timeline(struct env *e)
{
	const char *path = fresh(e, "timeline");
	struct store *st = NULL;
	struct tl t = { 0 };
	char why[256] = "";
	int err, i;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	for (i = 4; i >= 0; i--)	/* out of order on purpose */
		CHECK(!write_fixed(st, T0 + i * 10 * SEC, i + 1), "write %d", i);
	err = store__windows(st, T0 + 10 * SEC, T0 + 40 * SEC, tl_add, &t);
	CHECK(!err && t.n == 3, "err %d, %d windows", err, t.n);
	for (i = 0; i < 3; i++)
		CHECK(t.v[i].start_ms == T0 + (i + 1) * 10 * SEC && t.v[i].dur_ms == 10 * SEC &&
		      t.v[i].samples == 18 * (uint64_t)(i + 2), "window %d: %lld %lld %llu", i,
		      (long long)t.v[i].start_ms, (long long)t.v[i].dur_ms,
		      (unsigned long long)t.v[i].samples);
out:
	store__free(st);
	cleanup(e);
	report(e, "timeline", why);
}

void test_retention(struct env *e)
{
	const char *path = fresh(e, "retain");
	struct store_window *w = NULL;
	struct frame only = { .name = "only_in_old_window", .module = "old.so",
				    .build_id = "0bad" };
	struct store_stats s;
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err, i;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	err = store__window_begin(st, T0 - HOUR, 10 * SEC, &w);
	CHECK(!err && !store__window_add(w, &PC, &only, 1, 4) && !store__window_commit(w),
	      "old window");
	for (i = 0; i < 4; i++)
		CHECK(!write_fixed(st, T0 + i * 10 * SEC, 1), "write %d", i);
	CHECK(!store__retain(st, T0 + 20 * SEC), "retain failed");
	CHECK(!store__stats(st, &s) && s.windows == 2 && s.samples == 36 &&
	      s.first_ms == T0 + 20 * SEC && s.last_ms == T0 + 40 * SEC,
	      "stats after retain: %llu windows", (unsigned long long)s.windows);
	err = query(st, 0, T0 + HOUR, NULL, -1, &r);
	CHECK(!err && r.total == 36, "query total %llu", (unsigned long long)r.total);
	CHECK(sql1(path, "SELECT count(*) FROM strings WHERE s = CAST('old.so' AS BLOB)") == 0 &&
	      sql1(path, "SELECT count(*) FROM strings WHERE s = CAST('0bad' AS BLOB)") == 0,
	      "unreferenced string kept");
	CHECK(sql1(path, "SELECT count(*) FROM strings WHERE s = CAST('" BUILD_ID_LIBC
		   "' AS BLOB)") == 1, "a build id still in use was deleted");
	CHECK(sql1(path, "SELECT count(*) FROM stacks") == 4, "unreferenced stack nodes kept");
	/* The caches were dropped: re-adding the deleted names must work. */
	CHECK(!write_fixed(st, T0 + HOUR, 1), "write after retain");
	CHECK(sql1(path, "PRAGMA integrity_check") != -1, "integrity");
out:
	rows_free(&r);
	store__window_free(w);
	store__free(st);
	cleanup(e);
	report(e, "retention", why);
}


/* Deterministic pseudo-random numbers for the rollup workload. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Writes @n 10 s windows from @base, each with a few random stacks; sums per 1 min in @per_min. */
static int write_random(struct store *st, int64_t base, int n, uint64_t *per_min)
{
	static const struct store_proc *procs[] = { &PA, &PB, &PC };
	struct store_window *w = NULL;
	uint32_t seed = 42;
	int i, j, err = 0;

	for (i = 0; i < n && !err; i++) {
		err = store__window_begin(st, base + i * 10 * SEC, 10 * SEC, &w);
		/* each process in every window: none is short-lived, each keeps its pid */
		for (j = 0; j < 3 && !err; j++) {
			err = store__window_add(w, procs[j], F, 2, 1);
			per_min[i / 6]++;
		}
		for (j = 0; j < 6 && !err; j++) {
			uint64_t c = lcg(&seed) % 10 + 1;
			const struct frame *fr = lcg(&seed) % 2 ? F : S2;

			err = store__window_add(w, procs[lcg(&seed) % 3], fr, 1 + lcg(&seed) % 3, c);
			per_min[i / 6] += c;
		}
		if (!err)
			err = store__window_commit(w);
		store__window_free(w);
		w = NULL;
	}
	return err;
}

/* Every window of the timeline must hold the sum of its 1-min parts. */
static int check_timeline(const struct tl *t, int64_t base, const uint64_t *per_min, int *bad)
{
	int i, k;

	for (i = 0; i < t->n; i++) {
		const struct store_window_info *w = &t->v[i];
		uint64_t want = 0;

		for (k = 0; k < (w->dur_ms >= MIN ? w->dur_ms / MIN : 1); k++)
			want += per_min[(w->start_ms - base) / MIN + k];
		if (w->dur_ms < MIN)
			want = 0;	/* raw windows are checked through the totals */
		if (w->dur_ms >= MIN && w->samples != want) {
			*bad = i;
			return -1;
		}
	}
	return 0;
}

void test_rollup(struct env *e)
{
	static const struct store_rollup_level lv[] = {
		{ .age_ms = HOUR, .bucket_ms = MIN }, { .age_ms = 2 * HOUR, .bucket_ms = 10 * MIN },
	};
	const int64_t base = T0 - T0 % (10 * MIN);
	const struct store_proc PC0 = { .comm = PC.comm, .pid = 0, .exe = PC.exe, .cgroup = PC.cgroup };
	static uint64_t per_min[180];
	const char *path = fresh(e, "rollup");
	struct rows before = { 0 }, after = { 0 }, mid0 = { 0 }, mid1 = { 0 };
	struct store *st = NULL;
	struct tl *t = calloc(1, sizeof(*t));
	char why[256] = "";
	int err, i, bad = -1;

	memset(per_min, 0, sizeof(per_min));
	err = t ? store__open(path, 0, &st) : -ENOMEM;
	CHECK(!err, "open: %s", store__strerror(err));
	CHECK(!write_random(st, base, 1080, per_min), "write failed");
	CHECK(!query(st, base, base + 3 * HOUR, NULL, -1, &before), "query before");
	CHECK(!query(st, base + 30 * MIN, base + 90 * MIN, NULL, -1, &mid0), "query mid before");
	err = store__rollup(st, base + 3 * HOUR, lv, 2);
	CHECK(!err, "rollup: %s", store__strerror(err));
	CHECK(!store__rollup(st, base + 3 * HOUR, lv, 2), "second rollup");
	CHECK(!query(st, base, base + 3 * HOUR, NULL, -1, &after), "query after");
	CHECK(before.n == after.n && before.total == after.total, "totals %llu -> %llu",
	      (unsigned long long)before.total, (unsigned long long)after.total);
	for (i = 0; i < before.n; i++)
		CHECK(before.v[i].count == after.v[i].count && before.v[i].len == after.v[i].len &&
		      !memcmp(before.v[i].key, after.v[i].key, before.v[i].len),
		      "stack %d changed", i);
	CHECK(!query(st, base + 30 * MIN, base + 90 * MIN, NULL, -1, &mid1) &&
	      mid1.total == mid0.total && mid1.n == mid0.n, "mid-range total changed");
	CHECK(!store__windows(st, base, base + 3 * HOUR, tl_add, t), "timeline");
	CHECK(t->n == 6 + 60 + 360, "%d windows after rollup", t->n);
	CHECK(!check_timeline(t, base, per_min, &bad), "window %d (%lld, %lld ms) sum wrong", bad,
	      (long long)(t->v[bad].start_ms - base), (long long)t->v[bad].dur_ms);
	/* A late window into a bucket already rolled up is merged into it. */
	CHECK(!write_fixed(st, base + 5 * MIN, 1), "late window");
	CHECK(!store__rollup(st, base + 3 * HOUR, lv, 2), "third rollup");
	rows_free(&after);
	CHECK(!query(st, base, base + 3 * HOUR, NULL, -1, &after), "query after merge");
	/* alone in its 1 min bucket, the late window's processes count as short-lived */
	CHECK(after.total == before.total + 18 && rows_count(&after, &PC, F, 1) +
	      rows_count(&after, &PC0, F, 1) == rows_count(&before, &PC, F, 1) + 7,
	      "merge into a rolled-up window lost counts");
	t->n = 0;
	CHECK(!store__windows(st, base, base + 10 * MIN, tl_add, t) && t->n == 1 &&
	      t->v[0].dur_ms == 10 * MIN, "merge made %d windows", t->n);
out:
	rows_free(&before);
	rows_free(&after);
	rows_free(&mid0);
	rows_free(&mid1);
	free(t);
	store__free(st);
	cleanup(e);
	report(e, "rollup_totals", why);
}

/*
 * Short-lived processes (one window each, a new pid every time) are merged
 * by a rollup under one process per comm, executable and cgroup with pid
 * 0; a process seen in several windows of a bucket keeps its pid.
 */
void test_rollup_merge(struct env *e)
{
	static const struct store_rollup_level lv[] = { { .age_ms = HOUR, .bucket_ms = MIN } };
	const int64_t base = T0 - T0 % (10 * MIN);
	const struct store_proc merged = { .comm = "job", .pid = 0, .exe = "/bin/job" };
	const char *path = fresh(e, "rollmerge");
	struct store_proc job = { .comm = "job", .exe = "/bin/job" };
	struct store_window *w = NULL;
	struct rows before = { 0 }, after = { 0 }, jobs = { 0 };
	struct store *st = NULL;
	char why[256] = "";
	int err, i, j;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	for (i = 0; i < 60; i++) {
		err = store__window_begin(st, base + i * 10 * SEC, 10 * SEC, &w);
		for (j = 0; j < 5 && !err; j++) {
			job.pid = 1000 + (uint32_t)(i * 5 + j);
			err = store__window_add(w, &job, F, 3, 2);
		}
		if (!err)
			err = store__window_add(w, &PA, F, 3, 1);
		if (!err)
			err = store__window_commit(w);
		store__window_free(w);
		w = NULL;
		CHECK(!err, "window %d: %s", i, store__strerror(err));
	}
	CHECK(!query(st, base, base + HOUR, NULL, -1, &before), "query before");
	err = store__rollup(st, base + 2 * HOUR, lv, 1);
	CHECK(!err, "rollup: %s", store__strerror(err));
	CHECK(!query(st, base, base + HOUR, NULL, -1, &after), "query after");
	CHECK(after.total == before.total && before.total == 60 * 11, "totals %llu -> %llu",
	      (unsigned long long)before.total, (unsigned long long)after.total);
	CHECK(rows_count(&after, &merged, F, 3) == 600, "merged row: %llu samples, want 600",
	      (unsigned long long)rows_count(&after, &merged, F, 3));
	CHECK(rows_count(&after, &PA, F, 3) == 60, "the long-lived process lost its pid");
	CHECK(after.n == 2, "%d rows after the rollup, want 2 (was %d)", after.n, before.n);
	CHECK(sql1(path, "SELECT count(*) FROM samples") == 20, "%lld sample rows, want 10 x 2",
	      (long long)sql1(path, "SELECT count(*) FROM samples"));
	CHECK(!query(st, base, base + HOUR, "job", -1, &jobs) && jobs.total == 600,
	      "comm filter after merge: %llu", (unsigned long long)jobs.total);
	/* retention collects the 300 short-lived processes now unused */
	CHECK(!store__retain(st, base - 1) && !store__retain(st, base + 10 * SEC) &&
	      sql1(path, "SELECT count(*) FROM procs") == 2, "%lld processes kept, want 2",
	      (long long)sql1(path, "SELECT count(*) FROM procs"));
out:
	rows_free(&before);
	rows_free(&after);
	rows_free(&jobs);
	store__window_free(w);
	store__free(st);
	cleanup(e);
	report(e, "rollup_merges_short_lived_processes", why);
}
