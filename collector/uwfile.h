/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * uwfile.h - what unwinder.c (process entries) and uwfile.c (file slots,
 * the row pool, table builds) share; private to collector/.
 */
#ifndef EMBER_COLLECTOR_UWFILE_H
#define EMBER_COLLECTOR_UWFILE_H

#include <stdbool.h>
#include <stdint.h>
#include "extents.h"
#include "procmaps.h"
#include "sampler.h"
#include "unwinder.h"

#define MAX_PHDRS 8
#define VDSO_DEV UINT64_MAX	/* the vDSO is not a file: a key of its own */

struct uw_file {
	uint64_t dev, ino, ctime;	/* identity; ctime in ns, 0 when unknown */
	uint32_t slot;
	uint32_t gen;		/* unwind_file.gen of its load */
	uint32_t first, n;	/* extent in the row pool; n == 0: no table */
	uint64_t base;
	uint32_t fails;		/* failed builds in a row */
	uint64_t retry_at;	/* no new build before this (monotonic ns) */
	bool cut_logged;	/* its build was cut off by the budget, and said so */
	bool no_room;		/* its last load was refused for room */
	uint64_t no_room_gen;	/* u->room_gen then */
	uint32_t want;		/* rows it was refused */
	int refs;		/* tracked processes whose entry names this file */
	uint64_t last_used;
	int nphdr;
	/*
	 * PT_LOAD segments: a mapping of file offset pgoff in [lo, hi) at
	 * start has bias start - pgoff + delta + base (BPF's seeding too).
	 */
	struct { uint64_t lo, hi, delta, vaddr, filesz; bool exec; } ph[MAX_PHDRS];
};

struct unwinder {
	struct sampler_unwind_maps m;
	long page;
	struct uw_file **slots;		/* m.files_max of them; NULL: free */
	uint32_t nslots;		/* in use */
	void *by_id;			/* tree of struct uw_file by (dev, ino, ctime) */
	void *procs;			/* tree of struct uw_proc by pid */
	struct extents free;		/* free rows of the pool */
	struct unwinder_stats st;
	struct unwind_proc *scratch;	/* one process entry being built */
	uint64_t room_gen;		/* bumped whenever a file falls idle */
	uint32_t load_gen;		/* the last unwind_file.gen given */
	uint32_t fell_idle;		/* files fallen idle since the starved were handed out */
	int *starved;			/* pids of starved processes (some may be gone) */
	int nstarved, starved_cap;
};

/*
 * The file behind one executable mapping of @pid (@dev VDSO_DEV for the
 * vDSO), its table loaded if it has one and there is room; NULL when no
 * slot could be had.
 */
struct uw_file *unwinder_get_file(struct unwinder *u, int pid, const struct proc_map *m,
				  uint64_t dev, struct proc_open_stats *open);

/* After any change BPF reads: its per-CPU cache of rows goes stale at once. */
void unwinder_changed(struct unwinder *u);

#endif /* EMBER_COLLECTOR_UWFILE_H */
