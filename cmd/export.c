// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * export.c - `ember export`: reads a time range of the store and writes it
 * as folded stacks (byte-identical in format to `record`), gzipped pprof,
 * the self-contained HTML viewer or the interactive SVG (export/).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "export.h"
#include "log.h"
#include "store.h"
#include "timearg.h"

struct export_opts {
	const char *db;
	const char *output;
	const char *from, *to;
	struct store_filter filter;
	enum export_format format;
	bool format_set;	/* --format given; else -o's extension decides */
};

static const char usage[] =
"usage: ember export --db PATH [--from T] [--to T] [--comm NAME] [--pid PID]\n"
"                    [--format folded|pprof|html|svg] [-o FILE]\n"
"  T is RFC 3339 (2026-11-25T10:00:00Z), Unix seconds, or relative (-15m, now)\n"
"  --from defaults to the start of the store, --to to now; -o defaults to stdout\n"
"  without --format, -o's extension picks it: .pb.gz or .pprof, .html, .svg, else folded\n";

static int parse_flag(struct export_opts *o, int c, const char *arg)
{
	char *end;
	long pid;

	switch (c) {
	case 'D': o->db = arg; return 0;
	case 'o': o->output = arg; return 0;
	case 'f': o->from = arg; return 0;
	case 't': o->to = arg; return 0;
	case 'c': o->filter.comm = arg; return 0;
	case 'p':
		pid = strtol(arg, &end, 10);
		if (*end || end == arg || pid <= 0 || pid > INT_MAX)
			return usage_error("export", "invalid pid '%s'", arg);
		o->filter.pid = pid;
		return 0;
	case 'F':
		o->format_set = true;
		if (!strcmp(arg, "folded"))
			o->format = EXPORT_FOLDED;
		else if (!strcmp(arg, "pprof"))
			o->format = EXPORT_PPROF;
		else if (!strcmp(arg, "html"))
			o->format = EXPORT_HTML;
		else if (!strcmp(arg, "svg"))
			o->format = EXPORT_SVG;
		else
			return usage_error("export", "unknown format '%s': expected folded, pprof, html or svg",
					   arg);
		return 0;
	}
	return usage_error("export", "unknown option '%s'", arg);
}

static int parse_times(struct export_opts *o)
{
	int64_t now = timearg__now_ms();

	o->filter.from_ms = 0;
	o->filter.to_ms = now;
	if (o->from && timearg__parse(o->from, now, &o->filter.from_ms))
		return usage_error("export", "invalid time '%s' for --from", o->from);
	if (o->to && timearg__parse(o->to, now, &o->filter.to_ms))
		return usage_error("export", "invalid time '%s' for --to", o->to);
	if (o->filter.from_ms >= o->filter.to_ms)
		return usage_error("export", "%s", "--from must be before --to");
	return 0;
}

static int parse_args(struct export_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "comm", required_argument, NULL, 'c' },
		{ "pid", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, err;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		if (c == 'h' || c == ':' || c == '?')
			return flag_other("export", c, argv, usage);
		err = parse_flag(o, c, optarg);
		if (err)
			return err;
	}
	if (flags_end("export", argc, argv))
		return 2;
	if (!o->db)
		return usage_error("export", "%s", "--db is required");
	if (!o->format_set && o->output)
		o->format = export__format_of(o->output);
	return parse_times(o);
}

/* Writes the range in the chosen format. */
static int write_out(struct store *st, const struct export_opts *o, FILE *out)
{
	struct flame_info info = {
		.title = "ember export", .from_ms = o->filter.from_ms, .to_ms = o->filter.to_ms,
	};

	return exporter__write(st, &o->filter, NULL, o->format, &info, out);
}

static FILE *open_output(const char *path)
{
	if (!path || !strcmp(path, "-"))
		return stdout;
	return fopen(path, "w");
}

int cmd_export(int argc, char **argv, volatile sig_atomic_t *exiting)
{
	struct export_opts o = { .filter = { .pid = -1 } };
	struct store *st = NULL;
	FILE *out = NULL;
	int err, ret = 1;

	(void)exiting;
	err = parse_args(&o, argc, argv);
	if (err)
		return err == 1 ? 0 : err;
	err = store__open(o.db, STORE_READONLY, &st);
	if (err) {
		fprintf(stderr, "ember export: cannot open store '%s': %s\n", o.db,
			store__strerror(err));
		return 1;
	}
	out = open_output(o.output);
	if (!out) {
		fprintf(stderr, "ember export: cannot write '%s': %s\n", o.output, strerror(errno));
		goto out;
	}
	err = write_out(st, &o, out);
	if (err) {
		fprintf(stderr, "ember export: %s\n", store__strerror(err));
		goto out;
	}
	ret = 0;
out:
	if (out && out != stdout && fclose(out) && !ret) {
		fprintf(stderr, "ember export: cannot write '%s': %s\n", o.output, strerror(errno));
		ret = 1;
	}
	if (ret && out && out != stdout)
		unlink(o.output);
	store__free(st);
	return ret;
}
