// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * main.c - the ember binary: installs signal handling and dispatches to a
 * subcommand.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "commands.h"

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static const char usage[] =
"usage: ember COMMAND [OPTIONS]\n"
"  record    sample every CPU and write folded stacks (ember record --help)\n"
"  agent     sample continuously into a SQLite store (ember agent --help)\n"
"  export    write a time range of a store as folded stacks or pprof\n"
"  serve     serve the web UI and API over a store, read-only (ember serve --help)\n";

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!strcmp(argv[1], "record"))
		return cmd_record(argc - 1, argv + 1, &exiting);
	if (!strcmp(argv[1], "agent"))
		return cmd_agent(argc - 1, argv + 1, &exiting);
	if (!strcmp(argv[1], "export"))
		return cmd_export(argc - 1, argv + 1, &exiting);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1, &exiting);
	fprintf(stderr, "ember: unknown command '%s' (see ember --help)\n", argv[1]);
	return 2;
}
