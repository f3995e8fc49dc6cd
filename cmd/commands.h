/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/* commands.h - ember's subcommands; each parses its own arguments. */
#ifndef EMBER_COMMANDS_H
#define EMBER_COMMANDS_H

#include <signal.h>
#include "push.h"
#include "sampler.h"
#include "symbolizer.h"

/* 16 MiB of 8-byte rows: libc and python3.11 together take under 100k. */
#define DEFAULT_UNWIND_ROWS (2u << 20)
/* getopt codes of long options without a letter */
#define OPT_UNWIND_FILES 0x80	/* below the push flags (0x100 on) */

/* Prints "ember CMD: <message> (see ember CMD --help)" to stderr; returns 2. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The end of every command's flag switch: -h (1, usage printed), a missing value or an unknown flag (2). */
int flag_other(const char *cmd, int c, char **argv, const char *usage);
/* 0, or 2 (reported) when arguments are left after the flags. */
int flags_end(const char *cmd, int argc, char **argv);

/*
 * Parses the flags record and agent share: -F ('F'), --unwind ('W'),
 * --unwind-mem ('M'), --no-demangle ('N'), --debuginfod ('G'), --bpf-stats
 * ('S').  Returns 0,
 * 2 after printing a usage error for @cmd, or -ENOENT for any other flag.
 */
int parse_sampling_flag(const char *cmd, struct sampler_opts *o, struct symbolizer_opts *sym,
			int flag, const char *arg);

/* Longest web token (see web__strerror), with its NUL. */
#define TOKEN_MAX 257

/*
 * Reads the web token from the first line of @path into @buf (--token-file:
 * unlike --token, it is not in argv, which every user reads in /proc).
 * Returns 0, or 2 after printing a usage error for @cmd.
 */
int read_token_file(const char *cmd, const char *path, char *buf, size_t size);

/*
 * record and agent drain the BPF maps every second.  A CPU saturated by
 * the load being profiled (thousands of busy threads) must not starve that
 * small, bounded work, or the maps overflow: the calling thread (and the
 * threads it starts later) runs at this nice value when allowed.
 */
#define SAMPLER_NICE (-10)
void raise_priority(void);

struct web_opts;

/*
 * Parses the web flags agent and serve share: --listen ('l'), --token
 * ('T'), --token-file ('K', read into @token, TOKEN_MAX bytes),
 * --insecure-public ('P'), --allow-host ('H', repeatable).  Returns 0, 2
 * after printing a usage error for @cmd, or -ENOENT for any other flag.
 */
int parse_web_flag(const char *cmd, struct web_opts *o, char *token, int flag, const char *arg);

/* After parsing: the token from $EMBER_TOKEN when no flag gave one (out of argv too). */
void web_opts__env(struct web_opts *o);

/* The web flags' lines of --help. */
#define WEB_FLAGS_HELP \
"  --listen ADDR:PORT    serve the UI and API here (default " WEB_DEFAULT_LISTEN ")\n" \
"  --token TOKEN         require this token on every request (needed off loopback)\n" \
"  --token-file FILE     the same, read from FILE's first line (not visible in argv);\n" \
"                        $EMBER_TOKEN does the same\n" \
"  --allow-host NAME     also answer requests whose Host is NAME (repeatable); others\n" \
"                        than the listen address and loopback names get 403\n" \
"  --insecure-public     allow a non-loopback --listen without a token\n"

/*
 * private.c: makes the store at @path (its directory before it is opened,
 * its files once @opened) 0750/0640 for the agent's user and group.
 */
void make_private(const char *path, bool opened);

/* Parses a size in bytes with an optional K, M, G or T suffix (powers of 1024).  0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);

/* agent_push.c: `ember agent --push` (getopt codes past any character). */
enum {
	PUSH_FLAG_URL = 0x100, PUSH_FLAG_PROTOCOL, PUSH_FLAG_LABEL, PUSH_FLAG_USER,
	PUSH_FLAG_PASSWORD_FILE, PUSH_FLAG_TOKEN_FILE, PUSH_FLAG_TENANT, PUSH_FLAG_CA_FILE,
	PUSH_FLAG_QUEUE,
};

#define PUSH_LONGOPTS \
	{ "push", required_argument, NULL, PUSH_FLAG_URL }, \
	{ "push-protocol", required_argument, NULL, PUSH_FLAG_PROTOCOL }, \
	{ "push-label", required_argument, NULL, PUSH_FLAG_LABEL }, \
	{ "push-user", required_argument, NULL, PUSH_FLAG_USER }, \
	{ "push-password-file", required_argument, NULL, PUSH_FLAG_PASSWORD_FILE }, \
	{ "push-token-file", required_argument, NULL, PUSH_FLAG_TOKEN_FILE }, \
	{ "push-tenant", required_argument, NULL, PUSH_FLAG_TENANT }, \
	{ "push-ca-file", required_argument, NULL, PUSH_FLAG_CA_FILE }, \
	{ "push-queue", required_argument, NULL, PUSH_FLAG_QUEUE }

#define PUSH_USAGE \
"  --push URL            also send every window to a Grafana Pyroscope server (or\n" \
"                        Alloy) at URL, e.g. http://pyroscope:4040\n" \
"  --push-protocol P     connect (Push API; default), ingest or ingest-multipart\n" \
"                        (the legacy /ingest)\n" \
"  --push-label K=V      an extra label on every series (repeatable); host and\n" \
"                        service_name replace the defaults\n" \
"  --push-user USER      HTTP Basic user, with --push-password-file FILE\n" \
"  --push-token-file FILE  Bearer token, read from FILE's first line\n" \
"  --push-tenant ID      X-Scope-OrgID for multi-tenant servers\n" \
"  --push-ca-file FILE   trust this PEM CA for https (default: the system's)\n" \
"  --push-queue N        windows kept while the server is unreachable (default 360)\n"

struct push_flags {
	struct push_opts o;
	struct push_label labels[PUSH_MAX_LABELS];
	char password[1024], token[4096];
};

/* Parses one --push* flag (@arg may be modified); returns 0, 2 or -ENOENT. */
int parse_push_flag(struct push_flags *f, int flag, char *arg);
/* After parsing: the combinations that make no sense.  Returns 0 or 2. */
int push_flags__check(struct push_flags *f);
struct web_metrics;
/* Adds the ember_push_* rows for @s (the agent's last snapshot of them). */
int push_metrics__add(const struct push_stats *s, struct web_metrics *m);

/*
 * Each returns the process exit code: 0 success, 1 runtime failure, 2 usage
 * error.  *exiting becomes non-zero on SIGINT/SIGTERM.
 */
int cmd_record(int argc, char **argv, volatile sig_atomic_t *exiting);
int cmd_agent(int argc, char **argv, volatile sig_atomic_t *exiting);
int cmd_export(int argc, char **argv, volatile sig_atomic_t *exiting);
int cmd_serve(int argc, char **argv, volatile sig_atomic_t *exiting);
int cmd_check(int argc, char **argv, volatile sig_atomic_t *exiting);

#endif /* EMBER_COMMANDS_H */
