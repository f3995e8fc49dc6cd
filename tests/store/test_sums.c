// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_sums.c - the sums queries read instead of samples (per hour and
 * per window and process, store/hours.c) must give exactly what summing
 * the samples themselves gives, for any range and filter, through late
 * windows, rollups, retention, eviction and windows without sums (from
 * before them).  The reference is plain SQL
 * over the samples on a connection of its own.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include "test_store.h"

#define NSTACKS 60

/* Rendered results: "key" -> count, sorted by key for comparing. */
struct kv {
	char key[96];
	uint64_t count;
};

struct kvs {
	struct kv *v;
	size_t n, cap;
};

static int kvs_add(struct kvs *s, const char *key, uint64_t count)
{
	struct kv *v;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		v = realloc(s->v, s->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
	}
	snprintf(s->v[s->n].key, sizeof(s->v[s->n].key), "%s", key);
	s->v[s->n++].count = count;
	return 0;
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

/* 0 when @a and @b hold the same keys and counts; else a message in @why. */
static int kvs_diff(struct kvs *a, struct kvs *b, char *why, size_t len)
{
	size_t i;

	qsort(a->v, a->n, sizeof(*a->v), cmp_kv);
	qsort(b->v, b->n, sizeof(*b->v), cmp_kv);
	for (i = 0; i < a->n && i < b->n; i++)
		if (strcmp(a->v[i].key, b->v[i].key) || a->v[i].count != b->v[i].count)
			break;
	if (i == a->n && i == b->n)
		return 0;
	snprintf(why, len, "%zu/%zu rows, first difference: %.40s %llu vs %.40s %llu", a->n, b->n,
		 i < a->n ? a->v[i].key : "-", i < a->n ? (unsigned long long)a->v[i].count : 0,
		 i < b->n ? b->v[i].key : "-", i < b->n ? (unsigned long long)b->v[i].count : 0);
	return -1;
}

static int on_sample(void *ctx, const struct store_proc *p, const struct frame *fr, int n,
		     uint64_t count)
{
	char key[96];

	snprintf(key, sizeof(key), "%s|%u|%s", p->comm, p->pid, n ? fr[n - 1].name : "");
	return kvs_add(ctx, key, count);
}

struct bucket_ctx {
	struct kvs *s;
	int64_t from, step;
};

static int on_bucket(void *ctx, int64_t start, const struct store_proc *p, uint64_t count)
{
	struct bucket_ctx *b = ctx;
	char key[96];

	snprintf(key, sizeof(key), "%lld|%s|%u",
		 (long long)(b->step ? (start - b->from) / b->step : 0), p->comm, p->pid);
	return kvs_add(b->s, key, count);
}

#define REF_FROM \
	" FROM windows w JOIN samples x ON x.win = w.id JOIN procs p ON p.id = x.proc" \
	" JOIN strings cs ON cs.id = p.comm JOIN stacks k ON k.id = x.stack" \
	" JOIN frames f ON f.id = k.frame JOIN strings ns ON ns.id = f.name" \
	" WHERE w.start_ms >= ?1 AND w.start_ms < ?2" \
	" AND (?3 IS NULL OR cs.s = ?3) AND (?4 < 0 OR p.pid = ?4)"

/* The reference: the samples of @f summed by SQL, per stack (@step < 0) or per bucket. */
static int reference(sqlite3 *db, const struct store_filter *f, int64_t step, struct kvs *out)
{
	sqlite3_stmt *s = NULL;
	char key[96];
	int rc;

	rc = sqlite3_prepare_v2(db, step < 0 ?
				"SELECT cs.s || '|' || p.pid || '|' || ns.s, sum(x.count)" REF_FROM
				" GROUP BY 1" :
				"SELECT CASE WHEN ?5 = 0 THEN 0 ELSE (w.start_ms - ?1) / ?5 END"
				" || '|' || cs.s || '|' || p.pid, sum(x.count)" REF_FROM
				" GROUP BY 1", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, f->from_ms);
	sqlite3_bind_int64(s, 2, f->to_ms);
	if (f->comm)
		sqlite3_bind_blob(s, 3, f->comm, (int)strlen(f->comm), SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, f->pid);
	if (step >= 0)
		sqlite3_bind_int64(s, 5, step);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		snprintf(key, sizeof(key), "%s", (const char *)sqlite3_column_text(s, 0));
		if (kvs_add(out, key, sqlite3_column_int64(s, 1)))
			break;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Compares store__query() and store__proc_buckets() with the reference over @f. */
static int compare(struct store *st, sqlite3 *db, const struct store_filter *f, char *why,
		   size_t len)
{
	static const int64_t steps[] = { -1, 0, 7 * MIN, HOUR };
	struct kvs a = { 0 }, b = { 0 };
	struct bucket_ctx bc = { .s = &a, .from = f->from_ms };
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]) && !err; i++) {
		a.n = b.n = 0;
		bc.step = steps[i];
		err = steps[i] < 0 ? store__query(st, f, on_sample, &a) :
			store__proc_buckets(st, f, steps[i], on_bucket, &bc);
		if (!err)
			err = reference(db, f, steps[i], &b);
		if (err)
			snprintf(why, len, "step %lld: error %d", (long long)steps[i], err);
		else if (kvs_diff(&a, &b, why, len))
			err = -1;
	}
	free(a.v);
	free(b.v);
	return err;
}

/*
 * Windows of @dur from @from to @to: three steady processes of two comms,
 * and one that lives for a single window (merged under pid 0 by rollups).
 */
static int write_load(struct store *st, int64_t from, int64_t to, int64_t dur, uint32_t *seed)
{
	static const char *const comms[] = { "alpha", "beta", "alpha" };
	char leaf[32], mid[32];
	struct frame fr[3] = { { .name = "main", .module = "app" }, { .module = "app" },
			       { .module = "app" } };
	struct store_window *w = NULL;
	struct store_proc p = { 0 };
	int64_t t;
	int j, r, err = 0;

	fr[1].name = mid;
	fr[2].name = leaf;
	for (t = from; t < to && !err; t += dur) {
		err = store__window_begin(st, t, dur, &w);
		for (j = 0; j < 8 && !err; j++) {
			*seed = *seed * 1103515245u + 12345u;
			r = (*seed >> 8) % NSTACKS;
			snprintf(mid, sizeof(mid), "mid_%d", r % 7);
			snprintf(leaf, sizeof(leaf), "leaf_%d", r);
			p.comm = comms[r % 3];
			p.pid = j == 7 ? 5000 + (uint32_t)(t / dur % 1000) : 10 + (uint32_t)r % 3;
			err = store__window_add(w, &p, fr, 3, 1 + (*seed >> 16) % 40);
		}
		if (!err)
			err = store__window_commit(w);
		store__window_free(w);
		w = NULL;
	}
	return err;
}

void test_sums_exact(struct env *e)
{
	static const struct store_rollup_level lv[] = {
		{ .age_ms = 2 * HOUR, .bucket_ms = MIN },
		{ .age_ms = 4 * HOUR, .bucket_ms = 10 * MIN },
	};
	const int64_t base = T0 - T0 % HOUR;
	const struct store_filter fs[] = {
		{ .from_ms = base - HOUR, .to_ms = base + 9 * HOUR, .pid = -1 },
		{ .from_ms = base + HOUR, .to_ms = base + 4 * HOUR, .pid = -1 },
		{ .from_ms = base + 77 * MIN, .to_ms = base + 221 * MIN, .pid = -1 },
		{ .from_ms = base + 2 * HOUR, .to_ms = base + 3 * HOUR, .pid = -1 },
		{ .from_ms = base + HOUR - 1, .to_ms = base + 3 * HOUR + 1, .pid = -1 },
		{ .from_ms = base, .to_ms = base + 6 * HOUR, .comm = "alpha", .pid = -1 },
		{ .from_ms = base, .to_ms = base + 6 * HOUR, .pid = 11 },
		{ .from_ms = base, .to_ms = base + 6 * HOUR, .comm = "beta", .pid = 0 },
	};
	const char *path = fresh(e, "sums");
	struct store *st = NULL;
	sqlite3 *db = NULL;
	char why[256] = "", msg[200] = "";
	uint64_t deleted = 0;
	uint32_t seed = 11;
	int64_t hours = 0;
	size_t i;
	int err, step;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "second open");
	CHECK(!write_load(st, base, base + 5 * HOUR, 20 * SEC, &seed), "write");
	for (step = 0; step < 7; step++) {
		switch (step) {
		case 1:	/* sums for the settled hours; the oldest and the rolling ones wait */
			CHECK(!store__rollup(st, base + 5 * HOUR + 5 * MIN, lv, 2), "rollup");
			hours = sql1(path, "SELECT count(*) FROM hours WHERE ready = 1");
			CHECK(hours >= 1, "no hour summed (%lld)", (long long)hours);
			break;
		case 2:	/* a late window in a summed hour, and one before every other */
			CHECK(!write_load(st, base + 2 * HOUR + 5 * MIN + 7 * SEC,
					  base + 2 * HOUR + 5 * MIN + 17 * SEC, 10 * SEC, &seed) &&
			      !write_load(st, base - 30 * MIN, base - 29 * MIN, MIN, &seed),
			      "late windows");
			break;
		case 3:	/* more hours, rolled up further, and their sums made again */
			CHECK(!write_load(st, base + 5 * HOUR, base + 8 * HOUR, 30 * SEC, &seed) &&
			      !store__rollup(st, base + 8 * HOUR + 5 * MIN, lv, 2), "rollup 2");
			CHECK(sql1(path, "SELECT count(*) FROM hours WHERE ready = 1") > hours,
			      "no more hours summed after rollup 2");
			/* every window worth it (2 rows per process or more) has its sums */
			CHECK(sql1(path, "SELECT count(*) FROM windows w WHERE id NOT IN"
				   " (SELECT win FROM win_procs) AND (SELECT count(*) FROM samples"
				   " WHERE win = w.id) >= 2 * (SELECT count(DISTINCT proc)"
				   " FROM samples WHERE win = w.id)") == 0 &&
			      sql1(path, "SELECT count(*) FROM win_procs") > 100,
			      "windows without sums per process after rollup 2");
			break;
		case 4:	/* retention into the middle of a summed hour */
			CHECK(!store__retain(st, base + 90 * MIN), "retain");
			CHECK(!store__rollup(st, base + 8 * HOUR + 5 * MIN, lv, 2), "rollup 3");
			break;
		case 5:
			CHECK(!store__evict(st, 3, &deleted) && deleted, "evict");
			break;
		case 6:	/* windows from before the sums (a migrated store) */
			CHECK(sql_exec(path, "DELETE FROM win_procs WHERE win % 3 = 0") == SQLITE_OK &&
			      sql1(path, "SELECT count(*) FROM windows WHERE id NOT IN"
				   " (SELECT win FROM win_procs)") > 0, "drop some sums");
			break;
		}
		for (i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
			CHECK(!compare(st, db, &fs[i], msg, sizeof(msg)), "step %d, filter %zu: %s",
			      step, i, msg);
	}
	CHECK(sql1(path, "SELECT count(*) FROM win_procs WHERE win NOT IN (SELECT id FROM windows)")
	      == 0 && sql1(path, "SELECT count(*) FROM hours WHERE ready = 1 AND data IS NULL") == 0,
	      "stale sums left");
out:
	sqlite3_close(db);
	store__free(st);
	cleanup(e);
	report(e, "sums_match_samples", why);
}

static int count_rows(void *ctx, const struct store_proc *p, const struct frame *fr, int n,
		      uint64_t count)
{
	(void)p;
	(void)fr;
	(void)n;
	(void)count;
	++*(int *)ctx;
	return 0;
}

static int count_buckets(void *ctx, int64_t start, const struct store_proc *p, uint64_t count)
{
	(void)start;
	(void)p;
	(void)count;
	++*(int *)ctx;
	return 0;
}

/* Damaged sums (a varint cut short or too long, ids past int64) fail the query, nothing more. */
void test_sums_damaged(struct env *e)
{
	static const char *const damage[] = {
		"UPDATE hours SET data = x'80' WHERE ready = 1",
		"UPDATE hours SET data = x'ffffffffffffffffffffff01' WHERE ready = 1",
		"UPDATE hours SET data = x'ffffffffffffffff7f0101ffffffffffffffff7f0101' WHERE ready = 1",
		"UPDATE hours SET data = NULL WHERE ready = 1",
		"UPDATE win_procs SET data = x'0180'",
		"UPDATE win_procs SET data = x'ffffffffffffffffffff0101'",
	};
	const int64_t base = T0 - T0 % HOUR;
	struct store_filter f = { .from_ms = base, .to_ms = base + 4 * HOUR, .pid = -1 };
	const char *path = fresh(e, "sums_damaged");
	struct store *st = NULL;
	char why[256] = "";
	uint32_t seed = 5;
	size_t i;
	int err, n;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	CHECK(!write_load(st, base, base + 4 * HOUR, MIN, &seed) &&
	      !store__rollup(st, base + 4 * HOUR, NULL, 0), "write");
	CHECK(sql1(path, "SELECT count(*) FROM hours WHERE ready = 1") >= 1, "no hour summed");
	store__free(st);
	st = NULL;
	for (i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		CHECK(sql_exec(path, damage[i]) == 0, "damage %zu", i);
		err = store__open(path, STORE_READONLY, &st);
		CHECK(!err, "open: %s", store__strerror(err));
		n = 0;
		err = i < 4 ? store__query(st, &f, count_rows, &n) :
			store__proc_buckets(st, &f, 0, count_buckets, &n);
		CHECK(err == -EUCLEAN && !n, "damage %zu: %d (%d rows)", i, err, n);
		store__free(st);
		st = NULL;
	}
out:
	store__free(st);
	cleanup(e);
	report(e, "sums_damaged", why);
}
