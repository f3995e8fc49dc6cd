// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * thread_depths.c - THREADS threads, each burning CPU under a recursion
 * whose depth cycles through 1..DEPTHS every few milliseconds, for SECONDS:
 * many distinct (thread, stack) pairs per second, to fill the BPF counts map.
 * usage: thread_depths THREADS DEPTHS SECONDS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct args {
	int depths;
	double until;		/* set once every thread is made */
	unsigned seed;
	pthread_barrier_t *go;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void burn(void)
{
	volatile unsigned long acc = 0;

	for (unsigned long i = 0; i < 200000; i++)
		acc = acc * 6364136223846793005UL + i;
}

__attribute__((noinline)) static void descend(int depth)
{
	if (depth > 0)
		descend(depth - 1);
	else
		burn();
	__asm__ volatile("" ::: "memory");	/* no tail call: one frame per level */
}

static void *worker(void *p)
{
	struct args *a = p;
	int d = a->seed % a->depths;

	pthread_barrier_wait(a->go);
	while (now() < a->until) {
		descend(d + 1);
		d = (d + 1) % a->depths;
	}
	return NULL;
}

/*
 * The threads wait at a barrier until all are made, and then burn for
 * SECONDS: made while the others already burn, the last of 2,000 came
 * 20 s late on a loaded 2-CPU host.
 */
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100, i, started = 0;
	int depths = argc > 2 ? atoi(argv[2]) : 50;
	double secs = argc > 3 ? atof(argv[3]) : 5;
	pthread_t *th = calloc(n, sizeof(*th));
	struct args *a = calloc(n, sizeof(*a));
	pthread_barrier_t go;
	pthread_attr_t attr;

	if (!th || !a || n <= 0 || depths <= 0 || pthread_barrier_init(&go, NULL, n + 1))
		return 2;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	for (i = 0; i < n; i++) {
		a[i] = (struct args){ .depths = depths, .seed = i * 7919, .go = &go };
		if (pthread_create(&th[i], &attr, worker, &a[i]))
			return 1;	/* the others wait at the barrier forever: fail now */
		started++;
	}
	for (i = 0; i < n; i++)
		a[i].until = now() + secs;
	pthread_barrier_wait(&go);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("threads=%d\n", started);
	return 0;
}
