// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * depth_spin.c - two threads burning CPU DEPTH calls below main for SECONDS:
 * a user stack of known depth for the BPF cost bench.
 * usage: depth_spin DEPTH SECONDS
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static int depth;
static double seconds;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void spin(double until)
{
	volatile unsigned long acc = 0;

	while (now() < until)
		for (unsigned long i = 0; i < 100000; i++)
			acc = acc * 6364136223846793005UL + i;
}

__attribute__((noinline)) static void down(int d, double until)
{
	if (d > 1)
		down(d - 1, until);
	else
		spin(until);
	__asm__ volatile("" ::: "memory");	/* one frame per level: no tail call */
}

static void *worker(void *arg)
{
	down(depth, now() + seconds);
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t th;

	depth = argc > 1 ? atoi(argv[1]) : 10;
	seconds = argc > 2 ? atof(argv[2]) : 5;
	if (depth < 1 || pthread_create(&th, NULL, worker, NULL))
		return 2;
	worker(NULL);
	pthread_join(th, NULL);
	return 0;
}
