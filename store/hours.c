// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * hours.c - per-hour sums of the samples, so a flame graph over a day
 * reads one row per (hour, process, stack) instead of one per window: a
 * busy host's day is 4 million sample rows but under half a million sums.
 *
 * An hour's sums (hours.data where ready = 1, packed by sums.c) equal
 * exactly the samples of the windows starting in that hour.  Whatever
 * adds, changes or deletes such a window drops the hour's row in the same
 * transaction (store_hour_drop(), and the rollup and retention SQL), so
 * readers never see stale sums; queries read the windows of an hour
 * without sums instead.
 *
 * Building an hour takes a scan of its samples, too long to hold the
 * write lock for: a short transaction marks the hour (ready = 0), the sums
 * are made in a read snapshot that blocks nobody, and a second short
 * transaction writes them only if the mark is still there (anything that
 * changed the hour since dropped it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "internal.h"

/* An hour is summed once it ended this long ago: its last window is in. */
#define SETTLE_MS (2 * 60 * 1000LL)

/* Hours one call looks at (a week is 168). */
#define MAX_HOURS 1024

static int64_t hour_of(int64_t t)
{
	if (t < INT64_MIN + STORE_HOUR_MS)
		return INT64_MIN;
	return t - ((t % STORE_HOUR_MS) + STORE_HOUR_MS) % STORE_HOUR_MS;
}

int store_hour_drop(struct store *st, int64_t start_ms)
{
	int64_t h = hour_of(start_ms);

	return store_run(st, S_HOUR_DROP, &h, 1, NULL);
}

/*
 * Whether a rollup level is part way through hour @h at @now_ms: it would
 * drop the sums again soon, so they wait until it is done.
 */
static bool rolling(int64_t h, int64_t now_ms, const struct store_rollup_level *levels, int n)
{
	int64_t cut;
	int i;

	for (i = 0; i < n; i++) {
		cut = now_ms - levels[i].age_ms;
		if (cut >= h && cut - h < STORE_HOUR_MS + levels[i].bucket_ms)
			return true;
	}
	return false;
}

/*
 * Sets @h[0..*n) to the hours worth summing: ended SETTLE_MS before
 * @now_ms, without sums, and not the oldest hour stored (retention and
 * eviction eat it a few windows at a time).
 */
static int candidates(struct store *st, int64_t now_ms, int64_t *h, int *n)
{
	sqlite3_stmt *s = NULL;
	int64_t first = 0;
	int rc, err;

	*n = 0;
	err = store_query_int(st, "SELECT ifnull(min(start_ms), 0) FROM windows", &first);
	if (err || hour_of(first) > INT64_MAX - 2 * STORE_HOUR_MS ||
	    now_ms < INT64_MIN + SETTLE_MS + STORE_HOUR_MS)
		return err;
	err = store_rc(st, sqlite3_prepare_v2(st->db, "SELECT h FROM (SELECT DISTINCT "
					      STORE_HOUR_OF("start_ms") " AS h FROM windows"
					      " WHERE start_ms >= ?1) WHERE h <= ?2 AND h NOT IN"
					      " (SELECT start_ms FROM hours WHERE ready = 1)"
					      " ORDER BY h LIMIT ?3", -1, &s, NULL));
	if (err)
		return err;
	sqlite3_bind_int64(s, 1, hour_of(first) + STORE_HOUR_MS);
	sqlite3_bind_int64(s, 2, now_ms - SETTLE_MS - STORE_HOUR_MS);
	sqlite3_bind_int64(s, 3, MAX_HOURS);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < MAX_HOURS)
		h[(*n)++] = sqlite3_column_int64(s, 0);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_rc(st, rc);
	sqlite3_finalize(s);
	return err;
}

/* Sums the samples of the windows starting in hour @h into @g, in a read snapshot. */
static int sum_hour(struct store *st, int64_t h, struct store_agg *g, bool *marked)
{
	sqlite3_stmt *s = NULL;
	int64_t ready = -1;
	int err;

	err = store_begin(st, false);
	if (err)
		return err;
	err = store_rc(st, sqlite3_prepare_v2(st->db, "SELECT ember_sum(?3, s.proc, s.stack, s.count)"
					      " FROM windows w JOIN samples s ON s.win = w.id"
					      " WHERE w.start_ms >= ?1 AND w.start_ms < ?2", -1, &s,
					      NULL));
	if (!err) {
		sqlite3_bind_int64(s, 1, h);
		sqlite3_bind_int64(s, 2, h + STORE_HOUR_MS);
		err = store_agg__run(st, s, 3, g);
	}
	sqlite3_finalize(s);
	s = NULL;
	if (!err) {
		err = store_rc(st, sqlite3_prepare_v2(st->db, "SELECT ready FROM hours"
						      " WHERE start_ms = ?1", -1, &s, NULL));
		sqlite3_bind_int64(s, 1, h);
		if (!err && sqlite3_step(s) == SQLITE_ROW)
			ready = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	store_rollback(st);
	*marked = ready == 0;
	return err;
}

/* Writes @g as hour @h's sums if the hour still carries its mark.  Returns 0 or -errno. */
static int write_hour(struct store *st, int64_t h, const struct store_agg *g)
{
	struct store_blob b = { 0 };
	sqlite3_stmt *s = NULL;
	int rc, err;

	err = store_blob__stacks(&b, g->ents, g->n);
	if (!err)
		err = store_begin(st, true);
	if (err)
		goto out;
	/* no change: the hour changed since it was marked, its sums wait for the next pass */
	err = store_rc(st, sqlite3_prepare_v2(st->db, "UPDATE hours SET ready = 1, data = ?2"
					      " WHERE start_ms = ?1 AND ready = 0", -1, &s, NULL));
	if (!err) {
		sqlite3_bind_int64(s, 1, h);
		sqlite3_bind_blob(s, 2, b.p ? (const void *)b.p : "", (int)b.len, SQLITE_STATIC);
		rc = sqlite3_step(s);
		err = rc == SQLITE_DONE ? 0 : store_rc(st, rc);
	}
	sqlite3_finalize(s);
	if (err)
		store_rollback(st);
	else
		err = store_commit(st);
out:
	store_blob__free(&b);
	return err;
}

/* Marks, sums and writes hour @h. */
static int build_hour(struct store *st, int64_t h)
{
	struct store_agg g = {};
	int64_t v[1] = { h };
	bool marked = false;
	double t0 = store_mono();
	int err;

	err = store_begin(st, true);
	if (!err) {
		err = store_sql(st, "INSERT OR REPLACE INTO hours(start_ms, ready, data)"
				" VALUES (?1, 0, NULL)", v, NULL);
		if (err)
			store_rollback(st);
		else
			err = store_commit(st);
	}
	if (!err)
		err = store_pause(st, t0);
	if (!err)
		err = sum_hour(st, h, &g, &marked);
	if (!err && marked) {
		store_agg__sort(&g);
		t0 = store_mono();
		err = write_hour(st, h, &g);
		if (!err)
			err = store_pause(st, t0);
	}
	store_agg__free(&g);
	return err;
}

int store_hours_build(struct store *st, int64_t now_ms, const struct store_rollup_level *levels,
		      int nlevels)
{
	int64_t *h = malloc(MAX_HOURS * sizeof(*h));
	int i, n = 0, err;

	if (!h)
		return -ENOMEM;
	err = candidates(st, now_ms, h, &n);
	for (i = 0; i < n && !err; i++)
		if (!rolling(h[i], now_ms, levels, nlevels))
			err = build_hour(st, h[i]);
	free(h);
	/* Sums only save time: a store at its size cap goes without new ones. */
	return err == -ENOSPC ? 0 : err;
}
