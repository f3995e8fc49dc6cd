// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_fail.c - store tests of failure: full and locked stores roll back
 * and retry, stale id caches across connections, kill -9 in mid-write,
 * API misuse, and the commit time of a 5,000-row window.
 */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test_store.h"

/* Begins a window with @n distinct long frame names; counts 1..n. */
static int big_window(struct store *st, int64_t start, int n, struct store_window **w)
{
	struct frame fr = { .module = "big.so" };
	char name[300];
	int i, err;

	err = store__window_begin(st, start, 10 * SEC, w);
	for (i = 0; i < n && !err; i++) {
		snprintf(name, sizeof(name), "%0250d", i);
		fr.name = name;
		err = store__window_add(*w, &PA, &fr, 1, i + 1);
	}
	return err;
}

void test_commit_full(struct env *e)
{
	const char *path = fresh(e, "full");
	struct store_window *w = NULL;
	struct store_stats s;
	struct store *st = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err;

	err = store__open(path, 0, &st);
	CHECK(!err && !write_fixed(st, T0, 1), "create: %s", store__strerror(err));
	CHECK(!store__stats(st, &s) && !store__set_max_bytes(st, s.bytes), "cap");
	CHECK(!big_window(st, T0 + 10 * SEC, 2000, &w), "window");
	err = store__window_commit(w);
	CHECK(err == -ENOSPC, "commit over the cap: %d (%s)", err, store__strerror(err));
	CHECK(!store__stats(st, &s) && s.windows == 1 && s.samples == 18, "partial commit");
	CHECK(sql1(path, "SELECT count(*) FROM strings WHERE length(s) = 250") == 0,
	      "strings of the failed commit remain");
	CHECK(!store__set_max_bytes(st, 0), "uncap");
	err = store__window_commit(w);
	CHECK(!err, "retry: %s", store__strerror(err));
	CHECK(store__window_commit(w) == -EALREADY, "second commit accepted");
	err = query(st, T0 + 10 * SEC, T0 + 20 * SEC, NULL, -1, &r);
	CHECK(!err && r.n == 2000 && r.total == 2000 * 2001 / 2, "after retry: %d rows", r.n);
	CHECK(!write_fixed(st, T0 + 20 * SEC, 1), "write after the retry");
out:
	rows_free(&r);
	store__window_free(w);
	store__free(st);
	cleanup(e);
	report(e, "commit_enospc_rolls_back_and_retries", why);
}

void test_commit_busy(struct env *e)
{
	const char *path = fresh(e, "busy");
	struct store_window *w = NULL;
	struct store *st = NULL;
	sqlite3 *db = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err;

	err = store__open(path, 0, &st);
	CHECK(!err && !write_fixed(st, T0, 1), "create: %s", store__strerror(err));
	CHECK(sqlite3_open(path, &db) == SQLITE_OK &&
	      sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK, "lock");
	CHECK(!big_window(st, T0 + 10 * SEC, 10, &w), "window");
	err = store__window_commit(w);
	CHECK(err == -EBUSY, "commit under a lock: %d", err);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	err = store__window_commit(w);
	CHECK(!err, "retry: %s", store__strerror(err));
	err = query(st, T0 + 10 * SEC, T0 + 20 * SEC, NULL, -1, &r);
	CHECK(!err && r.n == 10 && r.total == 55, "after retry: %d rows", r.n);
out:
	rows_free(&r);
	sqlite3_close(db);
	store__window_free(w);
	store__free(st);
	cleanup(e);
	report(e, "commit_ebusy_rolls_back_and_retries", why);
}

/* Another connection deletes, then reuses, ids this one has cached. */
void test_stale_cache(struct env *e)
{
	const struct frame other[] = { { .name = "newcomer", .module = "n.so" } };
	const struct store_proc po = { .comm = "newproc", .pid = 9, .exe = "/bin/new" };
	const char *path = fresh(e, "stale");
	struct store *a = NULL, *b = NULL;
	struct store_window *w = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	int err;

	err = store__open(path, 0, &a);
	if (!err)
		err = store__open(path, 0, &b);
	CHECK(!err, "open: %s", store__strerror(err));
	CHECK(!write_fixed(a, T0, 1), "a writes");
	CHECK(!store__retain(b, T0 + HOUR), "b retains");
	CHECK(sql1(path, "SELECT count(*) FROM strings") == 0, "b left strings behind");
	err = store__window_begin(b, T0 + HOUR, SEC, &w);
	if (!err)
		err = store__window_add(w, &po, other, 1, 1);
	if (!err)
		err = store__window_commit(w);
	CHECK(!err, "b writes: %s", store__strerror(err));
	CHECK(!write_fixed(a, T0 + 2 * HOUR, 1), "a writes again");
	err = query(a, T0 + 2 * HOUR, T0 + 3 * HOUR, NULL, -1, &r);
	CHECK(!err && r.n == 4 && rows_count(&r, &PA, F, 3) == 4 &&
	      rows_count(&r, &PB, F, 3) == 5 && rows_count(&r, &PC, F, 1) == 7,
	      "a wrote through stale ids");
	rows_free(&r);
	err = query(b, T0 + HOUR, T0 + HOUR + 1, NULL, -1, &r);
	CHECK(!err && r.n == 1 && rows_count(&r, &po, other, 1) == 1, "b's window damaged");
out:
	rows_free(&r);
	store__window_free(w);
	store__free(a);
	store__free(b);
	cleanup(e);
	report(e, "stale_id_cache_across_connections", why);
}

/* Child of test_kill9: commits windows from @first on, reporting each on @fd. */
static void crash_child(const char *path, int first, int fd)
{
	struct store *st = NULL;
	int i;

	if (store__open(path, 0, &st))
		_exit(2);
	for (i = first;; i++) {
		if (write_fixed(st, T0 + i * 10 * SEC, 1) || write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(3);
	}
}

/* Runs one child, kills it after @after commits; returns the last committed index. */
static int crash_round(const char *path, int first, int after)
{
	int fd[2], i, last = -1, n = 0;
	pid_t pid;

	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(fd[0]);
		crash_child(path, first, fd[1]);
	}
	close(fd[1]);
	while (pid > 0 && read(fd[0], &i, sizeof(i)) == sizeof(i)) {
		last = i;
		if (++n == after) {
			usleep(after * 100);	/* land somewhere inside a later commit */
			kill(pid, SIGKILL);
		}
	}
	close(fd[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return last;
}

static int count_window(void *ctx, const struct store_window_info *w)
{
	int *n = ctx;

	*n += w->samples == 18;
	return 0;
}

void test_kill9(struct env *e)
{
	static const int after[] = { 5, 17, 40, 3 };
	const char *path = fresh(e, "kill9");
	struct store *st = NULL;
	char why[256] = "";
	int round, first, last, n, err;

	for (round = 0; round < 4; round++) {
		first = round * 100000;
		last = crash_round(path, first, after[round]);
		CHECK(last >= first + after[round] - 1, "round %d: child stopped early", round);
		err = store__open(path, 0, &st);
		CHECK(!err, "reopen after kill: %s", store__strerror(err));
		n = 0;
		err = store__windows(st, T0 + first * 10 * SEC, T0 + (first + 200000) * 10 * SEC,
				     count_window, &n);
		/* The last commit may have landed without being reported. */
		CHECK(!err && n >= last - first + 1 && n <= last - first + 2,
		      "round %d: %d windows, %d reported", round, n, last - first + 1);
		store__free(st);
		st = NULL;
		CHECK(sql1(path, "SELECT integrity_check = 'ok' FROM pragma_integrity_check") == 1,
		      "integrity_check failed after round %d", round);
	}
out:
	store__free(st);
	cleanup(e);
	report(e, "kill9_keeps_committed_windows", why);
}

static int stop_at_first(void *ctx, const struct store_proc *p, const struct frame *fr,
			 int n, uint64_t count)
{
	(void)ctx, (void)p, (void)fr, (void)n, (void)count;
	return 7;
}

void test_api_misuse(struct env *e)
{
	static const struct store_rollup_level bad = { .age_ms = HOUR, .bucket_ms = 0 };
	const struct frame noname = { .module = "m" };
	const struct store_proc nocomm = { .pid = 1 };
	struct store_filter f = { .from_ms = T0, .to_ms = T0 + 1, .pid = -1 };
	const char *path = fresh(e, "misuse");
	struct store_window *w = NULL;
	struct store *st = NULL;
	char why[256] = "";
	int err;

	CHECK(store__open(NULL, 0, &st) == -EINVAL && store__open(path, 8, &st) == -EINVAL,
	      "bad open arguments accepted");
	err = store__open(path, 0, &st);
	CHECK(!err && !write_fixed(st, T0, 1), "create: %s", store__strerror(err));
	CHECK(store__window_begin(st, T0, 0, &w) == -EINVAL && !w, "zero duration accepted");
	CHECK(!store__window_begin(st, T0 + SEC, SEC, &w), "begin");
	CHECK(store__window_add(w, &nocomm, F, 1, 1) == -EINVAL, "NULL comm accepted");
	CHECK(store__window_add(w, &PA, &noname, 1, 1) == -EINVAL, "NULL name accepted");
	CHECK(store__window_add(w, &PA, F, -1, 1) == -EINVAL, "negative depth accepted");
	CHECK(store__window_add(w, &PA, F, 2, INT64_MAX) == 0 &&
	      store__window_add(w, &PA, F, 2, 1) == -EOVERFLOW, "count overflow");
	CHECK(!store__window_commit(w) && store__window_add(w, &PA, F, 1, 1) == -EALREADY,
	      "add after commit");
	CHECK(store__query(st, &f, stop_at_first, NULL) == 7, "callback result not returned");
	CHECK(store__rollup(st, T0, &bad, 1) == -EINVAL, "bad rollup level accepted");
	CHECK(strstr(store__strerror(-EPROTO), "newer"), "no message for -EPROTO");
	store__free(NULL);
	store__window_free(NULL);
out:
	store__window_free(w);
	store__free(st);
	cleanup(e);
	report(e, "api_misuse", why);
}

/* A stack deeper than the store holds keeps its leaf end under "[truncated]". */
void test_deep_stack(struct env *e)
{
	enum { DEEP = STORE_MAX_FRAMES + 500 };
	static struct frame deep[DEEP];
	static char names[DEEP][16];
	const char *path = fresh(e, "deep");
	struct store_window *w = NULL;
	struct store *st = NULL;
	struct rows r = { 0 };
	const struct frame *got;
	char why[256] = "";
	int i, err;

	for (i = 0; i < DEEP; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		deep[i] = (struct frame){ .name = names[i], .module = "m" };
	}
	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	CHECK(!store__window_begin(st, T0, SEC, &w), "begin");
	CHECK(!store__window_add(w, &PA, deep, DEEP, 3) && !store__window_add(w, &PA, F, 3, 2),
	      "deep add refused");
	CHECK(store__window_truncated(w) == 3, "truncated %llu, want 3",
	      (unsigned long long)store__window_truncated(w));
	CHECK(!store__window_set_span(w, T0, 2 * SEC) && !store__window_commit(w), "commit");
	CHECK(!query(st, T0, T0 + 1, NULL, -1, &r) && r.total == 5, "total %llu, want 5",
	      (unsigned long long)r.total);
	/* the stored stack: [truncated], then the leaf-most frames in order */
	memcpy(&deep[DEEP - STORE_MAX_FRAMES], &(struct frame){ .name = "[truncated]",
	       .flags = FRAME_F_UNKNOWN }, sizeof(deep[0]));
	got = &deep[DEEP - STORE_MAX_FRAMES];
	CHECK(rows_count(&r, &PA, got, STORE_MAX_FRAMES) == 3, "truncated stack not stored as such");
out:
	rows_free(&r);
	store__window_free(w);
	store__free(st);
	cleanup(e);
	report(e, "deep_stack_truncated", why);
}
