// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * nofp_chain.c - built with -O2 -fomit-frame-pointer: main -> nofp_outer ->
 * nofp_middle -> nofp_leaf burns CPU on the main thread and on one
 * pthread, so only .eh_frame unwinding can see the whole chain.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keeps a stack frame of its own so the caller chain has real depth. */
__attribute__((noinline)) unsigned long nofp_leaf(unsigned long n)
{
	volatile unsigned long buf[8] = { n };
	unsigned long i;

	for (i = 0; i < 20000000; i++)
		buf[i & 7] = buf[(i + 1) & 7] * 6364136223846793005UL + i;
	return buf[3];
}

__attribute__((noinline)) unsigned long nofp_middle(unsigned long n)
{
	return nofp_leaf(n) + 1;
}

__attribute__((noinline)) unsigned long nofp_outer(double seconds)
{
	double start = cpu_seconds();
	unsigned long acc = 0;

	while (cpu_seconds() - start < seconds)
		acc += nofp_middle(acc);
	return acc;
}

static void *thread_main(void *arg)
{
	return (void *)nofp_outer(*(double *)arg);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	pthread_t t;
	unsigned long acc;

	if (pthread_create(&t, NULL, thread_main, &seconds))
		return 1;
	acc = nofp_outer(seconds);
	pthread_join(t, NULL);
	printf("cpu=%.6f acc=%lu\n", cpu_seconds(), acc & 1);
	return 0;
}
