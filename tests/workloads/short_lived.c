// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* short_lived.c - main -> short_a -> short_spin burns 0.5 s of CPU and exits, to test symbolizing processes that are gone. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void short_spin(double seconds)
{
	volatile unsigned long acc = 0;
	double start = cpu_seconds();

	for (;;) {
		for (unsigned long i = 0; i < 1000000; i++)
			acc = acc * 2862933555777941757UL + i;
		if (cpu_seconds() - start >= seconds)
			break;
	}
}

__attribute__((noinline)) void short_a(double seconds)
{
	short_spin(seconds);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0.5;

	short_a(seconds);
	printf("cpu=%.6f\n", cpu_seconds());
	return 0;
}
