// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * serve.c - `ember serve`: the web UI and API over an existing store,
 * read-only, without sampling (e.g. a store copied off a production host).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include "commands.h"
#include "store.h"
#include "web.h"

static const char usage[] =
"usage: ember serve --db PATH [--listen ADDR:PORT] [--token-file FILE] [--allow-host NAME]...\n"
"  --db PATH             store file to serve (opened read-only)\n"
WEB_FLAGS_HELP
"  the token goes in Authorization: Bearer, or ?token= once in the browser\n";

static int parse_args(struct web_opts *o, char *token, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "listen", required_argument, NULL, 'l' },
		{ "token", required_argument, NULL, 'T' },
		{ "token-file", required_argument, NULL, 'K' },
		{ "insecure-public", no_argument, NULL, 'P' },
		{ "allow-host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, err;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		err = parse_web_flag("serve", o, token, c, optarg);
		if (err != -ENOENT) {
			if (err)
				return err;
			continue;
		}
		switch (c) {
		case 'D': o->db = optarg; break;
		default:
			return flag_other("serve", c, argv, usage);
		}
	}
	if (flags_end("serve", argc, argv))
		return 2;
	if (!o->db)
		return usage_error("serve", "%s", "--db is required");
	web_opts__env(o);
	return 0;
}

/* Fails early, with the store's own message, when the file is not a store. */
static int check_store(const char *db)
{
	struct store *st = NULL;
	int err = store__open(db, STORE_READONLY, &st);

	if (err)
		fprintf(stderr, "ember serve: cannot open store '%s': %s\n", db,
			store__strerror(err));
	store__free(st);
	return err;
}

int cmd_serve(int argc, char **argv, volatile sig_atomic_t *exiting)
{
	struct web_opts o = {};
	char token[TOKEN_MAX];
	struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
	struct web *w = NULL;
	int err;

	err = parse_args(&o, token, argc, argv);
	if (err)
		return err == 1 ? 0 : err;
	if (check_store(o.db))
		return 1;
	err = web__new(&o, &w);
	if (err) {
		fprintf(stderr, "ember serve: cannot listen on %s: %s\n",
			o.listen ? o.listen : WEB_DEFAULT_LISTEN, web__strerror(err));
		return err == -EACCES || err == -EINVAL || err == -EBADMSG ? 2 : 1;
	}
	/* tests bind port 0 and read the real one from this line */
	printf("ember serve: serving %s read-only on port %d\n", o.db, web__port(w));
	fflush(stdout);
	while (!*exiting)
		nanosleep(&tick, NULL);
	web__free(w);
	return 0;
}
