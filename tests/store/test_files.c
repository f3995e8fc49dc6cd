// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_files.c - store tests of the file itself: migration from schemas 1 and 3,
 * refusing newer, foreign and non-SQLite files without touching them,
 * read-only opens that never write, and commits that fail and are retried.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../../store/internal.h"

#define STORE_SCHEMA_VERSION_NEXT 6
#define STR_(x) #x
#define STR(x) STR_(x)
_Static_assert(STORE_SCHEMA_VERSION_NEXT == STORE_SCHEMA_VERSION + 1, "bump the newer-schema test");
#include "test_store.h"

/* A schema-1 store as ember 1 wrote it, with one window of one stack. */
static const char v1_store[] =
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
	"INSERT INTO strings VALUES (1, CAST('old' AS BLOB)), (2, CAST('/bin/old' AS BLOB)),"
	" (3, CAST('main' AS BLOB)), (4, CAST('leaf' AS BLOB)), (5, CAST('old.so' AS BLOB));"
	"INSERT INTO frames VALUES (1, 3, 5, 0, 0, 0), (2, 4, 5, 0, 12, 0);"
	"INSERT INTO stacks VALUES (1, 0, 1), (2, 1, 2);"
	"INSERT INTO procs VALUES (1, 1, 42, 2);"
	"INSERT INTO windows VALUES (1, 1700000000000, 10000, 9);"
	"INSERT INTO samples VALUES (1, 1, 2, 9);"
	"PRAGMA user_version = 1;";

static const struct frame v1_stack[] = {
	{ .name = "main", .module = "old.so" },
	{ .name = "leaf", .module = "old.so", .line = 12 },
};
static const struct store_proc v1_proc = { .comm = "old", .pid = 42, .exe = "/bin/old" };

/* Commits one window holding @n frames of @fr for @p. */
static int write_one(struct store *st, int64_t start, const struct store_proc *p,
		     const struct frame *fr, int n, uint64_t count)
{
	struct store_window *w = NULL;
	int err;

	err = store__window_begin(st, start, 10 * SEC, &w);
	if (!err)
		err = store__window_add(w, p, fr, n, count);
	if (!err)
		err = store__window_commit(w);
	store__window_free(w);
	return err;
}

void test_migration(struct env *e)
{
	const struct store_proc cg = { .comm = "old", .pid = 42, .exe = "/bin/old",
				       .cgroup = "/system.slice/x" };
	const char *path = fresh(e, "migrate");
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err;

	CHECK(sql_exec(path, v1_store) == 0, "could not build the v1 store");
	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s (%s)", store__strerror(err), store__errmsg(st));
	CHECK(sql1(path, "PRAGMA user_version") == STORE_SCHEMA_VERSION, "user_version not migrated");
	CHECK(sql1(path, "SELECT count(*) FROM pragma_table_info('procs') WHERE name = 'cgroup'")
	      == 1, "no cgroup column");
	err = query(st, T0, T0 + 1, NULL, -1, &r);
	CHECK(!err && r.n == 1 && rows_count(&r, &v1_proc, v1_stack, 2) == 9, "old data lost");
	CHECK(sql1(path, "SELECT count(*) FROM win_procs") == 0,
	      "v5: sums made up for an old window");
	rows_free(&r);
	CHECK(!write_one(st, T0 + 10 * SEC, &v1_proc, v1_stack, 2, 1) &&
	      !write_one(st, T0 + 10 * SEC, &cg, v1_stack, 2, 2), "write after migration");
	CHECK(sql1(path, "SELECT count(*) FROM frames") == 2 &&
	      sql1(path, "SELECT count(*) FROM stacks") == 2, "old rows not reused");
	err = query(st, T0, T0 + MIN, "old", 42, &r);
	CHECK(!err && r.n == 2 && rows_count(&r, &v1_proc, v1_stack, 2) == 10 &&
	      rows_count(&r, &cg, v1_stack, 2) == 2, "query after migration");
	CHECK(sql1(path, "SELECT integrity_check = 'ok' FROM pragma_integrity_check") == 1,
	      "integrity");
out:
	rows_free(&r);
	store__free(st);
	cleanup(e);
	report(e, "migration_v1_to_v2", why);
}

/* What ember 3's migrations and writes made of the v1 store: a cgroup, a period. */
static const char v1_to_v3[] =
	"ALTER TABLE procs ADD COLUMN cgroup INTEGER NOT NULL DEFAULT 0;"
	"DROP INDEX procs_key;"
	"CREATE UNIQUE INDEX procs_key2 ON procs(comm, pid, exe, cgroup);"
	"CREATE INDEX windows_start ON windows(start_ms);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO strings VALUES (6, CAST('/sys/cg' AS BLOB));"
	"INSERT INTO procs VALUES (2, 1, 43, 2, 6);"
	"INSERT INTO windows VALUES (2, 1700000010000, 10000, 5);"
	"INSERT INTO samples VALUES (2, 2, 2, 5);"
	"INSERT INTO meta VALUES ('period_ns', 1234567);"
	"PRAGMA user_version = 3;";

/* v3 -> v4: frames gain build ids; old ones have none and are reused as such. */
void test_migration_v3(struct env *e)
{
	const struct store_proc cg = { .comm = "old", .pid = 43, .exe = "/bin/old",
				       .cgroup = "/sys/cg" };
	const struct frame built[] = {
		v1_stack[0], { .name = "leaf", .module = "old.so", .build_id = "c0ffee", .line = 12 },
	};
	const char *path = fresh(e, "migrate3");
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "", *a = NULL, *b = NULL;
	long n0, n1;
	int err;

	CHECK(sql_exec(path, v1_store) == 0 && sql_exec(path, v1_to_v3) == 0, "v3 store");
	n0 = slurp(path, &a);
	err = store__open(path, STORE_READONLY, &st);
	n1 = slurp(path, &b);
	CHECK(err == -EROFS && n0 > 0 && n1 == n0 && !memcmp(a, b, n0),
	      "read-only open of a v3 store: %d, %s", err, n1 == n0 ? "same" : "changed");
	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s (%s)", store__strerror(err), store__errmsg(st));
	CHECK(sql1(path, "PRAGMA user_version") == STORE_SCHEMA_VERSION, "user_version not migrated");
	CHECK(sql1(path, "SELECT count(*) FROM pragma_table_info('frames') WHERE name = 'build_id'")
	      == 1, "no build_id column");
	CHECK(sql1(path, "SELECT group_concat(name) = 'frames_key2' FROM sqlite_master"
		   " WHERE tbl_name = 'frames' AND type = 'index'") == 1, "frames indexes");
	CHECK(store__period_ns(st) == 1234567, "period lost");
	err = query(st, T0, T0 + MIN, NULL, -1, &r);
	CHECK(!err && r.n == 2 && r.total == 14 && rows_count(&r, &v1_proc, v1_stack, 2) == 9 &&
	      rows_count(&r, &cg, v1_stack, 2) == 5, "old data lost");
	rows_free(&r);
	CHECK(!write_one(st, T0 + 20 * SEC, &cg, v1_stack, 2, 1) &&
	      !write_one(st, T0 + 20 * SEC, &cg, built, 2, 2), "write after migration");
	CHECK(sql1(path, "SELECT count(*) FROM frames") == 3, "frames: %lld",
	      (long long)sql1(path, "SELECT count(*) FROM frames"));
	err = query(st, T0, T0 + MIN, NULL, 43, &r);
	CHECK(!err && r.n == 2 && rows_count(&r, &cg, v1_stack, 2) == 6 &&
	      rows_count(&r, &cg, built, 2) == 2, "query after migration");
	CHECK(sql1(path, "SELECT integrity_check = 'ok' FROM pragma_integrity_check") == 1,
	      "integrity");
out:
	rows_free(&r);
	free(a);
	free(b);
	store__free(st);
	cleanup(e);
	report(e, "migration_v3_to_v4", why);
}

/*
 * Opens @path both ways, expecting @want, and checks the file is unchanged.
 * Returns 0, or -1 with @why set.
 */
static int refused(const char *path, int want, char *why, size_t len)
{
	struct stat a, b;
	char *before = NULL, *after = NULL;
	long n0, n1;
	struct store *st = NULL;
	int err, ro, i;

	n0 = slurp(path, &before);
	if (stat(path, &a) || n0 < 0) {
		free(before);
		snprintf(why, len, "cannot read %s", path);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		ro = i ? STORE_READONLY : 0;
		err = store__open(path, ro, &st);
		store__free(st);
		st = NULL;
		if (err != want)
			snprintf(why, len, "open(%s) = %d (%s), want %d", ro ? "ro" : "rw", err,
				 store__strerror(err), want);
	}
	n1 = slurp(path, &after);
	if (!*why && (n1 != n0 || memcmp(before, after, n0) || stat(path, &b) ||
		      a.st_mtim.tv_sec != b.st_mtim.tv_sec ||
		      a.st_mtim.tv_nsec != b.st_mtim.tv_nsec))
		snprintf(why, len, "file changed");
	free(before);
	free(after);
	return *why ? -1 : 0;
}

void test_newer_refused(struct env *e)
{
	const char *path = fresh(e, "newer");
	struct store *st = NULL;
	char why[256] = "";
	int err;

	err = store__open(path, 0, &st);
	CHECK(!err && !write_fixed(st, T0, 1), "create: %s", store__strerror(err));
	store__free(st);
	st = NULL;
	CHECK(sql_exec(path, "PRAGMA user_version = " STR(STORE_SCHEMA_VERSION_NEXT)) == 0,
	      "cannot bump the version");
	refused(path, -EPROTO, why, sizeof(why));
out:
	store__free(st);
	cleanup(e);
	report(e, "newer_schema_refused_untouched", why);
}

void test_not_sqlite(struct env *e)
{
	const char *path = fresh(e, "notdb");
	char why[256] = "";
	FILE *f = fopen(path, "w");
	int i;

	CHECK(f, "cannot create %s", path);
	for (i = 0; i < 200; i++)
		fputs("this is not a database; <b>\n", f);
	fclose(f);
	if (refused(path, -ENOTSUP, why, sizeof(why)))
		goto out;
	cleanup(e);
	f = fopen(path, "w");
	CHECK(f && fputs("short", f) >= 0, "cannot create %s", path);
	fclose(f);
	if (refused(path, -ENOTSUP, why, sizeof(why)))
		goto out;
	cleanup(e);
	CHECK(sql_exec(path, "CREATE TABLE t(x); INSERT INTO t VALUES (1)") == 0, "foreign db");
	refused(path, -ENOTSUP, why, sizeof(why));
out:
	cleanup(e);
	report(e, "not_an_ember_store_refused_untouched", why);
}

static int pragma_int(struct store *st, const char *sql)
{
	sqlite3_stmt *q = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return v;
}

void test_readonly(struct env *e)
{
	const char *path = fresh(e, "readonly");
	struct store_window *w = NULL;
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "", *a = NULL, *b = NULL;
	struct stat s0, s1;
	long n0, n1;
	int err;

	err = store__open(path, 0, &st);
	CHECK(!err && !write_fixed(st, T0, 1), "create: %s", store__strerror(err));
	store__free(st);
	st = NULL;
	n0 = slurp(path, &a);
	CHECK(n0 > 0 && !stat(path, &s0), "cannot read the store");
	err = store__open(path, STORE_READONLY, &st);
	CHECK(!err, "open ro: %s (%s)", store__strerror(err), store__errmsg(st));
	/* someone else's file: its schema is not trusted to run functions */
	CHECK(pragma_int(st, "PRAGMA trusted_schema") == 0, "trusted_schema is on");
	err = query(st, T0, T0 + 1, NULL, -1, &r);
	CHECK(!err && r.total == 18, "query: %d", err);
	CHECK(store__window_begin(st, T0, SEC, &w) == -EROFS, "window_begin allowed");
	CHECK(store__retain(st, T0 + HOUR) == -EROFS, "retain allowed");
	CHECK(store__rollup(st, T0 + 48 * HOUR, NULL, 0) == -EROFS, "rollup allowed");
	store__free(st);
	st = NULL;
	n1 = slurp(path, &b);
	CHECK(n1 == n0 && !memcmp(a, b, n0) && !stat(path, &s1) &&
	      s0.st_mtim.tv_nsec == s1.st_mtim.tv_nsec, "read-only open changed the file");
	cleanup(e);
	CHECK(store__open(path, STORE_READONLY, &st) == -ENOENT && access(path, F_OK),
	      "read-only open of a missing store");
	CHECK(sql_exec(path, v1_store) == 0, "v1 store");
	free(a);
	n0 = slurp(path, &a);
	err = store__open(path, STORE_READONLY, &st);
	CHECK(err == -EROFS, "read-only open of a v1 store: %d", err);
	free(b);
	n1 = slurp(path, &b);
	CHECK(n0 > 0 && n1 == n0 && !memcmp(a, b, n0), "read-only open migrated");
out:
	rows_free(&r);
	free(a);
	free(b);
	store__free(st);
	cleanup(e);
	report(e, "readonly_never_writes", why);
}
