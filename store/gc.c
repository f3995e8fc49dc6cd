// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * gc.c - garbage collection after retention and rollups: the stacks,
 * frames, processes and strings no sample refers to any more.
 *
 * Finding them takes a scan of every sample, seconds on a week of a busy
 * host, so it runs in a read snapshot, which in WAL mode never blocks the
 * writer.  Only the deletion takes the write lock, in a transaction that
 * first spares whatever the windows written since the snapshot use (they
 * may have picked up an id that looked dead), so it is short.  Windows
 * only ever get new ids while this runs: nothing else deletes the newest.
 */
#include <errno.h>
#include <stdint.h>
#include "internal.h"

/* Dead ids as of the snapshot; temp.gw: the windows it saw. */
static const char *const mark_sql[] = {
	"CREATE TEMP TABLE IF NOT EXISTS gw (id INTEGER PRIMARY KEY)",
	"CREATE TEMP TABLE IF NOT EXISTS gs (id INTEGER PRIMARY KEY)",
	"CREATE TEMP TABLE IF NOT EXISTS gf (id INTEGER PRIMARY KEY)",
	"CREATE TEMP TABLE IF NOT EXISTS gp (id INTEGER PRIMARY KEY)",
	"CREATE TEMP TABLE IF NOT EXISTS gt (id INTEGER PRIMARY KEY)",
	"CREATE TEMP TABLE IF NOT EXISTS gr (id INTEGER PRIMARY KEY)",
	"CREATE TEMP TABLE IF NOT EXISTS gn (id INTEGER PRIMARY KEY)",
	"CREATE TEMP TABLE IF NOT EXISTS grf (id INTEGER PRIMARY KEY)",
	"CREATE TEMP TABLE IF NOT EXISTS grp (id INTEGER PRIMARY KEY)",
	"DELETE FROM temp.gw", "DELETE FROM temp.gs", "DELETE FROM temp.gf",
	"DELETE FROM temp.gp", "DELETE FROM temp.gt",
	"INSERT INTO temp.gw SELECT id FROM windows",
	/* stack nodes no sample reaches, directly or as an ancestor */
	"WITH RECURSIVE live(id) AS (SELECT stack FROM samples UNION"
	" SELECT t.parent FROM stacks t JOIN live ON t.id = live.id WHERE t.parent != 0)"
	" INSERT INTO temp.gs SELECT id FROM stacks WHERE id NOT IN (SELECT id FROM live)",
	"INSERT INTO temp.gf SELECT id FROM frames WHERE id NOT IN"
	" (SELECT frame FROM stacks WHERE id NOT IN temp.gs)",
	"INSERT INTO temp.gp SELECT id FROM procs WHERE id NOT IN (SELECT proc FROM samples)",
	"INSERT INTO temp.gt SELECT id FROM strings WHERE id NOT IN"
	" (SELECT name FROM frames WHERE id NOT IN temp.gf"
	" UNION ALL SELECT module FROM frames WHERE id NOT IN temp.gf"
	" UNION ALL SELECT file FROM frames WHERE id NOT IN temp.gf"
	" UNION ALL SELECT build_id FROM frames WHERE id NOT IN temp.gf"
	" UNION ALL SELECT comm FROM procs WHERE id NOT IN temp.gp"
	" UNION ALL SELECT exe FROM procs WHERE id NOT IN temp.gp"
	" UNION ALL SELECT cgroup FROM procs WHERE id NOT IN temp.gp)",
};

/*
 * Inside the write transaction, with ?1, ?2, ?3 the highest stack, frame
 * and process ids of the snapshot (later ones are new: only this deletes
 * them).  A dead id is spared when something written since uses it: a
 * recent sample's stack or process, the parent of a new stack node (and
 * their ancestors), the frame of a spared or new node, the strings of
 * spared or new frames and processes.  All of it is small: the windows
 * since the snapshot and the dead ids.
 */
static const char *const sweep_sql[] = {
	"DELETE FROM temp.gn", "DELETE FROM temp.gr", "DELETE FROM temp.grf", "DELETE FROM temp.grp",
	"INSERT INTO temp.gn SELECT id FROM windows WHERE id NOT IN temp.gw",
	"WITH RECURSIVE r(id) AS (SELECT id FROM"
	" (SELECT s.stack AS id FROM temp.gn CROSS JOIN samples s WHERE s.win = gn.id"
	" AND s.stack IN temp.gs UNION SELECT parent FROM stacks WHERE id > ?1"
	" AND parent IN temp.gs)"
	" UNION SELECT t.parent FROM r CROSS JOIN stacks t WHERE t.id = r.id"
	" AND t.parent IN temp.gs)"
	" INSERT INTO temp.gr SELECT id FROM r",
	"INSERT OR IGNORE INTO temp.grf SELECT frame FROM stacks WHERE id IN temp.gr",
	"INSERT OR IGNORE INTO temp.grf SELECT frame FROM stacks WHERE id > ?1",
	"INSERT OR IGNORE INTO temp.grf SELECT id FROM frames WHERE id > ?2",
	"INSERT OR IGNORE INTO temp.grp SELECT s.proc FROM temp.gn CROSS JOIN samples s"
	" WHERE s.win = gn.id",
	"INSERT OR IGNORE INTO temp.grp SELECT id FROM procs WHERE id > ?3",
	"DELETE FROM temp.gs WHERE id IN temp.gr",
	"DELETE FROM temp.gf WHERE id IN temp.grf",
	"DELETE FROM temp.gp WHERE id IN temp.grp",
	"DELETE FROM temp.gt WHERE id IN"
	" (SELECT name FROM frames WHERE id IN temp.grf"
	" UNION ALL SELECT module FROM frames WHERE id IN temp.grf"
	" UNION ALL SELECT file FROM frames WHERE id IN temp.grf"
	" UNION ALL SELECT build_id FROM frames WHERE id IN temp.grf"
	" UNION ALL SELECT comm FROM procs WHERE id IN temp.grp"
	" UNION ALL SELECT exe FROM procs WHERE id IN temp.grp"
	" UNION ALL SELECT cgroup FROM procs WHERE id IN temp.grp)",
	"DELETE FROM stacks WHERE id IN temp.gs",
	"DELETE FROM frames WHERE id IN temp.gf",
	"DELETE FROM procs WHERE id IN temp.gp",
	"DELETE FROM strings WHERE id IN temp.gt",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Free pages handed back to the file system per transaction. */
#define VACUUM_PAGES "64"

int store_query_int(struct store *st, const char *sql, int64_t *n)
{
	sqlite3_stmt *s = NULL;
	int rc, err;

	err = store_rc(st, sqlite3_prepare_v2(st->db, sql, -1, &s, NULL));
	if (!err) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*n = sqlite3_column_int64(s, 0);
		else
			err = rc == SQLITE_DONE ? -EIO : store_rc(st, rc);
	}
	sqlite3_finalize(s);
	return err;
}

int store_gc_mark(struct store *st, int64_t max[3])
{
	int err;

	/* a deferred BEGIN: the snapshot starts at the first read, no lock held */
	err = store_begin(st, false);
	if (!err)
		err = store_sql_all(st, mark_sql, NELEM(mark_sql), NULL);
	if (!err)
		err = store_query_int(st, "SELECT ifnull(max(id), 0) FROM stacks", &max[0]);
	if (!err)
		err = store_query_int(st, "SELECT ifnull(max(id), 0) FROM frames", &max[1]);
	if (!err)
		err = store_query_int(st, "SELECT ifnull(max(id), 0) FROM procs", &max[2]);
	if (!err)
		err = store_commit(st);
	else
		store_rollback(st);
	return err;
}

int store_gc_sweep(struct store *st, const int64_t max[3])
{
	int err;

	err = store_begin(st, true);
	if (!err)
		err = store_sql_all(st, sweep_sql, NELEM(sweep_sql), max);
	if (!err)
		err = store_commit(st);
	else
		store_rollback(st);
	if (!err)	/* ids were deleted and may be reused: the caches are stale now */
		store_caches_clear(st);
	return err;
}

int store_gc(struct store *st)
{
	int64_t freed = 0, last = INT64_MAX, max[3];
	double t0;
	int err;

	err = store_gc_mark(st, max);
	if (err)
		return err;
	t0 = store_mono();
	err = store_gc_sweep(st, max);
	if (err)
		return err;
	/* the freed pages go back to the file system a few at a time */
	err = store_query_int(st, "PRAGMA freelist_count", &freed);
	while (!err && freed > 0 && freed < last) {
		err = store_pause(st, t0);
		if (err)
			break;
		last = freed;
		t0 = store_mono();
		err = store_exec(st, "PRAGMA incremental_vacuum(" VACUUM_PAGES ")");
		if (!err)
			err = store_query_int(st, "PRAGMA freelist_count", &freed);
	}
	return err;
}
