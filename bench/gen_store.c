// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * gen_store.c - fills an ember store with synthetic data through the store
 * API, as an agent on a busy host would: HOURS of WINDOW-second windows
 * ending now, each with STACKS distinct stacks (15-30 frames, shared
 * prefixes, some kernel frames) spread over PROCS processes, then one
 * store__rollup() with the default policy (what the agent's housekeeping
 * does).  Prints "gen_write_s S", "gen_rollup_s S" and "gen_rows N".
 *
 * usage: gen_store PATH [HOURS [WINDOW_S [STACKS [PROCS]]]]  (default 24 10 200 20)
 * build: cc -O2 -Istore -Iutil store/ *.c util/log.c bench/gen_store.c -lsqlite3 -lpthread
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store.h"

#define NFUNCS 400
#define MAXDEPTH 30

static char func_names[NFUNCS][48];
static char files[16][48];
static const char *const modules[] = {
	"/usr/bin/appd", "/usr/lib/x86_64-linux-gnu/libc.so.6",
	"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/x86_64-linux-gnu/libz.so.1",
};
static const char *const kfuncs[] = {
	"entry_SYSCALL_64_after_hwframe", "do_syscall_64", "x64_sys_call", "ksys_read",
	"vfs_read", "tcp_recvmsg", "ksys_write", "vfs_write", "__schedule", "schedule",
};

struct stack {
	struct frame f[MAXDEPTH];
	int n;
};

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Stack i: a shared root, a prefix shared by groups of stacks, then its own tail. */
static void make_stack(struct stack *s, int i)
{
	int depth = 15 + (int)(next_rand() % 16), k, kern;
	uint64_t group = i / 10;

	s->n = 0;
	s->f[s->n++] = (struct frame){ .name = "__libc_start_call_main", .module = modules[1] };
	s->f[s->n++] = (struct frame){ .name = "main", .module = modules[0], .file = files[0], .line = 42 };
	kern = i % 3 == 0 ? 3 + i % 4 : 0;
	for (k = 2; k < depth - kern; k++) {
		uint64_t h = k < 8 ? group * 7919 + k * 104729 : next_rand();
		int fn = (int)(h % NFUNCS);

		s->f[s->n++] = (struct frame){
			.name = func_names[fn], .module = modules[fn % 4], .file = files[fn % 16],
			.line = 10 + fn * 3, .flags = fn % 17 == 0 ? FRAME_F_INLINE : 0,
		};
	}
	for (k = 0; k < kern && s->n < MAXDEPTH; k++)
		s->f[s->n++] = (struct frame){ .name = kfuncs[(i + k) % 10], .flags = FRAME_F_KERNEL };
}

int main(int argc, char **argv)
{
	double hours = argc > 2 ? atof(argv[2]) : 24;
	int window_s = argc > 3 ? atoi(argv[3]) : 10;
	int nstacks = argc > 4 ? atoi(argv[4]) : 200;
	int nprocs = argc > 5 ? atoi(argv[5]) : 20;
	struct timespec ts;
	struct store *st;
	struct stack *stacks;
	struct store_proc *procs;
	char (*comms)[16], (*exes)[32];
	int64_t end_ms, start_ms, nwin, w, rows = 0;
	double t0, t1;
	int i, err;

	if (argc < 2 || hours <= 0 || window_s <= 0 || nstacks <= 0 || nprocs <= 0) {
		fprintf(stderr, "usage: gen_store PATH [HOURS [WINDOW_S [STACKS [PROCS]]]]\n");
		return 2;
	}
	for (i = 0; i < NFUNCS; i++)
		snprintf(func_names[i], sizeof(func_names[i]), "app::module%d::function_%d", i % 23, i);
	for (i = 0; i < 16; i++)
		snprintf(files[i], sizeof(files[i]), "/src/appd/src/file%02d.c", i);
	stacks = calloc(nstacks, sizeof(*stacks));
	procs = calloc(nprocs, sizeof(*procs));
	comms = calloc(nprocs, sizeof(*comms));
	exes = calloc(nprocs, sizeof(*exes));
	if (!stacks || !procs || !comms || !exes)
		return 1;
	for (i = 0; i < nstacks; i++)
		make_stack(&stacks[i], i);
	for (i = 0; i < nprocs; i++) {
		snprintf(comms[i], sizeof(comms[i]), "worker%d", i % 8);
		snprintf(exes[i], sizeof(exes[i]), "/usr/bin/worker%d", i % 8);
		procs[i] = (struct store_proc){ .comm = comms[i], .pid = 1000 + i, .exe = exes[i],
						.cgroup = i % 2 ? "/system.slice/appd.service" : NULL };
	}

	err = store__open(argv[1], 0, &st);
	if (err) {
		fprintf(stderr, "gen_store: cannot open %s: %s\n", argv[1], store__strerror(err));
		return 1;
	}
	store__set_period_ns(st, 1000000000ULL / 99);
	clock_gettime(CLOCK_REALTIME, &ts);
	end_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	nwin = (int64_t)(hours * 3600 / window_s);
	start_ms = end_ms - nwin * window_s * 1000;

	t0 = now_s();
	for (w = 0; w < nwin; w++) {
		struct store_window *win;

		err = store__window_begin(st, start_ms + w * window_s * 1000, window_s * 1000, &win);
		for (i = 0; !err && i < nstacks; i++) {
			/* most stacks stay in their process; a few move, as threads do */
			int p = (i + (next_rand() % 10 == 0 ? (int)(w % nprocs) : 0)) % nprocs;

			err = store__window_add(win, &procs[p], stacks[i].f, stacks[i].n,
						1 + next_rand() % 20);
			rows++;
		}
		if (!err)
			err = store__window_commit(win);
		store__window_free(win);
		if (err) {
			fprintf(stderr, "gen_store: window %lld: %s\n", (long long)w, store__strerror(err));
			return 1;
		}
	}
	t1 = now_s();
	err = store__rollup(st, end_ms, NULL, 0);
	if (err) {
		fprintf(stderr, "gen_store: rollup: %s\n", store__strerror(err));
		return 1;
	}
	printf("gen_write_s %.2f s\n", t1 - t0);
	printf("gen_rollup_s %.2f s\n", now_s() - t1);
	printf("gen_rows %lld rows\n", (long long)rows);
	store__free(st);
	free(stacks);
	free(procs);
	free(comms);
	free(exes);
	return 0;
}
