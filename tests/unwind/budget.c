// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * budget.c - the build budget (struct unwind_limits): a build past its
 * row or time limit stops with a well-formed table that covers the pcs up
 * to the cut, and crafted CFI (libdl_bomb.so: one FDE of 100,000 rows,
 * quadratic for libdw) is cut off on time instead of running for minutes;
 * libdl_badreg.so (a CFA rule for register 250,000,000, which libdw would
 * grow a frame to: 4 GiB) is rejected without that allocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "tests.h"

#define BOMB ".output/workloads/libdl_bomb.so"
#define BADREG ".output/workloads/libdl_badreg.so"

static int build(const char *path, const struct unwind_limits *lim, struct unwind_table **t,
		 struct unwind_stats *st, double *ms)
{
	double t0 = now_ms();
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	*t = NULL;
	memset(st, 0, sizeof(*st));
	if (fd < 0)
		return -errno;
	err = unwind_table__from_fd_limited(fd, lim, t);
	*ms = now_ms() - t0;
	close(fd);
	if (!err)
		unwind_table__stats(*t, st);
	return err;
}

/* libc cut after 1000 CFI rows: what is covered agrees with the full table. */
static void test_rows(void)
{
	const struct unwind_limits lim = { .max_cfi_rows = 1000 };
	struct unwind_table *full = NULL, *cut = NULL;
	struct unwind_stats fst, cst;
	const struct unwind_row *rows, *a, *b;
	const char *why = NULL;
	size_t n, i;
	double ms;
	int err;

	err = build(LIBC, NULL, &full, &fst, &ms);
	if (!err)
		err = build(LIBC, &lim, &cut, &cst, &ms);
	if (err) {
		report("budget_rows", "build: %s", strerror(-err));
		goto out;
	}
	rows = unwind_table__rows(cut, &n);
	if (fst.cut)
		why = "the default budget cut libc";
	else if (!cst.cut || cst.cfi_rows > 1000 || n >= fst.rows)
		why = "no cut at 1000 CFI rows";
	else if ((why = check_sorted(cut)))
		;
	else if (unwind_table__lookup(cut, unwind_table__base(cut) + rows[n - 1].pc_off))
		why = "a pc past the cut has a row";
	for (i = 0; !why && i + 1 < n; i++) {
		a = unwind_table__lookup(cut, unwind_table__base(cut) + rows[i].pc_off);
		b = unwind_table__lookup(full, unwind_table__base(cut) + rows[i].pc_off);
		if (!a || !b || a->kind != b->kind || a->cfa_off != b->cfa_off)
			why = "a row before the cut differs from the full table";
	}
	if (why)
		report("budget_rows", "%s (cut: %zu CFI rows, %zu rows; full: %zu rows)", why,
		       cst.cfi_rows, n, fst.rows);
	else
		report("budget_rows", NULL);
out:
	unwind_table__free(full);
	unwind_table__free(cut);
}

/* The bomb within 300 ms (the default budget is tested end to end: test_untrusted.py). */
static void test_time(void)
{
	const struct unwind_limits lim = { .max_ns = 300 * 1000000ULL };
	struct unwind_table *t = NULL;
	struct unwind_stats st;
	const char *why;
	double ms;
	int err;

	err = build(BOMB, &lim, &t, &st, &ms);
	why = err ? strerror(-err) : !st.cut ? "not cut" : check_sorted(t);
	if (!why && ms > 300 + 500)
		why = "took too long";
	if (why)
		report("budget_time_cfi_bomb", "%s: %s (%.0f ms)", BOMB, why, ms);
	else
		report("budget_time_cfi_bomb", NULL);
	printf("# bench cfi_bomb limit_ms 300 took_ms %.0f cfi_rows %zu of 100000\n", ms, st.cfi_rows);
	unwind_table__free(t);
}

static long max_rss_mb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_maxrss / 1024;
}

static void test_badreg(void)
{
	struct unwind_table *t = NULL;
	struct unwind_stats st;
	long before = max_rss_mb(), after;
	double ms;
	int err;

	err = build(BADREG, NULL, &t, &st, &ms);
	after = max_rss_mb();
	if (err != -EINVAL)
		report("cfa_register_rejected", "%s: got %s, want EINVAL", BADREG,
		       err ? strerror(-err) : "a table");
	else if (after - before > 64)
		report("cfa_register_rejected", "peak RSS grew %ld MB", after - before);
	else
		report("cfa_register_rejected", NULL);
	unwind_table__free(t);
}

void test_budget(void)
{
	test_rows();
	test_time();
	test_badreg();
}
