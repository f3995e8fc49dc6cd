// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * log.c - the one place ember writes diagnostics.  The level is process-wide
 * state by nature (like errno), so it lives here rather than in every struct.
 */
#include <stdarg.h>
#include <stdio.h>
#include "log.h"

static enum log_level max_level = LOG_WARN;

void log_set_level(enum log_level level)
{
	max_level = level;
}

enum log_level log_get_level(void)
{
	return max_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	va_list ap;

	if (level > max_level)
		return;
	fprintf(stderr, "ember: %s: ", names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
