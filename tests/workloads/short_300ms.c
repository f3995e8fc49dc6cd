// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* short_300ms.c - main -> brief_outer -> brief_inner -> brief_spin burns 0.3 s of CPU and exits, so agent tests can check a process that lives a fraction of one window. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void brief_spin(double seconds)
{
	volatile unsigned long acc = 0;
	double start = cpu_seconds();

	for (;;) {
		for (unsigned long i = 0; i < 500000; i++)
			acc = acc * 3935559000370003845UL + i;
		if (cpu_seconds() - start >= seconds)
			break;
	}
}

__attribute__((noinline)) void brief_inner(double seconds)
{
	brief_spin(seconds);
}

__attribute__((noinline)) void brief_outer(double seconds)
{
	brief_inner(seconds);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0.3;

	brief_outer(seconds);
	printf("cpu=%.6f\n", cpu_seconds());
	return 0;
}
