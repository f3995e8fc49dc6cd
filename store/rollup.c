// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * rollup.c - keeping the store small: rollups merge old fine windows into
 * coarse ones, retention deletes old windows and whatever only they used.
 *
 * A rollup sums the counts of equal (process, stack) pairs, so every total
 * is exactly the sum of its parts; only the time resolution is lost.  Both
 * run as one transaction each, so a crash leaves the store as before.
 */
#include <errno.h>
#include "internal.h"

static const struct store_rollup_level default_levels[] = {
	{ .age_ms = 3600 * 1000LL, .bucket_ms = 60 * 1000LL },
	{ .age_ms = 24 * 3600 * 1000LL, .bucket_ms = 600 * 1000LL },
};

/*
 * One rollup level; ?1 is the bucket length, ?2 the cutoff.  temp.ru maps
 * each window to roll up to its bucket start, temp.rb each bucket to the
 * window that receives it (an existing one of exactly that span, or new).
 */
static const char *const rollup_sql[] = {
	"CREATE TEMP TABLE IF NOT EXISTS ru (old INTEGER PRIMARY KEY, b INTEGER NOT NULL)",
	"CREATE TEMP TABLE IF NOT EXISTS rb (b INTEGER PRIMARY KEY, win INTEGER)",
	"DELETE FROM temp.ru",
	"DELETE FROM temp.rb",
	"INSERT INTO temp.ru SELECT id, start_ms - ((start_ms % ?1) + ?1) % ?1 FROM windows"
	" WHERE start_ms < ?2 AND dur_ms < ?1"
	" AND start_ms - ((start_ms % ?1) + ?1) % ?1 + ?1 <= ?2",
	"INSERT INTO temp.rb SELECT b, (SELECT min(id) FROM windows w WHERE w.start_ms = ru.b"
	" AND w.dur_ms = ?1) FROM temp.ru GROUP BY b",
	"INSERT INTO windows(start_ms, dur_ms, samples) SELECT b, ?1, 0 FROM temp.rb"
	" WHERE win IS NULL",
	"UPDATE temp.rb SET win = (SELECT min(id) FROM windows w WHERE w.start_ms = rb.b"
	" AND w.dur_ms = ?1) WHERE win IS NULL",
	"INSERT INTO samples(win, proc, stack, count) SELECT rb.win, s.proc, s.stack,"
	" sum(s.count) FROM temp.ru JOIN temp.rb ON rb.b = ru.b JOIN samples s"
	" ON s.win = ru.old WHERE 1 GROUP BY rb.win, s.proc, s.stack"
	" ON CONFLICT DO UPDATE SET count = count + excluded.count",
	"DELETE FROM samples WHERE win IN (SELECT old FROM temp.ru)",
	"DELETE FROM windows WHERE id IN (SELECT old FROM temp.ru)",
	"UPDATE windows SET samples = (SELECT ifnull(sum(count), 0) FROM samples"
	" WHERE win = windows.id) WHERE id IN (SELECT win FROM temp.rb)",
};

/*
 * Garbage collection after retention: stack nodes that no sample reaches
 * (directly or as an ancestor), then frames, processes and strings that
 * nothing left refers to.
 */
static const char *const gc_sql[] = {
	"WITH RECURSIVE live(id) AS (SELECT stack FROM samples UNION"
	" SELECT t.parent FROM stacks t JOIN live ON t.id = live.id WHERE t.parent != 0)"
	" DELETE FROM stacks WHERE id NOT IN (SELECT id FROM live)",
	"DELETE FROM frames WHERE id NOT IN (SELECT frame FROM stacks)",
	"DELETE FROM procs WHERE id NOT IN (SELECT proc FROM samples)",
	"DELETE FROM strings WHERE id NOT IN (SELECT name FROM frames"
	" UNION ALL SELECT module FROM frames UNION ALL SELECT file FROM frames"
	" UNION ALL SELECT build_id FROM frames"
	" UNION ALL SELECT comm FROM procs UNION ALL SELECT exe FROM procs"
	" UNION ALL SELECT cgroup FROM procs)",
};

/*
 * Runs @sql with its parameters ?1, ?2 (if any) bound to @a, @b.  Sets
 * *changes (if not NULL) to the rows it changed.  Returns 0 or -errno.
 */
static int run_sql(struct store *st, const char *sql, int64_t a, int64_t b, int *changes)
{
	sqlite3_stmt *s = NULL;
	int rc, n, err;

	err = store_rc(st, sqlite3_prepare_v2(st->db, sql, -1, &s, NULL));
	if (err)
		goto out;
	n = sqlite3_bind_parameter_count(s);
	if (n >= 1)
		sqlite3_bind_int64(s, 1, a);
	if (n >= 2)
		sqlite3_bind_int64(s, 2, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	err = store_rc(st, rc);
	if (!err && changes)
		*changes = sqlite3_changes(st->db);
out:
	sqlite3_finalize(s);
	return err;
}

static int run_all(struct store *st, const char *const *sql, size_t n, int64_t a, int64_t b)
{
	size_t i;
	int err = 0;

	for (i = 0; i < n && !err; i++)
		err = run_sql(st, sql[i], a, b, NULL);
	return err;
}

static int check_levels(const struct store_rollup_level *levels, int n)
{
	int i;

	if (n < 0 || (n && !levels))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (levels[i].bucket_ms <= 0 || levels[i].age_ms < 0)
			return -EINVAL;
	return 0;
}

int store__rollup(struct store *st, int64_t now_ms, const struct store_rollup_level *levels,
		  int nlevels)
{
	size_t nsql = sizeof(rollup_sql) / sizeof(rollup_sql[0]);
	int i, err;

	if (!levels) {
		levels = default_levels;
		nlevels = sizeof(default_levels) / sizeof(default_levels[0]);
	}
	if (!st || check_levels(levels, nlevels))
		return -EINVAL;
	if (st->flags & STORE_READONLY)
		return -EROFS;
	err = store_begin(st, true);
	if (err)
		return err;
	for (i = 0; i < nlevels && !err; i++)
		err = run_all(st, rollup_sql, nsql, levels[i].bucket_ms,
			      now_ms - levels[i].age_ms);
	if (err)
		store_rollback(st);
	else
		err = store_commit(st);
	return err;
}

int store__retain(struct store *st, int64_t before_ms)
{
	int deleted = 0, err;

	if (!st)
		return -EINVAL;
	if (st->flags & STORE_READONLY)
		return -EROFS;
	err = store_begin(st, true);
	if (err)
		return err;
	err = run_sql(st, "DELETE FROM samples WHERE win IN"
		      " (SELECT id FROM windows WHERE start_ms < ?1)", before_ms, 0, NULL);
	if (!err)
		err = run_sql(st, "DELETE FROM windows WHERE start_ms < ?1", before_ms, 0,
			      &deleted);
	if (!err && deleted)
		err = run_all(st, gc_sql, sizeof(gc_sql) / sizeof(gc_sql[0]), 0, 0);
	if (err) {
		store_rollback(st);
		goto out;
	}
	err = store_commit(st);
	if (err || !deleted)
		goto out;
	/* Ids were deleted and may be reused: the caches are stale now. */
	store_caches_clear(st);
	err = store_exec(st, "PRAGMA incremental_vacuum");
out:
	return err;
}

int store__evict(struct store *st, int round, uint64_t *deleted)
{
	struct store_stats before, after;
	int64_t cut;
	int err;

	*deleted = 0;
	err = store__stats(st, &before);
	if (err)
		return err;
	if (!before.windows || round < 0 || round > 20)
		return -ENOSPC;
	cut = before.first_ms + (before.last_ms - before.first_ms) / 20 * (1 << round);
	err = store__retain(st, cut > before.first_ms ? cut : before.first_ms + 1);
	if (!err)
		err = store__stats(st, &after);
	if (!err && after.windows >= before.windows)
		err = -ENOSPC;
	if (!err)
		*deleted = before.windows - after.windows;
	return err;
}
