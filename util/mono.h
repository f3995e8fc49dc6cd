/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/* mono.h - CLOCK_MONOTONIC readings, for intervals and schedules (never labels). */
#ifndef EMBER_MONO_H
#define EMBER_MONO_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ms(void)
{
	return mono_ns() / 1000000;
}

static inline double mono_s(void)
{
	return mono_ns() / 1e9;
}

#endif /* EMBER_MONO_H */
