// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * query.c - reading samples back: summed counts per (process, stack) over
 * a time range (flame graphs), per process and time bucket (timeline,
 * process list), and the window timeline.
 *
 * SQLite selects the windows and scans their samples, or reads the packed
 * sums kept per window and process and per settled hour (sums.c, hours.c)
 * where there are some; everything is summed in a hash table (agg.c:
 * ember_sum() rather than GROUP BY, which would sort every row).  Only then
 * are the few distinct process and stack ids turned back into strings
 * (resolve.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* String id of @comm, 0 for any, -1 (matches nothing) when never stored. */
static int comm_id(struct store *st, const char *comm, int64_t *id)
{
	sqlite3_stmt *s = st->stmt[S_STR_GET];
	int rc;

	*id = 0;
	if (!comm)
		return 0;
	sqlite3_reset(s);
	rc = sqlite3_bind_blob(s, 1, comm, (int)strlen(comm), SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : store_rc(st, rc);
}

/*
 * The scans behind every query, over windows starting in [?1, ?2) and
 * processes matching comm ?3 (a string id, 0 for any) and pid ?4 (< 0 for
 * any), into @g; SCAN_PROCS's bucket expression is its %s (?6 the step).
 * First the packed sums (sums.c) where there are some, then the samples
 * of the windows they do not cover, each row added to the table bound to
 * ?5 as a pair:
 *   SCAN_STACKS  (process, stack): the settled hours wholly in range;
 *   SCAN_PROCS   (bucket, process): each window's sums per process.
 */
enum scan_kind { SCAN_STACKS, SCAN_PROCS };

#define SCAN_HOUR_IN "h.ready = 1 AND h.start_ms >= ?1 AND h.start_ms + 3600000 <= ?2"

static const char *const sums_sql[] = {
	[SCAN_STACKS] = "SELECT 0, h.data FROM hours h WHERE " SCAN_HOUR_IN,
	[SCAN_PROCS] = "SELECT %s, x.data FROM windows w JOIN win_procs x ON x.win = w.id"
		       " WHERE w.start_ms >= ?1 AND w.start_ms < ?2",
};

static const char *const rest_sql[] = {
	[SCAN_STACKS] = "SELECT ember_sum(?5, x.proc, x.stack, x.count) FROM windows w"
			" JOIN samples x ON x.win = w.id WHERE w.start_ms >= ?1 AND w.start_ms < ?2"
			" AND NOT EXISTS (SELECT 1 FROM hours h WHERE h.start_ms = "
			STORE_HOUR_OF("w.start_ms") " AND " SCAN_HOUR_IN ")",
	[SCAN_PROCS] = "SELECT ember_sum(?5, %s, x.proc, x.count) FROM windows w"
		       " JOIN samples x ON x.win = w.id WHERE w.start_ms >= ?1 AND w.start_ms < ?2"
		       " AND NOT EXISTS (SELECT 1 FROM win_procs p WHERE p.win = w.id)",
};

static int prepare_scan(struct store *st, const char *base, const char *a, const char *filter,
			sqlite3_stmt **s)
{
	char sql[1024], body[768];

	/* only SCAN_PROCS has a %s (its bucket); the others may hold a '%' of their own */
	if (a)
		snprintf(body, sizeof(body), base, a);
	else
		snprintf(body, sizeof(body), "%s", base);
	snprintf(sql, sizeof(sql), "%s%s", body, filter);
	return store_rc(st, sqlite3_prepare_v2(st->db, sql, -1, s, NULL));
}

static void bind_scan(sqlite3_stmt *s, const struct store_filter *f, int64_t comm, int64_t p6)
{
	int n = sqlite3_bind_parameter_count(s);

	sqlite3_bind_int64(s, 1, f->from_ms);
	sqlite3_bind_int64(s, 2, f->to_ms);
	if (n >= 4) {
		sqlite3_bind_int64(s, 3, comm);
		sqlite3_bind_int64(s, 4, f->pid < 0 ? -1 : f->pid);
	}
	if (n >= 6)
		sqlite3_bind_int64(s, 6, p6);
}

/* Adds the packed sums in range to @g, for the processes in @ok (NULL: all). */
static int scan_sums(struct store *st, const struct store_filter *f, enum scan_kind kind,
		     const char *a, int64_t p6, const struct store_procset *ok,
		     struct store_agg *g)
{
	sqlite3_stmt *s = NULL;
	const void *blob;
	size_t len;
	int rc, err;

	err = prepare_scan(st, sums_sql[kind], a, "", &s);
	if (err)
		return err;
	bind_scan(s, f, 0, p6);
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_type(s, 1) != SQLITE_BLOB) {
			err = -EUCLEAN;
			break;
		}
		blob = sqlite3_column_blob(s, 1);
		len = (size_t)sqlite3_column_bytes(s, 1);
		err = kind == SCAN_STACKS ? store_blob__add_stacks(blob, len, ok, g) :
			store_blob__add_procs(blob, len, sqlite3_column_int64(s, 0), ok, g);
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(st, rc);
	sqlite3_finalize(s);
	return err;
}

/* Sums what @f selects into @g; @a: SCAN_PROCS' bucket expression (?6 is @p6). */
static int scan(struct store *st, const struct store_filter *f, enum scan_kind kind,
		const char *a, int64_t p6, struct store_agg *g)
{
	struct store_procset *ok = NULL;
	sqlite3_stmt *s = NULL;
	bool any = !f->comm && f->pid < 0;
	int64_t comm;
	int err;

	err = comm_id(st, f->comm, &comm);
	if (!err)
		err = store_procset__load(st, f, comm, &ok);
	if (!err)
		err = scan_sums(st, f, kind, a, p6, ok, g);
	if (!err)
		err = prepare_scan(st, rest_sql[kind], a, any ? "" : " AND x.proc IN (SELECT id"
				   " FROM procs WHERE (?3 = 0 OR comm = ?3) AND (?4 < 0 OR pid = ?4))",
				   &s);
	if (!err) {
		bind_scan(s, f, comm, p6);
		err = store_agg__run(st, s, 5, g);
	}
	sqlite3_finalize(s);
	store_procset__free(ok);
	return err;
}

/* Calls @fn per (proc, stack) pair of @g, in id order. */
static int emit_stacks(struct store *st, struct store_agg *g, store_sample_fn fn, void *ctx)
{
	struct store_resolver *q = store_resolver__new(st);
	const struct frame *frames;
	struct store_proc proc;
	uint32_t i;
	int n, err;

	if (!q)
		return -ENOMEM;
	store_agg__sort(g);
	err = store_resolver__prepare(q, g->n);
	for (i = 0; i < g->n && !err; i++) {
		err = store_resolver__proc(q, g->ents[i].a, &proc);
		n = err ? err : store_resolver__stack(q, g->ents[i].b, &frames);
		err = n < 0 ? n : fn(ctx, &proc, frames, n, g->ents[i].sum);
	}
	store_resolver__free(q);
	return err;
}

int store__query(struct store *st, const struct store_filter *f, store_sample_fn fn,
		 void *ctx)
{
	struct store_agg g = {};
	int err;

	if (!st || !f || !fn)
		return -EINVAL;
	err = store_begin(st, false);	/* one snapshot for the whole walk */
	if (err)
		return err;
	err = scan(st, f, SCAN_STACKS, NULL, 0, &g);
	if (!err)
		err = emit_stacks(st, &g, fn, ctx);
	store_rollback(st);	/* read only: ending it is all that is needed */
	store_agg__free(&g);
	return err;
}

/* Calls @fn per (bucket, proc) pair of @g, in bucket order. */
static int emit_procs(struct store *st, struct store_agg *g, int64_t from_ms, int64_t bucket_ms,
		      store_bucket_fn fn, void *ctx)
{
	struct store_resolver *q = store_resolver__new(st);
	struct store_proc proc;
	uint32_t i;
	int err = q ? 0 : -ENOMEM;

	store_agg__sort(g);
	for (i = 0; i < g->n && !err; i++) {
		err = store_resolver__proc(q, g->ents[i].b, &proc);
		if (!err)
			err = fn(ctx, from_ms + g->ents[i].a * bucket_ms, &proc, g->ents[i].sum);
	}
	store_resolver__free(q);
	return err;
}

int store__proc_buckets(struct store *st, const struct store_filter *f, int64_t bucket_ms,
			store_bucket_fn fn, void *ctx)
{
	struct store_agg g = {};
	int err;

	if (!st || !f || !fn || bucket_ms < 0)
		return -EINVAL;
	/* start_ms - from_ms must not overflow in SQL (it would turn into a float). */
	if (bucket_ms && (f->from_ms < -(1LL << 62) || f->to_ms > (1LL << 62)))
		return -EINVAL;
	err = store_begin(st, false);
	if (err)
		return err;
	err = scan(st, f, SCAN_PROCS, bucket_ms ? "(w.start_ms - ?1) / ?6" : "0", bucket_ms, &g);
	if (!err)
		err = emit_procs(st, &g, f->from_ms, bucket_ms, fn, ctx);
	store_rollback(st);
	store_agg__free(&g);
	return err;
}

int store__windows(struct store *st, int64_t from_ms, int64_t to_ms, store_window_fn fn,
		   void *ctx)
{
	struct store_window_info wi;
	sqlite3_stmt *s = NULL;
	int rc, err;

	if (!st || !fn)
		return -EINVAL;
	rc = sqlite3_prepare_v2(st->db, "SELECT start_ms, dur_ms, samples FROM windows"
				" WHERE start_ms >= ?1 AND start_ms < ?2 ORDER BY start_ms, id",
				-1, &s, NULL);
	err = store_rc(st, rc);
	if (err)
		goto out;
	sqlite3_bind_int64(s, 1, from_ms);
	sqlite3_bind_int64(s, 2, to_ms);
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		wi.start_ms = sqlite3_column_int64(s, 0);
		wi.dur_ms = sqlite3_column_int64(s, 1);
		wi.samples = sqlite3_column_int64(s, 2);
		err = fn(ctx, &wi);
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(st, rc);
out:
	sqlite3_finalize(s);
	return err;
}
