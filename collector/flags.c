// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* flags.c - option parsing shared by the commands that sample (record, agent). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "commands.h"
#include "unwind_abi.h"

int parse_unwind_flag(struct sampler_opts *o, int flag, const char *arg)
{
	char *end;
	long mb;

	if (flag == 'W') {
		if (!strcmp(arg, "fp"))
			o->unwind = UNWIND_MODE_FP;
		else if (!strcmp(arg, "auto"))
			o->unwind = UNWIND_MODE_AUTO;
		else
			return -EINVAL;
		return 0;
	}
	mb = strtol(arg, &end, 10);
	if (*end || end == arg || mb < 1 || mb > 4096)
		return -EINVAL;
	o->unwind_rows = (uint32_t)(mb << 20) / sizeof(struct unwind_row);
	return 0;
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ember %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see ember %s --help)\n", cmd);
	return 2;
}
