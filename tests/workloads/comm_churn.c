// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * comm_churn.c - burns CPU while renaming itself (PR_SET_NAME) through
 * N names (default 10000), as a hostile or careless process may: every
 * name becomes its own process row in the store.  Args: SECONDS [N].
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/prctl.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile unsigned long sink;

static void burn(unsigned long n)
{
	while (n--)
		sink += n;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10.0, end = now() + seconds;
	long names = argc > 2 ? atol(argv[2]) : 10000, i = 0;
	char name[16];

	if (names < 1)
		return 2;
	while (now() < end) {
		snprintf(name, sizeof(name), "churn%05ld", i++ % names);
		prctl(PR_SET_NAME, name, 0, 0, 0);
		burn(20000);
	}
	printf("renames=%ld\n", i);
	return 0;
}
