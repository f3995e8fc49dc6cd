// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * schema.c - opening a store: checks the file is ours, creates or migrates
 * the schema (versioned in PRAGMA user_version), prepares the statements.
 *
 * A new file is built by running every migration from version 0, so a new
 * store and a migrated one are the same by construction.  Nothing is
 * written before the file is known to be an ember store of a version this
 * code understands, so a refused file is left byte for byte as it was.
 *
 * Tables (ids are rowids; string id 0 and stack node 0 mean "none"):
 *   strings(id, s BLOB UNIQUE)                every name, exactly its bytes
 *   frames(id, name, module, file, line, flags, build_id)  UNIQUE over all columns
 *   stacks(id, parent, frame)                 a prefix trie, root first
 *   procs(id, comm, pid, exe, cgroup)         UNIQUE over all columns
 *   windows(id, start_ms, dur_ms, samples)    raw and rolled-up windows
 *   samples(win, proc, stack, count)          WITHOUT ROWID, key (win, proc, stack)
 *   win_procs(win, data)                      a window's samples summed per process (sums.c)
 *   hours(start_ms, ready, data)              an hour's, per process and stack (hours.c)
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

/* Version 1: the first schema, without cgroups and without a time index. */
static const char schema_v1[] =
	"PRAGMA application_id = 1162691154;"
	"CREATE TABLE strings (id INTEGER PRIMARY KEY, s BLOB NOT NULL);"
	"CREATE UNIQUE INDEX strings_s ON strings(s);"
	"CREATE TABLE frames (id INTEGER PRIMARY KEY, name INTEGER NOT NULL,"
	" module INTEGER NOT NULL, file INTEGER NOT NULL, line INTEGER NOT NULL,"
	" flags INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX frames_key ON frames(name, module, file, line, flags);"
	"CREATE TABLE stacks (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL,"
	" frame INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX stacks_key ON stacks(parent, frame);"
	"CREATE TABLE procs (id INTEGER PRIMARY KEY, comm INTEGER NOT NULL,"
	" pid INTEGER NOT NULL, exe INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX procs_key ON procs(comm, pid, exe);"
	"CREATE TABLE windows (id INTEGER PRIMARY KEY, start_ms INTEGER NOT NULL,"
	" dur_ms INTEGER NOT NULL, samples INTEGER NOT NULL);"
	"CREATE TABLE samples (win INTEGER NOT NULL, proc INTEGER NOT NULL,"
	" stack INTEGER NOT NULL, count INTEGER NOT NULL,"
	" PRIMARY KEY (win, proc, stack)) WITHOUT ROWID;"
	"PRAGMA user_version = 1;";

/* Version 2: processes gain a cgroup label; windows are indexed by start. */
static const char migrate_v2[] =
	"ALTER TABLE procs ADD COLUMN cgroup INTEGER NOT NULL DEFAULT 0;"
	"DROP INDEX procs_key;"
	"CREATE UNIQUE INDEX procs_key2 ON procs(comm, pid, exe, cgroup);"
	"CREATE INDEX windows_start ON windows(start_ms);"
	"PRAGMA user_version = 2;";

/* v3: settings of the writer that readers need, such as the sampling period. */
static const char migrate_v3[] =
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"PRAGMA user_version = 3;";

/*
 * v4: frames gain the build id (a string id) of their module's file, so
 * exports can say which build of a binary was profiled.  Frames written
 * before have none (0).
 */
static const char migrate_v4[] =
	"ALTER TABLE frames ADD COLUMN build_id INTEGER NOT NULL DEFAULT 0;"
	"DROP INDEX frames_key;"
	"CREATE UNIQUE INDEX frames_key2 ON frames(name, module, file, line, flags, build_id);"
	"PRAGMA user_version = 4;";

/*
 * v5: sums that spare queries a scan of every sample (packed, see sums.c):
 * per window and process (the timeline and the process list), and per
 * settled hour, process and stack (flame graphs; see hours.c).  Windows
 * written before have none: queries read their samples.
 */
static const char migrate_v5[] =
	"CREATE TABLE win_procs (win INTEGER PRIMARY KEY, data BLOB NOT NULL);"
	"CREATE TABLE hours (start_ms INTEGER PRIMARY KEY, ready INTEGER NOT NULL, data BLOB);"
	"PRAGMA user_version = 5;";

/* migrations[v] takes a version-v store to version v + 1. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
	schema_v1, migrate_v2, migrate_v3, migrate_v4, migrate_v5,
};

#define STORE_STMT_SQL(id, sql) [id] = sql,
static const char *const stmt_sql[S__COUNT] = { STORE_STMTS(STORE_STMT_SQL) };
#undef STORE_STMT_SQL

/*
 * Prepares @sql into *s and steps it to its first row.  Returns 0 or
 * -errno; the caller finalizes *s either way.
 */
static int first_row(struct store *st, const char *sql, sqlite3_stmt **s)
{
	int rc, err;

	err = store_rc(st, sqlite3_prepare_v2(st->db, sql, -1, s, NULL));
	if (err)
		return err;
	rc = sqlite3_step(*s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -EIO : store_rc(st, rc);
}

/*
 * Reads the header fields that say whose file this is.  The first read of
 * a file that is not SQLite fails here with SQLITE_NOTADB -> -ENOTSUP.
 */
static int read_header(struct store *st, int64_t *version, int64_t *app_id, int64_t *tables)
{
	sqlite3_stmt *s = NULL;
	int err;

	err = first_row(st, "SELECT (SELECT user_version FROM pragma_user_version),"
			" (SELECT application_id FROM pragma_application_id),"
			" (SELECT count(*) FROM sqlite_master)", &s);
	if (!err) {
		*version = sqlite3_column_int64(s, 0);
		*app_id = sqlite3_column_int64(s, 1);
		*tables = sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	return err;
}

/* Returns the file's schema version, or -errno if we must not touch it. */
static int check_file(struct store *st, int64_t *version)
{
	int64_t app_id = 0, tables = 0;
	int err;

	err = read_header(st, version, &app_id, &tables);
	if (err)
		return err;
	if (*version == 0 && tables == 0)
		return 0;	/* a new (empty) file */
	if (app_id != STORE_APP_ID) {
		snprintf(st->msg, sizeof(st->msg), "application_id %lld is not ember's",
			 (long long)app_id);
		return -ENOTSUP;
	}
	if (*version > STORE_SCHEMA_VERSION) {
		snprintf(st->msg, sizeof(st->msg), "schema version %lld, this ember knows %d",
			 (long long)*version, STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	return 0;
}

/* Runs the migrations from @version up, in one transaction. */
static int migrate(struct store *st, int64_t version)
{
	int64_t app_id, tables;
	int err;

	err = store_begin(st, true);
	if (err)
		return err;
	/* Another process may have migrated it since check_file(). */
	err = read_header(st, &version, &app_id, &tables);
	if (!err && version > STORE_SCHEMA_VERSION)
		err = -EPROTO;
	for (; !err && version < STORE_SCHEMA_VERSION; version++)
		err = store_exec(st, migrations[version]);
	if (err)
		store_rollback(st);
	else
		err = store_commit(st);
	return err;
}

/* Read-write setup: WAL, then create or migrate. */
static int setup_rw(struct store *st, int64_t version)
{
	int err = 0;

	/* Only possible before the first table exists. */
	if (version == 0)
		err = store_exec(st, "PRAGMA auto_vacuum = INCREMENTAL");
	if (!err)
		err = store_exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
				 " PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 4194304");
	if (!err && version < STORE_SCHEMA_VERSION)
		err = migrate(st, version);
	return err;
}

static int prepare_all(struct store *st)
{
	int i, err = 0;

	for (i = 0; i < S__COUNT && !err; i++)
		err = store_rc(st, sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
						      SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
						      NULL));
	if (!err)
		err = store_run(st, S_DATA_VERSION, NULL, 0, &st->data_version);
	if (!err)
		err = store_agg__register(st);
	return err;
}

/* Opens the connection itself; the file is not read yet. */
static int open_db(struct store *st, const char *path, bool immutable)
{
	/* one thread at a time per struct store (store.h): SQLite's per-call mutex buys nothing */
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	char *uri = NULL;
	int err;

	if (st->flags & STORE_READONLY)
		oflags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
	if (immutable) {
		uri = sqlite3_mprintf("file:%s?immutable=1", path);
		if (!uri)
			return -ENOMEM;
		oflags |= SQLITE_OPEN_URI;
	}
	err = store_rc(st, sqlite3_open_v2(uri ? uri : path, &st->db, oflags, NULL));
	sqlite3_free(uri);
	if (err)
		return err;
	sqlite3_extended_result_codes(st->db, 1);
	/*
	 * A reader may be handed anyone's file (ember serve): its schema must
	 * not run functions from views or triggers, nor write the file.
	 */
	if ((st->flags & STORE_READONLY) &&
	    (sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK ||
	     sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK))
		return store_rc(st, SQLITE_ERROR);
	return store_rc(st, sqlite3_busy_timeout(st->db, STORE_BUSY_MS));
}

/* Whether @path's write-ahead log exists and holds frames not yet in the file. */
static bool wal_has_data(const char *path)
{
	char wal[PATH_MAX];
	struct stat sb;

	if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
		return true;
	return !stat(wal, &sb) && sb.st_size > 0;
}

/*
 * A reader of a WAL store needs its -shm file, which it cannot create in a
 * directory it may not write (a user exporting root's store).  With no
 * log content pending, the file alone is the whole store: read it as
 * immutable.  Returns 0 with st->db reopened, -ENOLCK when the log has
 * content only a writer of the directory can see, or @err unchanged.
 */
static int open_ro_fallback(struct store *st, const char *path, int err, int64_t *version)
{
	char msg[sizeof(st->msg)];

	/* '?', '#' and '%' would end or escape the path inside a URI. */
	if (!(st->flags & STORE_READONLY) || (err != -EROFS && err != -EACCES && err != -ENOENT) ||
	    strpbrk(path, "?#%") || access(path, R_OK))
		return err;
	if (wal_has_data(path))
		return -ENOLCK;
	memcpy(msg, st->msg, sizeof(msg));
	sqlite3_close(st->db);
	st->db = NULL;
	if (!open_db(st, path, true) && !check_file(st, version))
		return 0;
	memcpy(st->msg, msg, sizeof(msg));
	return err;
}

int store__open(const char *path, int flags, struct store **out)
{
	struct store *st = NULL;
	int64_t version = 0;
	int err;

	if (!path || !out || (flags & ~STORE_READONLY))
		return -EINVAL;
	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->flags = flags;
	err = open_db(st, path, false);
	/* SQLite quietly opens read-only what it cannot write (read-only fs) */
	if (!err && !(flags & STORE_READONLY) && sqlite3_db_readonly(st->db, "main") == 1)
		err = -EROFS;
	if (!err)
		err = check_file(st, &version);
	if (err)
		err = open_ro_fallback(st, path, err, &version);
	if (err)
		goto out;
	if (flags & STORE_READONLY) {
		err = version == STORE_SCHEMA_VERSION ? 0 : version ? -EROFS : -ENOENT;
		if (!err)
			err = store_exec(st, "PRAGMA query_only = 1");
	} else {
		err = setup_rw(st, version);
	}
	if (!err)
		err = prepare_all(st);
out:
	if (err)
		store__free(st);
	else
		*out = st;
	return err;
}

void store__free(struct store *st)
{
	int i;

	if (!st)
		return;
	for (i = 0; i < S__COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	store_caches_clear(st);
	free(st);
}

int store__set_max_bytes(struct store *st, uint64_t bytes)
{
	int64_t page = 4096, pages = 4294967294LL;	/* SQLite's own maximum */
	char sql[64];
	int err;

	if (!st)
		return -EINVAL;
	err = store_run(st, S_PAGE_SIZE, NULL, 0, &page);
	if (err)
		return err;
	if (bytes && page > 0)
		pages = bytes / page ? (int64_t)(bytes / page) : 1;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages);
	return store_exec(st, sql);
}

int store__stats(struct store *st, struct store_stats *out)
{
	sqlite3_stmt *s = NULL;
	int err;

	if (!st || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	err = first_row(st, "SELECT ifnull(min(start_ms), 0), ifnull(max(start_ms + dur_ms), 0),"
			" count(*), ifnull(sum(samples), 0), (SELECT page_count * page_size"
			" FROM pragma_page_count, pragma_page_size) FROM windows", &s);
	if (!err) {
		out->first_ms = sqlite3_column_int64(s, 0);
		out->last_ms = sqlite3_column_int64(s, 1);
		out->windows = sqlite3_column_int64(s, 2);
		out->samples = sqlite3_column_int64(s, 3);
		out->bytes = sqlite3_column_int64(s, 4);
	}
	sqlite3_finalize(s);
	return err;
}

int store__set_period_ns(struct store *st, uint64_t period_ns)
{
	char sql[96];

	if (!st || !period_ns)
		return -EINVAL;
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES ('period_ns', %llu)",
		 (unsigned long long)period_ns);
	return store_exec(st, sql);
}

uint64_t store__period_ns(struct store *st)
{
	sqlite3_stmt *s = NULL;
	uint64_t v = 0;

	if (st && !first_row(st, "SELECT value FROM meta WHERE key = 'period_ns'", &s))
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}
