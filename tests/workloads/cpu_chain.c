// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* cpu_chain.c - burns CPU in main -> chain_a -> chain_b -> spin so e2e tests can check stacks and sample counts. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return -1.0;
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The leaf: only inline arithmetic in the hot loop, and the clock is read
 * rarely, so nearly every sample lands with spin as the innermost user frame.
 */
__attribute__((noinline)) void spin(double seconds)
{
	volatile unsigned long acc = 0;
	double start = cpu_seconds();

	for (;;) {
		for (unsigned long i = 0; i < 2000000; i++)
			acc = acc * 6364136223846793005UL + i;
		if (cpu_seconds() - start >= seconds)
			break;
	}
}

__attribute__((noinline)) void chain_b(double seconds)
{
	spin(seconds);
}

__attribute__((noinline)) void chain_a(double seconds)
{
	chain_b(seconds);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;

	if (seconds <= 0) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	chain_a(seconds);
	printf("cpu=%.6f\n", cpu_seconds());
	return 0;
}
