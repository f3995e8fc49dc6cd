/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/* commands.h - ember's subcommands; each parses its own arguments. */
#ifndef EMBER_COMMANDS_H
#define EMBER_COMMANDS_H

#include <signal.h>
#include "sampler.h"
#include "symbolizer.h"

/* 16 MiB of 8-byte rows: libc and python3.11 together take under 100k. */
#define DEFAULT_UNWIND_ROWS (2u << 20)

/* Prints "ember CMD: <message> (see ember CMD --help)" to stderr; returns 2. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

/* Parses a size in bytes with an optional K, M, G or T suffix (powers of 1024).  0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);

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
