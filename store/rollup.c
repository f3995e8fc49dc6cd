// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * rollup.c - keeping the store small: rollups merge old fine windows into
 * coarse ones, retention deletes old windows and whatever only they used.
 *
 * A rollup sums the counts of equal (process, stack) pairs, so every total
 * is exactly the sum of its parts; only the time resolution is lost.  Both
 * run a few windows per transaction, each leaving the store consistent, so
 * a crash loses nothing and another connection's writer (the agent's main
 * loop, while a store_keeper works) waits for the lock only briefly.
 */
#include <errno.h>
#include "internal.h"

static const struct store_rollup_level default_levels[] = {
	{ .age_ms = 3600 * 1000LL, .bucket_ms = 60 * 1000LL },
	{ .age_ms = 24 * 3600 * 1000LL, .bucket_ms = 600 * 1000LL },
};

/*
 * One batch of one rollup level; ?1 is the bucket length, ?2 the cutoff, ?3
 * the most buckets per batch.  temp.ru maps each window to roll up to its
 * bucket start, temp.rb each bucket to the window that receives it (an
 * existing one of exactly that span, or new).  temp.rp lists the
 * short-lived processes of each bucket: seen in only one of its windows
 * and not in the receiving window already; their rows are merged under
 * one process of the same comm, executable and cgroup with pid 0 (np), so
 * a host that runs a thousand short jobs a minute stores them once per
 * bucket, not once per pid.
 */
static const char *const rollup_sql[] = {
	"CREATE TEMP TABLE IF NOT EXISTS ru (old INTEGER PRIMARY KEY, b INTEGER NOT NULL)",
	"CREATE TEMP TABLE IF NOT EXISTS rb (b INTEGER PRIMARY KEY, win INTEGER)",
	"CREATE TEMP TABLE IF NOT EXISTS rp (b INTEGER NOT NULL, proc INTEGER NOT NULL,"
	" np INTEGER, PRIMARY KEY (b, proc)) WITHOUT ROWID",
	"DELETE FROM temp.ru",
	"DELETE FROM temp.rb",
	"DELETE FROM temp.rp",
	"WITH c AS (SELECT id, start_ms - ((start_ms % ?1) + ?1) % ?1 AS b FROM windows"
	" WHERE start_ms < ?2 AND dur_ms < ?1)"
	" INSERT INTO temp.ru SELECT id, b FROM c WHERE b + ?1 <= ?2 AND b IN"
	" (SELECT DISTINCT b FROM c WHERE b + ?1 <= ?2 ORDER BY b LIMIT ?3)",
	"INSERT INTO temp.rb SELECT b, (SELECT min(id) FROM windows w WHERE w.start_ms = ru.b"
	" AND w.dur_ms = ?1) FROM temp.ru GROUP BY b",
	"INSERT INTO windows(start_ms, dur_ms, samples) SELECT b, ?1, 0 FROM temp.rb"
	" WHERE win IS NULL",
	"UPDATE temp.rb SET win = (SELECT min(id) FROM windows w WHERE w.start_ms = rb.b"
	" AND w.dur_ms = ?1) WHERE win IS NULL",
	/* CROSS JOIN keeps this order: the planner, blind to temp tables' sizes, scans samples */
	"INSERT INTO temp.rp SELECT ru.b, s.proc, NULL FROM temp.ru CROSS JOIN samples s"
	" WHERE s.win = ru.old GROUP BY ru.b, s.proc HAVING count(DISTINCT s.win) = 1",
	"DELETE FROM temp.rp WHERE EXISTS (SELECT 1 FROM temp.rb CROSS JOIN samples s"
	" WHERE rb.b = rp.b AND s.win = rb.win AND s.proc = rp.proc)",
	"INSERT OR IGNORE INTO procs(comm, pid, exe, cgroup) SELECT DISTINCT p.comm, 0, p.exe,"
	" p.cgroup FROM temp.rp CROSS JOIN procs p WHERE p.id = rp.proc AND p.pid != 0",
	"UPDATE temp.rp SET np = (SELECT m.id FROM procs p CROSS JOIN procs m WHERE p.id = rp.proc"
	" AND m.comm = p.comm AND m.pid = 0 AND m.exe = p.exe AND m.cgroup = p.cgroup)",
	"INSERT INTO samples(win, proc, stack, count) SELECT rb.win, ifnull(rp.np, s.proc),"
	" s.stack, sum(s.count) FROM temp.ru CROSS JOIN temp.rb CROSS JOIN samples s"
	" LEFT JOIN temp.rp ON rp.b = ru.b AND rp.proc = s.proc"
	" WHERE rb.b = ru.b AND s.win = ru.old GROUP BY rb.win, ifnull(rp.np, s.proc), s.stack"
	" ON CONFLICT DO UPDATE SET count = count + excluded.count",
	/* the sums of every hour a window left or grew in, and of the windows (hours.c) */
	"CREATE TEMP TABLE IF NOT EXISTS rh (h INTEGER PRIMARY KEY)",
	"DELETE FROM temp.rh",
	"INSERT OR IGNORE INTO temp.rh SELECT " STORE_HOUR_OF("w.start_ms")
	" FROM temp.ru CROSS JOIN windows w WHERE w.id = ru.old",
	"INSERT OR IGNORE INTO temp.rh SELECT " STORE_HOUR_OF("b") " FROM temp.rb",
	"DELETE FROM hours WHERE start_ms IN (SELECT h FROM temp.rh)",
	"DELETE FROM win_procs WHERE win IN (SELECT old FROM temp.ru)",
	"DELETE FROM win_procs WHERE win IN (SELECT win FROM temp.rb)",
	"DELETE FROM samples WHERE win IN (SELECT old FROM temp.ru)",
	"DELETE FROM windows WHERE id IN (SELECT old FROM temp.ru)",
	"UPDATE windows SET samples = (SELECT ifnull(sum(count), 0) FROM samples"
	" WHERE win = windows.id) WHERE id IN (SELECT win FROM temp.rb)",
	/* then store_sums__rolled() writes the receiving windows' sums per process */
};

/* The rollup statement that picks the batch's windows (its changes: the batch size). */
#define ROLLUP_PICK 6

/* Buckets per rollup transaction: a few ms of a busy host's rows each. */
#define BATCH_BUCKETS 1

/* Windows per housekeeping transaction: a few ms of a busy host's rows each. */
#define BATCH_WINDOWS 3

/* One batch of retention; ?1 the cutoff, ?2 the most windows per batch. */
static const char *const retain_sql[] = {
	"CREATE TEMP TABLE IF NOT EXISTS rw (id INTEGER PRIMARY KEY)",
	"DELETE FROM temp.rw",
	"INSERT INTO temp.rw SELECT id FROM windows WHERE start_ms < ?1 ORDER BY start_ms LIMIT ?2",
	"CREATE TEMP TABLE IF NOT EXISTS rh (h INTEGER PRIMARY KEY)",
	"DELETE FROM temp.rh",
	"INSERT OR IGNORE INTO temp.rh SELECT " STORE_HOUR_OF("w.start_ms")
	" FROM temp.rw CROSS JOIN windows w WHERE w.id = rw.id",
	"DELETE FROM hours WHERE start_ms IN (SELECT h FROM temp.rh)",
	"DELETE FROM win_procs WHERE win IN (SELECT id FROM temp.rw)",
	"DELETE FROM samples WHERE win IN (SELECT id FROM temp.rw)",
	"DELETE FROM windows WHERE id IN (SELECT id FROM temp.rw)",
};

#define RETAIN_PICK 2

/* From this store__evict() round on, it collects garbage too. */
#define EVICT_GC_ROUND 2

double store_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int store_pause(struct store *st, double t0)
{
	double held = store_mono() - t0;
	struct timespec ts;

	if (!st->share_lock)
		return 0;
	/*
	 * Copies what this transaction wrote from the WAL into the file now, on
	 * this thread: left there, the writer's next commit would do it.
	 */
	sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	/* SQLite's busy handler polls every 25-100 ms once it has waited a while */
	if (held < 0.1)
		held = 0.1;
	ts.tv_sec = (time_t)held;
	ts.tv_nsec = (long)((held - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	return st->cancel && *st->cancel ? -ECANCELED : 0;
}

int store_sql(struct store *st, const char *sql, const int64_t *v, int *changes)
{
	sqlite3_stmt *s = NULL;
	int rc, i, n, err;

	err = store_rc(st, sqlite3_prepare_v2(st->db, sql, -1, &s, NULL));
	if (err)
		goto out;
	n = sqlite3_bind_parameter_count(s);
	for (i = 0; i < n && i < 3; i++)
		sqlite3_bind_int64(s, i + 1, v ? v[i] : 0);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	err = store_rc(st, rc);
	if (!err && changes)
		*changes = sqlite3_changes(st->db);
out:
	sqlite3_finalize(s);
	return err;
}

int store_sql_all(struct store *st, const char *const *sql, size_t n, const int64_t *v)
{
	size_t i;
	int err = 0;

	for (i = 0; i < n && !err; i++)
		err = store_sql(st, sql[i], v, NULL);
	return err;
}

/*
 * Runs the statements of @sql in one transaction; *picked is what
 * statement @pick changed (the batch's windows).  Returns 0 or -errno.
 */
static int run_batch(struct store *st, const char *const *sql, size_t n, size_t pick,
		     const int64_t *v, int *picked, int (*then)(struct store *st))
{
	size_t i;
	int err;

	*picked = 0;
	err = store_begin(st, true);
	for (i = 0; i < n && !err; i++)
		err = store_sql(st, sql[i], v, i == pick ? picked : NULL);
	if (!err && then && *picked)
		err = then(st);
	if (err)
		store_rollback(st);
	else
		err = store_commit(st);
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
	int64_t v[3];
	int i, n, err = 0;
	double t0;

	if (!levels) {
		levels = default_levels;
		nlevels = sizeof(default_levels) / sizeof(default_levels[0]);
	}
	if (!st || check_levels(levels, nlevels))
		return -EINVAL;
	if (st->flags & STORE_READONLY)
		return -EROFS;
	for (i = 0; i < nlevels && !err; i++) {
		v[0] = levels[i].bucket_ms;
		v[1] = now_ms - levels[i].age_ms;
		v[2] = BATCH_BUCKETS;
		do {
			t0 = store_mono();
			err = run_batch(st, rollup_sql, nsql, ROLLUP_PICK, v, &n,
					store_sums__rolled);
			if (!err && n)
				err = store_pause(st, t0);
		} while (!err && n);
	}
	return err ?: store_hours_build(st, now_ms, levels, nlevels);
}

int store_delete_before(struct store *st, int64_t before_ms, uint64_t *deleted)
{
	int64_t v[3] = { before_ms, BATCH_WINDOWS, 0 };
	int n, err;
	double t0;

	do {
		t0 = store_mono();
		err = run_batch(st, retain_sql, sizeof(retain_sql) / sizeof(retain_sql[0]),
				RETAIN_PICK, v, &n, NULL);
		if (!err && n) {
			*deleted += n;
			err = store_pause(st, t0);
		}
	} while (!err && n);
	return err;
}

int store__retain(struct store *st, int64_t before_ms)
{
	uint64_t deleted = 0;
	int err;

	if (!st)
		return -EINVAL;
	if (st->flags & STORE_READONLY)
		return -EROFS;
	err = store_delete_before(st, before_ms, &deleted);
	if (!err && deleted)
		err = store_gc(st);
	return err;
}

int store__evict(struct store *st, int round, uint64_t *deleted)
{
	struct store_stats before;
	sqlite3_int64 changes;
	int64_t cut;
	int err;

	*deleted = 0;
	if (round < 0 || round > 20)
		return -ENOSPC;
	err = store__stats(st, &before);
	if (!err && before.windows) {
		cut = before.first_ms + (before.last_ms - before.first_ms) / 200 * (1 << round);
		err = store_delete_before(st, cut > before.first_ms ? cut : before.first_ms + 1,
					  deleted);
	}
	if (err || (*deleted && round < EVICT_GC_ROUND))
		return err;
	/*
	 * The samples' pages usually take the new window, and garbage
	 * collection (a scan of every sample) is left to retention.  When the
	 * first rounds were not enough, the space is in stacks and names: collect.
	 */
	changes = sqlite3_total_changes64(st->db);
	err = store_gc(st);
	if (!err && !*deleted && sqlite3_total_changes64(st->db) == changes)
		err = -ENOSPC;
	return err;
}
