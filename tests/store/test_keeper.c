// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_keeper.c - the store_keeper thread: retention, rollups and garbage
 * collection on their own connection while another connection keeps
 * committing windows that reuse the very stacks, frames, processes and
 * strings being collected.  No sample may end up pointing at a deleted row,
 * and the garbage must go: once with the writer's commit placed exactly
 * between garbage collection's snapshot and its deletion, once with a real
 * keeper thread beside a writer.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "../../store/internal.h"
#include "test_store.h"

#define SEGS 3		/* round r uses pool segment r % SEGS: dead for a while, then reused */
#define POOL (SEGS * 16)
#define DEPTH 6
#define BALLAST 20000	/* rows of a window that stays: makes the marking take a while */

/* Stack @id of the pool: a shared root, then frames and a module of its own. */
static int pool_stack(int id, struct frame *f, char (*names)[32])
{
	int k;

	for (k = 0; k < DEPTH; k++) {
		snprintf(names[k], sizeof(names[k]), k ? "fn_%d_%d" : "main", id, k);
		f[k] = (struct frame){ .name = names[k], .module = k == DEPTH - 1 ? names[k] : "app",
				       .line = k };
	}
	return DEPTH;
}

/* A window at @start with the stacks [@first, @first + 16) of the pool. */
static int write_round(struct store *st, int64_t start, int first, uint32_t pid)
{
	struct store_window *w = NULL;
	char names[DEPTH][32], comm[16];
	struct frame f[DEPTH];
	struct store_proc p = { .comm = comm, .exe = "/usr/bin/job" };
	int i, n, err;

	err = store__window_begin(st, start, 10 * SEC, &w);
	for (i = 0; i < (first < 0 ? BALLAST : 16) && !err; i++) {
		if (first < 0) {
			/* the ballast: a stack and a process of its own per row */
			snprintf(names[0], sizeof(names[0]), "ballast_%d", i);
			f[0] = (struct frame){ .name = names[0], .module = "ballast" };
			p.pid = (uint32_t)i;
			snprintf(comm, sizeof(comm), "ballast");
			err = store__window_add(w, &p, f, 1, 1);
			continue;
		}
		n = pool_stack((first + i) % POOL, f, names);
		snprintf(comm, sizeof(comm), "job%d", (first + i) % POOL);
		p.pid = pid + (uint32_t)i;
		err = store__window_add(w, &p, f, n, 1 + (uint64_t)i);
	}
	if (!err)
		err = store__window_commit(w);
	store__window_free(w);
	return err;
}

/* Rows that point at nothing: 0 in a sound store. */
static const char dangling_sql[] =
	"SELECT (SELECT count(*) FROM samples WHERE stack NOT IN (SELECT id FROM stacks))"
	" + (SELECT count(*) FROM samples WHERE proc NOT IN (SELECT id FROM procs))"
	" + (SELECT count(*) FROM stacks WHERE parent != 0 AND parent NOT IN (SELECT id FROM stacks))"
	" + (SELECT count(*) FROM stacks WHERE frame NOT IN (SELECT id FROM frames))"
	" + (SELECT count(*) FROM frames f WHERE EXISTS (SELECT 1 FROM (SELECT f.name AS s"
	" UNION ALL SELECT f.module UNION ALL SELECT f.file UNION ALL SELECT f.build_id)"
	" WHERE s != 0 AND s NOT IN (SELECT id FROM strings)))"
	" + (SELECT count(*) FROM procs p WHERE EXISTS (SELECT 1 FROM (SELECT p.comm AS s"
	" UNION ALL SELECT p.exe UNION ALL SELECT p.cgroup)"
	" WHERE s != 0 AND s NOT IN (SELECT id FROM strings)))";

void test_keeper(struct env *e)
{
	const char *path = fresh(e, "keeper");
	struct store_keeper *k = NULL;
	struct store_keeper_stats ks;
	struct store_stats s;
	struct store *st = NULL;
	struct rows r = { 0 };
	struct timespec pause = { 0, 30000000 };
	char why[256] = "";
	int64_t t = T0, dangling, kept;
	int err, round, i;

	err = store__open(path, 0, &st);
	CHECK(!err, "open: %s", store__strerror(err));
	err = write_round(st, T0 + 1000 * HOUR, -1, 0);
	CHECK(!err, "ballast: %s", store__strerror(err));
	kept = sql1(path, "SELECT (SELECT count(*) FROM procs) + (SELECT count(*) FROM stacks)"
		    " + (SELECT count(*) FROM frames) + (SELECT count(*) FROM strings)");
	err = store_keeper__new(path, 15 * MIN, 0, &k);
	CHECK(!err, "keeper: %s", store__strerror(err));
	for (round = 0; round < 20; round++) {
		/*
		 * A pass every 10 min (a GC each): it deletes the windows of 3
		 * rounds ago, whose segment this round writes again meanwhile.
		 */
		store_keeper__kick(k, t);
		for (i = 0; i < 10; i++, t += MIN) {
			err = write_round(st, t, round % SEGS * 16, (uint32_t)(1000 + round % SEGS * 16));
			CHECK(!err, "round %d window %d: %s", round, i, store__strerror(err));
			nanosleep(&pause, NULL);
		}
	}
	store_keeper__kick(k, t + 40 * MIN);
	/* wait for that last pass: it deletes every window and collects everything */
	for (i = 0; i < 1000; i++) {
		store_keeper__stats(k, &ks);
		if (ks.last_now_ms == t + 40 * MIN)
			break;
		nanosleep(&pause, NULL);
	}
	store_keeper__free(k);
	k = NULL;
	CHECK(ks.last_now_ms == t + 40 * MIN, "the last pass never ended");
	CHECK(ks.passes && !ks.failures && ks.deleted, "keeper: %llu passes, %llu failed, %llu deleted",
	      (unsigned long long)ks.passes, (unsigned long long)ks.failures,
	      (unsigned long long)ks.deleted);
	dangling = sql1(path, dangling_sql);
	CHECK(dangling == 0, "%lld rows point at deleted rows", (long long)dangling);
	CHECK(!store__stats(st, &s), "stats");
	err = query(st, 0, INT64_MAX, NULL, -1, &r);
	CHECK(!err && r.total == s.samples, "query: %s, total %llu of %llu", store__strerror(err),
	      (unsigned long long)r.total, (unsigned long long)s.samples);
	CHECK(s.windows == 1 && r.total == BALLAST, "%llu windows left", (unsigned long long)s.windows);
	CHECK(sql1(path, "SELECT (SELECT count(*) FROM procs) + (SELECT count(*) FROM stacks)"
		   " + (SELECT count(*) FROM frames) + (SELECT count(*) FROM strings)") == kept,
	      "garbage left: %lld processes, %lld stack nodes, %lld strings",
	      (long long)sql1(path, "SELECT count(*) FROM procs"),
	      (long long)sql1(path, "SELECT count(*) FROM stacks"),
	      (long long)sql1(path, "SELECT count(*) FROM strings"));
	CHECK(sql1(path, "PRAGMA integrity_check") != -1, "integrity");
out:
	store_keeper__free(k);
	rows_free(&r);
	store__free(st);
	cleanup(e);
	report(e, "keeper_gc_beside_a_writer", why);
}

/* Commits one window at @start holding @n stacks of @frames (each @depth deep, root first). */
static int write_stacks(struct store *st, int64_t start, const struct store_proc *p,
			const struct frame *frames, int n, int depth)
{
	struct store_window *w = NULL;
	int i, err;

	err = store__window_begin(st, start, 10 * SEC, &w);
	for (i = 0; i < n && !err; i++)
		err = store__window_add(w, p, frames + i * depth, depth, 10);
	if (!err)
		err = store__window_commit(w);
	store__window_free(w);
	return err;
}

void test_gc_snapshot(struct env *e)
{
	const char *path = fresh(e, "gcsnap");
	const struct store_proc pold = { .comm = "reused", .pid = 7, .exe = "/reused" };
	const struct store_proc pkeep = { .comm = "keep", .pid = 8, .exe = "/keep" };
	/* 0: dead, then written again; 1: dead for good; 2: live all along */
	const struct frame old[3][3] = {
		{ { .name = "main" }, { .name = "reused_fn", .module = "reused.so" },
		  { .name = "reused_leaf", .module = "reused.so" } },
		{ { .name = "main" }, { .name = "gone_fn", .module = "gone.so" },
		  { .name = "gone_leaf", .module = "gone.so" } },
		{ { .name = "main" }, { .name = "keep_fn" }, { .name = "keep_leaf" } },
	};
	/* written between snapshot and deletion: the dead stack, and a new leaf under it */
	const struct frame fresh_[2][4] = {
		{ old[0][0], old[0][1], old[0][2], { .name = "new_leaf", .module = "reused.so" } },
		{ old[0][0], old[0][1], old[0][2], { .name = "new_leaf", .module = "reused.so" } },
	};
	struct store *k = NULL, *m = NULL;
	struct rows r = { 0 };
	char why[256] = "";
	uint64_t deleted = 0;
	int64_t max[3], dangling;
	int err;

	CHECK(!store__open(path, 0, &m) && !store__open(path, 0, &k), "open");
	CHECK(!write_stacks(m, T0, &pold, &old[0][0], 2, 3), "old window");
	CHECK(!write_stacks(m, T0 + HOUR, &pkeep, &old[2][0], 1, 3), "kept window");
	CHECK(!store_delete_before(k, T0 + 1, &deleted) && deleted == 1, "retention: %llu",
	      (unsigned long long)deleted);
	err = store_gc_mark(k, max);
	CHECK(!err, "mark: %s", store__strerror(err));
	/* the writer picks up ids the snapshot saw dead */
	CHECK(!write_stacks(m, T0 + 2 * HOUR, &pold, &old[0][0], 1, 3), "reuse window");
	CHECK(!write_stacks(m, T0 + 3 * HOUR, &pold, &fresh_[0][0], 1, 4), "new-leaf window");
	err = store_gc_sweep(k, max);
	CHECK(!err, "sweep: %s", store__strerror(err));
	dangling = sql1(path, dangling_sql);
	CHECK(dangling == 0, "%lld rows point at deleted rows", (long long)dangling);
	err = query(m, 0, INT64_MAX, NULL, -1, &r);
	CHECK(!err && r.total == 30, "query: %s, total %llu", store__strerror(err),
	      (unsigned long long)r.total);
	CHECK(rows_count(&r, &pold, &old[0][0], 3) == 10 && rows_count(&r, &pold, &fresh_[0][0], 4) == 10,
	      "the reused stacks lost their samples");
	CHECK(sql1(path, "SELECT count(*) FROM strings WHERE s IN (CAST('gone_fn' AS BLOB),"
		   " CAST('gone.so' AS BLOB), CAST('gone_leaf' AS BLOB))") == 0,
	      "garbage of the deleted window kept");
out:
	rows_free(&r);
	store__free(k);
	store__free(m);
	cleanup(e);
	report(e, "gc_spares_ids_reused_after_its_snapshot", why);
}
