// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * stack_churn.c - burns MS milliseconds of CPU under a call chain chosen by
 * SEED: 6-21 frames drawn from eight functions, so a loop starting it with
 * different seeds writes many distinct stacks from many short processes.
 * usage: stack_churn SEED [MS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long seed;
static double burn_s;

__attribute__((noinline)) void churn_leaf(void)
{
	volatile unsigned long acc = 0;
	double start = cpu_seconds();

	for (;;) {
		for (unsigned long i = 0; i < 100000; i++)
			acc = acc * 6364136223846793005UL + i;
		if (cpu_seconds() - start >= burn_s)
			break;
	}
}

typedef void (*step_fn)(int depth);
static step_fn steps[8];

static void next(int depth)
{
	if (depth == 0) {
		churn_leaf();
		return;
	}
	steps[(seed >> (3 * (depth % 20))) & 7](depth - 1);
}

#define STEP(n) __attribute__((noinline)) void churn_f##n(int depth) { next(depth); __asm__ volatile(""); }
STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)

int main(int argc, char **argv)
{
	steps[0] = churn_f0; steps[1] = churn_f1; steps[2] = churn_f2; steps[3] = churn_f3;
	steps[4] = churn_f4; steps[5] = churn_f5; steps[6] = churn_f6; steps[7] = churn_f7;
	seed = argc > 1 ? strtoul(argv[1], NULL, 0) * 2654435761UL : 1;
	burn_s = (argc > 2 ? atof(argv[2]) : 10) / 1000.0;
	next(6 + (int)(seed % 16));
	return 0;
}
