// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * timearg.c - time syntax shared by the CLI and the web API, so `--from -1h`
 * and `?from=-1h` mean the same thing.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "timearg.h"

#define MAX_MS (INT64_C(1) << 52)	/* far beyond any real timestamp */

int64_t timearg__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t unit_ms(char u)
{
	switch (u) {
	case 's': return 1000;
	case 'm': return 60 * 1000;
	case 'h': return 3600 * 1000;
	case 'd': return 86400 * 1000;
	default: return 0;
	}
}

int timearg__duration(const char *s, int64_t *out_ms)
{
	int64_t total = 0, mult;
	char *end;
	double v;

	if (!*s)
		return -EINVAL;
	while (*s) {
		if (!isdigit((unsigned char)*s) && *s != '.')
			return -EINVAL;
		v = strtod(s, &end);
		mult = *end ? unit_ms(*end) : 1000;
		if (!mult || v < 0 || v * mult > MAX_MS)
			return -EINVAL;
		total += (int64_t)(v * mult);
		s = *end ? end + 1 : end;
	}
	*out_ms = total;
	return total <= MAX_MS ? 0 : -EINVAL;
}

/* Parses "+hh:mm", "-hh:mm" or "Z" into seconds east of UTC. */
static int parse_zone(const char *s, long *off)
{
	int hh, mm, n = 0;

	if ((*s == 'Z' || *s == 'z') && !s[1]) {
		*off = 0;
		return 0;
	}
	if ((*s != '+' && *s != '-') || sscanf(s + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 ||
	    s[1 + n] || hh > 23 || mm > 59)
		return -EINVAL;
	*off = (*s == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
	return 0;
}

static int parse_rfc3339(const char *s, int64_t *out_ms)
{
	struct tm tm = {};
	double frac = 0;
	const char *p;
	char *end;
	long off;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		frac = strtod(p, &end);
		p = end;
	}
	if (parse_zone(p, &off))
		return -EINVAL;
	*out_ms = ((int64_t)timegm(&tm) - off) * 1000 + (int64_t)(frac * 1000);
	return 0;
}

int timearg__parse(const char *s, int64_t now_ms, int64_t *out_ms)
{
	int64_t d;
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	if (!strcmp(s, "now")) {
		*out_ms = now_ms;
		return 0;
	}
	if (*s == '-') {
		if (timearg__duration(s + 1, &d))
			return -EINVAL;
		*out_ms = now_ms - d;
		return 0;
	}
	if (strchr(s, 'T') || strchr(s, ' '))
		return parse_rfc3339(s, out_ms);
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isdigit((unsigned char)*s) || v * 1000 > MAX_MS)
		return -EINVAL;
	*out_ms = (int64_t)(v * 1000);
	return 0;
}
