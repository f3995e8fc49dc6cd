// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * flags.c - option parsing shared by the commands that sample (record,
 * agent) and those that serve the UI (agent, serve).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "commands.h"
#include "file.h"
#include "log.h"
#include "unwind_abi.h"
#include "web.h"

int parse_sampling_flag(const char *cmd, struct sampler_opts *o, struct symbolizer_opts *sym,
			int flag, const char *arg)
{
	char *end;
	long v;

	switch (flag) {
	case 'F':
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || *end || end == arg || v < 1 || v > 10000)
			return usage_error(cmd, "invalid frequency '%s': expected 1-10000 Hz", arg);
		o->freq = v;
		return 0;
	case 'W':
		if (!strcmp(arg, "fp"))
			o->unwind = UNWIND_MODE_FP;
		else if (!strcmp(arg, "auto"))
			o->unwind = UNWIND_MODE_AUTO;
		else
			return usage_error(cmd, "invalid --unwind '%s': expected fp or auto", arg);
		return 0;
	case 'M':
		v = strtol(arg, &end, 10);
		if (*end || end == arg || v < 1 || v > 4096)
			return usage_error(cmd, "invalid --unwind-mem '%s': expected 1-4096 MB", arg);
		o->unwind_rows = (uint32_t)(v << 20) / sizeof(struct unwind_row);
		return 0;
	case 'N':
		sym->no_demangle = true;
		return 0;
	case 'G':
		sym->debuginfod_urls = arg;
		return 0;
	case 'S':
		o->bpf_stats = true;
		return 0;
	case 'Y':
		o->no_python = true;
		return 0;
	}
	return -ENOENT;
}

/* A host name or an IP literal ([v6] in brackets), as a Host header carries it. */
static bool host_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 253)
		return false;
	if (s[0] == '[')
		return n > 2 && s[n - 1] == ']' &&
		       strspn(s + 1, "0123456789abcdefABCDEF:.") == n - 2;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
}

int parse_web_flag(const char *cmd, struct web_opts *o, char *token, int flag, const char *arg)
{
	switch (flag) {
	case 'l':
		o->listen = arg;
		return 0;
	case 'T':
		o->token = arg;
		return 0;
	case 'K':
		if (read_token_file(cmd, arg, token, TOKEN_MAX))
			return 2;
		o->token = token;
		return 0;
	case 'P':
		o->insecure_public = true;
		return 0;
	case 'H':
		if (!host_name_ok(arg))
			return usage_error(cmd, "invalid --allow-host '%s': expected a host name, an "
					   "IPv4 address or [IPv6], without a port", arg);
		if (o->nallow_hosts == WEB_MAX_ALLOW_HOSTS)
			return usage_error(cmd, "more than %d --allow-host names", WEB_MAX_ALLOW_HOSTS);
		o->allow_hosts[o->nallow_hosts++] = arg;
		return 0;
	}
	return -ENOENT;
}

void web_opts__env(struct web_opts *o)
{
	const char *t = getenv("EMBER_TOKEN");

	if (!o->token && t && *t)
		o->token = t;
}

int read_token_file(const char *cmd, const char *path, char *buf, size_t size)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = file__open_regular(path, size, &st);
	if (fd < 0)
		return usage_error(cmd, "cannot read --token-file '%s': %s", path,
				   fd == -EFBIG ? "longer than a token" : strerror(-fd));
	n = read(fd, buf, size - 1);
	if (st.st_mode & 077)
		fprintf(stderr, "ember %s: warning: --token-file '%s' is readable by other users\n",
			cmd, path);
	close(fd);
	if (n < 0)
		return usage_error(cmd, "cannot read --token-file '%s': %s", path, strerror(errno));
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || *s == '-' || errno)
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end & ~0x20);
		if (!u || !*u || (end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB")))
			return -EINVAL;
		if (v > (UINT64_MAX >> (10 * (u - units + 1))))
			return -EINVAL;
		v <<= 10 * (u - units + 1);
	}
	*out = v;
	return 0;
}

void raise_priority(void)
{
	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) <= SAMPLER_NICE && !errno)
		return;
	if (setpriority(PRIO_PROCESS, 0, SAMPLER_NICE))
		log_info("cannot raise the priority to nice %d (%s; CAP_SYS_NICE, or Nice= in the "
			 "unit): a CPU saturated by busy threads can delay the drains, and the BPF "
			 "maps may overflow (counted)", SAMPLER_NICE, strerror(errno));
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

int flag_other(const char *cmd, int c, char **argv, const char *usage)
{
	if (c == 'h') {
		fputs(usage, stdout);
		return 1;
	}
	if (c == ':')
		return usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
	return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int flags_end(const char *cmd, int argc, char **argv)
{
	if (optind < argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}
