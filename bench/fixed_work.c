// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* fixed_work.c - a fixed amount of CPU and cache work whose wall time the bench compares with and without a profiler. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BUF_WORDS (4u << 20) /* 32 MiB: larger than the cache, so profiler cache pollution shows */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Random-ish walk over the buffer mixed with arithmetic; the result is printed so nothing is optimized away. */
__attribute__((noinline)) static uint64_t work(uint64_t *buf, unsigned long rounds)
{
	uint64_t x = 88172645463325252ULL, sum = 0;

	for (unsigned long r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < 1u << 20; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t *p = &buf[x & (BUF_WORDS - 1)];
			*p += x;
			sum += *p * 0x9E3779B97F4A7C15ULL;
		}
	}
	return sum;
}

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
	uint64_t *buf = calloc(BUF_WORDS, sizeof(*buf));
	double start, end;
	uint64_t sum;

	if (!buf) {
		perror("calloc");
		return 1;
	}
	for (unsigned i = 0; i < BUF_WORDS; i++)
		buf[i] = i;
	start = now();
	sum = work(buf, rounds);
	end = now();
	printf("wall=%.6f sum=%llu\n", end - start, (unsigned long long)sum);
	free(buf);
	return 0;
}
