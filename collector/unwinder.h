/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * unwinder.h - keeps the BPF unwinder's tables in step with the processes
 * being sampled: builds a table per ELF file (shared by every process that
 * maps it), loads it into the row pool, and evicts idle files (LRU) when
 * the pool is full.  A file's slot and rows are freed once no tracked
 * process has mapped it for a while.
 */
#ifndef EMBER_UNWINDER_H
#define EMBER_UNWINDER_H

#include <stdint.h>
#include "procmaps.h"
#include "sampler.h"

struct unwinder;

struct unwinder_stats {
	uint64_t files_loaded;		/* tables in the pool now */
	uint64_t rows_used, rows_max;
	uint64_t tables_built;		/* total builds */
	uint64_t build_ns;		/* total build time */
	uint64_t tables_evicted;	/* idle tables dropped for space */
	uint64_t tables_failed;		/* builds that failed (no usable CFI, unreadable) */
	uint64_t tables_no_room;	/* loads refused: every slot or row taken by a mapped file */
	uint64_t tables_retried;	/* builds tried again after a failure */
	uint64_t tables_cut;		/* builds stopped by their budget (unwind_limits) */
	uint64_t inodes_failed;		/* files BPF could not be told of by inode (map full) */
	uint64_t slots_used, slots_max;	/* files known (loaded, failed or idle) */
	uint64_t slots_mapped;		/* of them, files a tracked process maps (not evictable) */
	uint64_t procs;			/* processes tracked now */
	uint64_t procs_starved;		/* of them, those missing a table for lack of room */
	uint64_t starved_rereads;	/* starved processes read again once room was freed */
};

/* A manager for the row pool of @maps.  Returns NULL with errno set. */
struct unwinder *unwinder__new(const struct sampler_unwind_maps *maps);

/* NULL is a no-op. */
void unwinder__free(struct unwinder *u);

/*
 * Publishes tables for @pm's executable mappings (rows, then files, then
 * the process entry, so BPF never sees a half-built table), opening files
 * through proc_map__open() (refusals counted in @open).  Replaces an
 * earlier entry of the pid.  Returns 0 or -errno.
 */
int unwinder__add_process(struct unwinder *u, const struct proc_maps *pm,
			  struct proc_open_stats *open);

/*
 * Withdraws @pid's entry; its files become idle (free for others) when no
 * one else maps them.  Call it as soon as the process is gone: BPF needs
 * no tables for a process that no longer runs.
 */
void unwinder__remove_process(struct unwinder *u, int pid);

/*
 * Puts in @pids (up to @max) the processes that went without a table for
 * lack of room, once some file has fallen idle since: the caller reads
 * each again with unwinder__add_process() (a process still without room is
 * handed out again after the next file falls idle).  Returns how many.
 */
int unwinder__take_starved(struct unwinder *u, int *pids, int max);

/* Frees the slots of files without a table that no process has mapped for @idle_ms. */
void unwinder__expire(struct unwinder *u, uint64_t idle_ms);

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st);

#endif /* EMBER_UNWINDER_H */
