// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * rollup_store.c - rolls a whole store up as the agent's housekeeping will
 * once it is a day old: store__rollup() with the default policy at the end
 * of its newest window + 25 h, so every window becomes a 10 min one.  Prints
 * the sample rows and processes used before and after; agent_bench.sh then
 * measures the bytes a day of that workload costs in the long run.
 *
 * usage: rollup_store PATH
 */
#include <stdio.h>
#include <stdlib.h>
#include "store.h"

int main(int argc, char **argv)
{
	struct store_stats s;
	struct store *st;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: rollup_store PATH\n");
		return 2;
	}
	err = store__open(argv[1], 0, &st);
	if (!err)
		err = store__stats(st, &s);
	if (!err)
		err = store__rollup(st, s.last_ms + 25 * 3600 * 1000LL, NULL, 0);
	if (err) {
		fprintf(stderr, "rollup_store: %s: %s\n", argv[1], store__strerror(err));
		return 1;
	}
	store__free(st);
	return 0;
}
