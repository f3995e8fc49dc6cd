// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * main.c - runs every unit test and prints one PASS/FAIL/SKIP line each.
 * Always exits 0: tests/run.sh counts the lines.  argv[1] is the fixtures
 * directory (default .output/fixtures).
 */
#include <stdarg.h>
#include <stdio.h>
#include "log.h"
#include "test.h"

void test__set(struct test *t, enum test_status status, const char *fmt, ...)
{
	va_list ap;

	if (t->status != TEST_PASS)
		return;
	t->status = status;
	va_start(ap, fmt);
	vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
	va_end(ap);
}

static void run_table(const struct test_case *cases, const char *dir)
{
	static const char *const verdict[] = { "PASS", "FAIL", "SKIP" };

	for (; cases->name; cases++) {
		struct test t = { .dir = dir };

		cases->fn(&t);
		if (t.status == TEST_PASS)
			printf("PASS %s\n", cases->name);
		else
			printf("%s %s: %s\n", verdict[t.status], cases->name, t.reason);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".output/fixtures";

	/* Expected failures (corrupt files) would otherwise warn on stderr. */
	log_set_level(LOG_ERROR);
	run_table(symbolizer_tests, dir);
	run_table(symbolizer_proc_tests, dir);
	run_table(symbolizer_mem_tests, dir);
	run_table(names_tests, dir);
	run_table(clock_tests, dir);
	run_table(push_tests, dir);
	run_table(python_tests, dir);
	run_table(kallsyms_tests, dir);
	run_table(unwinder_tests, dir);
	run_table(procmaps_tests, dir);
	return 0;
}
