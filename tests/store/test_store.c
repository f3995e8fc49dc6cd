// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_store.c - runs the store tests: interning, exact round trips of
 * hostile names, filters, timeline, retention, rollups, migrations,
 * refusing files that are not ours, read-only opens, failed commits, kill -9.
 *
 * Usage: test_store [SCRATCH_DIR]   (default /tmp).  Prints one line per
 * test, "PASS name" or "FAIL name: why", and exits 0.  This file holds the
 * shared harness (test_store.h) and main().
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test_store.h"

/* Prints the result line; @why is NULL on success. */
void report(struct env *e, const char *name, const char *why)
{
	if (why && *why) {
		printf("FAIL %s: %s\n", name, why);
		e->failed++;
	} else {
		printf("PASS %s\n", name);
	}
	fflush(stdout);
}

/* Sets e->path to a fresh file name for test @name. */
const char *fresh(struct env *e, const char *name)
{
	char side[4200];

	snprintf(e->path, sizeof(e->path), "%s/ember_store_%d_%s.db", e->dir, (int)getpid(),
		 name);
	unlink(e->path);
	snprintf(side, sizeof(side), "%s-wal", e->path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", e->path);
	unlink(side);
	return e->path;
}

void cleanup(struct env *e)
{
	char side[4200];

	unlink(e->path);
	snprintf(side, sizeof(side), "%s-wal", e->path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", e->path);
	unlink(side);
}

/* Runs @sql on @path with a separate connection; returns column 0 of its row or -1. */
int64_t sql1(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Reads a whole file into a malloc'd buffer; returns its size or -1. */
long slurp(const char *path, char **buf)
{
	FILE *f = fopen(path, "rb");
	long n = -1;

	*buf = NULL;
	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0) {
		*buf = malloc(n + 1);
		rewind(f);
		if (!*buf || fread(*buf, 1, n, f) != (size_t)n)
			n = -1;
	}
	fclose(f);
	return n;
}

static void put_str(FILE *f, const char *s)
{
	if (s)
		fprintf(f, "%zu:%s|", strlen(s), s);
	else
		fputs("-|", f);
}

/* Renders a (process, stack) the same way for expected and actual rows. */
static char *render(const struct store_proc *p, const struct frame *fr, int n,
		    size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	int i;

	if (!f)
		return NULL;
	put_str(f, p->comm);
	fprintf(f, "%u|", p->pid);
	put_str(f, p->exe);
	put_str(f, p->cgroup);
	for (i = 0; i < n; i++) {
		fputs("/", f);
		put_str(f, fr[i].name);
		put_str(f, fr[i].module);
		put_str(f, fr[i].build_id);
		put_str(f, fr[i].file);
		fprintf(f, "%u|%u", fr[i].line, fr[i].flags);
	}
	fclose(f);
	return buf;
}

static int collect(void *ctx, const struct store_proc *p, const struct frame *fr,
		   int n, uint64_t count)
{
	struct rows *r = ctx;
	struct row *v = realloc(r->v, (r->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	r->v = v;
	v[r->n].key = render(p, fr, n, &v[r->n].len);
	v[r->n].count = count;
	r->total += count;
	r->n++;
	return v[r->n - 1].key ? 0 : -ENOMEM;
}

void rows_free(struct rows *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		free(r->v[i].key);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Count of the row for (@p, @fr), 0 when absent, UINT64_MAX when duplicated. */
uint64_t rows_count(const struct rows *r, const struct store_proc *p,
			   const struct frame *fr, int n)
{
	size_t len;
	char *key = render(p, fr, n, &len);
	uint64_t c = 0;
	int i, hits = 0;

	for (i = 0; key && i < r->n; i++) {
		if (r->v[i].len == len && !memcmp(r->v[i].key, key, len)) {
			c = r->v[i].count;
			hits++;
		}
	}
	free(key);
	return hits > 1 ? UINT64_MAX : c;
}

int query(struct store *st, int64_t from, int64_t to, const char *comm, int64_t pid,
		 struct rows *r)
{
	struct store_filter f = { .from_ms = from, .to_ms = to, .comm = comm, .pid = pid };

	memset(r, 0, sizeof(*r));
	return store__query(st, &f, collect, r);
}

/* A small fixed workload: stacks main>foo>bar, main>foo>baz in two processes. */
const struct frame F[4] = {
	{ .name = "main", .module = "app", .file = "app.c", .line = 10 },
	{ .name = "foo", .module = "app", .file = "app.c", .line = 20 },
	{ .name = "bar", .module = "libc.so.6", .build_id = BUILD_ID_LIBC, .file = NULL, .line = 0 },
	{ .name = "baz", .module = "vmlinux", .file = NULL, .flags = FRAME_F_KERNEL },
};
const struct frame S2[3] = { F[0], F[1], F[3] };
const struct store_proc PA = { .comm = "app", .pid = 100, .exe = "/bin/app" };
const struct store_proc PB = { .comm = "app", .pid = 200, .exe = "/bin/app" };
const struct store_proc PC = { .comm = "other", .pid = 300, .cgroup = "/sys/x" };

/* Commits one window of the fixed workload, scaled by @k. */
int write_fixed(struct store *st, int64_t start, uint64_t k)
{
	struct store_window *w = NULL;
	int err;

	err = store__window_begin(st, start, 10 * SEC, &w);
	if (!err)
		err = store__window_add(w, &PA, F, 3, 3 * k);
	if (!err)
		err = store__window_add(w, &PA, S2, 3, 2 * k);
	if (!err)
		err = store__window_add(w, &PB, F, 3, 5 * k);
	if (!err)
		err = store__window_add(w, &PA, F, 3, 1 * k);	/* summed with the first */
	if (!err)
		err = store__window_add(w, &PC, F, 1, 7 * k);
	if (!err)
		err = store__window_commit(w);
	store__window_free(w);
	return err;
}


int sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

int main(int argc, char **argv)
{
	static void (*const tests[])(struct env *) = {
		test_interning, test_odd_names, test_filters, test_timeline, test_retention,
		test_rollup, test_rollup_merge, test_migration, test_newer_refused, test_not_sqlite,
		test_readonly, test_commit_full, test_commit_busy, test_stale_cache,
		test_kill9, test_api_misuse, test_deep_stack, test_repeated_frames, test_commit_speed, test_proc_buckets,
		test_build_ids, test_migration_v3, test_gc_snapshot, test_keeper, test_sums_exact,
		test_sums_damaged,
	};
	struct env e = { .dir = argc > 1 ? argv[1] : "/tmp" };
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		tests[i](&e);
	return 0;
}
