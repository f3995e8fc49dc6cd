/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/* timearg.h - parses the times and durations ember's flags and API accept. */
#ifndef EMBER_TIMEARG_H
#define EMBER_TIMEARG_H

#include <stdint.h>

/*
 * Parses a point in time into Unix milliseconds: RFC 3339
 * ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.5+01:00"), Unix seconds
 * ("1764064800"), "now", or relative to @now_ms ("-15m", "-1h30m", "-2d").
 * Returns 0 or -EINVAL.
 */
int timearg__parse(const char *s, int64_t now_ms, int64_t *out_ms);

/* Parses a duration ("90", "30s", "15m", "24h", "7d", "1h30m") into ms. */
int timearg__duration(const char *s, int64_t *out_ms);

/* Current wall-clock time in Unix milliseconds. */
int64_t timearg__now_ms(void);

#endif /* EMBER_TIMEARG_H */
