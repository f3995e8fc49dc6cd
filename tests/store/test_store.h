/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * test_store.h - the store tests' shared harness: scratch files, a second
 * SQLite connection for looking behind the API, and query results rendered
 * as unambiguous bytes so expected and actual stacks compare exactly.
 */
#ifndef EMBER_TEST_STORE_H
#define EMBER_TEST_STORE_H

#include <stdint.h>
#include <stdio.h>
#include "store.h"

#define T0 1700000000000LL	/* a window start, Unix ms */
#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

struct env {
	const char *dir;
	char path[4096];
	int failed;
};

/* Fails the current test with a message when @cond is false (needs why[] and out:). */
#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		snprintf(why, sizeof(why), __VA_ARGS__); \
		goto out; \
	} \
} while (0)

/* Prints "PASS name" or "FAIL name: why"; @why is NULL or "" on success. */
void report(struct env *e, const char *name, const char *why);

/* Sets e->path to a fresh scratch file for test @name (and its -wal, -shm). */
const char *fresh(struct env *e, const char *name);

/* Removes e->path and its -wal and -shm. */
void cleanup(struct env *e);

/* Runs @sql on @path through its own connection: column 0 of row 1, or -1. */
int64_t sql1(const char *path, const char *sql);

/* Runs @sql (several statements allowed) on @path.  Returns a SQLite code. */
int sql_exec(const char *path, const char *sql);

/* Reads a file into *buf (malloc'd); returns its size or -1. */
long slurp(const char *path, char **buf);

/* Query results, one rendered (process, stack) per row. */
struct row {
	char *key;
	size_t len;
	uint64_t count;
};

struct rows {
	struct row *v;
	int n;
	uint64_t total;
};

/* store__query() into *r (reset first); returns its result. */
int query(struct store *st, int64_t from, int64_t to, const char *comm, int64_t pid,
	  struct rows *r);

void rows_free(struct rows *r);

/* The count for (@p, @fr[0..@n)): 0 when absent, UINT64_MAX when listed twice. */
uint64_t rows_count(const struct rows *r, const struct store_proc *p,
		    const struct frame *fr, int n);

/* A fixed workload: F = main>foo>bar, S2 = main>foo>baz; PA, PB share comm "app". */
#define BUILD_ID_LIBC "9a3f0c2e51d4b6a87e10f3c29d5b4e6a71c08f2d"	/* bar's */
extern const struct frame F[4], S2[3];
extern const struct store_proc PA, PB, PC;

/* Commits a 10 s window at @start: PA F 4k, PA S2 2k, PB F 5k, PC F[0] 7k (18k in all). */
int write_fixed(struct store *st, int64_t start, uint64_t k);

void test_interning(struct env *e);
void test_odd_names(struct env *e);
void test_filters(struct env *e);
void test_timeline(struct env *e);
void test_retention(struct env *e);
void test_rollup(struct env *e);
void test_migration(struct env *e);
void test_newer_refused(struct env *e);
void test_not_sqlite(struct env *e);
void test_readonly(struct env *e);
void test_commit_full(struct env *e);
void test_commit_busy(struct env *e);
void test_stale_cache(struct env *e);
void test_kill9(struct env *e);
void test_api_misuse(struct env *e);
void test_deep_stack(struct env *e);
void test_repeated_frames(struct env *e);
void test_commit_speed(struct env *e);
void test_proc_buckets(struct env *e);
void test_build_ids(struct env *e);
void test_migration_v3(struct env *e);
void test_keeper(struct env *e);
void test_gc_snapshot(struct env *e);
void test_rollup_merge(struct env *e);
void test_sums_exact(struct env *e);
void test_sums_damaged(struct env *e);

#endif /* EMBER_TEST_STORE_H */
