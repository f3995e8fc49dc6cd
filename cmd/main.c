// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * main.c - the ember binary: installs signal handling, sets process-wide
 * resource policy and dispatches to a subcommand.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
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
"  serve     serve the web UI and API over a store, read-only (ember serve --help)\n"
"  check     what this kernel and these privileges let ember do (ember check --help)\n";

/*
 * A fixed mmap threshold: glibc otherwise raises it to the size of every
 * large block freed (decompressed DWARF is megabytes), after which such
 * blocks come from the heap and their memory is never given back.  One
 * arena: the web and debuginfod threads allocate little.  Every open ELF
 * file holds a descriptor, so take the hard limit of them.
 */
static void set_limits(void)
{
	struct rlimit rl;

	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 1);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	set_limits();
	if (!strcmp(argv[1], "record"))
		return cmd_record(argc - 1, argv + 1, &exiting);
	if (!strcmp(argv[1], "agent"))
		return cmd_agent(argc - 1, argv + 1, &exiting);
	if (!strcmp(argv[1], "export"))
		return cmd_export(argc - 1, argv + 1, &exiting);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1, &exiting);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1, &exiting);
	fprintf(stderr, "ember: unknown command '%s' (see ember --help)\n", argv[1]);
	return 2;
}
