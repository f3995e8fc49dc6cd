/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * registry.h - the collector's one process registry (internal to
 * collector/).  A process is (tgid, start time): a pid the kernel reuses
 * names another process, which replaces the old entry, and an exit noted
 * for the old one cannot remove it.  Each entry holds the labels of the
 * process and one snapshot of its executable mappings, read once per
 * process event and handed to the symbolizer, the unwinder and the
 * CPython finder.
 */
#ifndef EMBER_COLLECTOR_REGISTRY_H
#define EMBER_COLLECTOR_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include "procmaps.h"

struct registry;

struct reg_proc {
	uint32_t tgid;
	uint64_t start;			/* clock ticks after boot (/proc/PID/stat field 22); 0: unknown */
	char *exe;			/* NULL when unknown */
	bool gone;			/* it had exited when it was read */
	char *cgroup;			/* cgroup v2 path, NULL when unknown */
	struct proc_maps *maps;		/* NULL when they could not be read */
	int maps_err;			/* then why: -errno (-EAGAIN: not read yet) */
};

struct registry_stats {
	uint64_t exe_reads;	/* /proc/PID/exe read (an exec path and file not seen before) */
	uint64_t exe_cached;	/* executables known from an earlier exec of the same path and file */
	uint64_t reused;	/* entries replaced by a new process of the same tgid */
	uint64_t stale_exits;	/* exits of a tgid's earlier process, ignored */
	uint64_t tracked;	/* entries now (live processes, and those gone until the drain) */
};

/*
 * What BPF told of a new process (struct ember_proc_event), which holds
 * even when it is gone before it is read.
 */
struct reg_ident {
	uint64_t start;		/* clock ticks after boot; 0: read /proc/PID/stat */
	uint64_t cgroup_id;	/* cgroup v2 id; 0: unknown */
	const char *exe_hint;	/* the path of its last exec, for when /proc/PID/exe is gone */
	uint64_t exe_dev;	/* and the file it opened, or runs when no exec was seen */
	uint64_t exe_ino;	/* (0: unknown): /proc/PID/exe is read once per path and file */
};

/* Returns NULL with errno set. */
struct registry *registry__new(void);

/* NULL is a no-op. */
void registry__free(struct registry *r);

/*
 * Reads @tgid (start time, executable, cgroup, and with @maps its
 * mappings) into its entry, taking from @id (NULL: none) what /proc no
 * longer has: the same process's entry is refreshed (after exec), another's
 * replaced.  Returns the entry (maps NULL when unreadable, or not read yet:
 * maps_err -EAGAIN), or NULL with errno ENOMEM.
 */
const struct reg_proc *registry__add(struct registry *r, uint32_t tgid,
				     const struct reg_ident *id, bool maps);

/*
 * Re-reads the mappings of @tgid's entry (made first if there is none).
 * Returns it as registry__add() does.
 */
const struct reg_proc *registry__rescan(struct registry *r, uint32_t tgid);

/*
 * Labels @tgid's entry, if it has no executable yet, with @path (absolute):
 * for an exec reported after the process was announced.
 */
void registry__exec_hint(struct registry *r, uint32_t tgid, const char *path);

/* @tgid's entry, or NULL. */
const struct reg_proc *registry__find(struct registry *r, uint32_t tgid);

/*
 * The start time to remember for an exit of @tgid noted now: its entry's,
 * or 0 when it has none.
 */
uint64_t registry__start_of(struct registry *r, uint32_t tgid);

/*
 * Removes @tgid's entry if it is still the process that had @start (or has
 * no entry at all).  Returns true when the caller should forget @tgid
 * everywhere, false when the pid now names a newer process (counted).
 */
bool registry__remove(struct registry *r, uint32_t tgid, uint64_t start);

/* Calls @fn on every entry (any order). */
void registry__walk(struct registry *r, void (*fn)(const struct reg_proc *p, void *ctx),
		    void *ctx);

/* Counts of refused paths, for the collector's own file opens. */
struct proc_open_stats *registry__open_stats(struct registry *r);

void registry__stats(struct registry *r, struct registry_stats *st);

/* @tgid's start time into *@start.  Returns 0 or -errno (-ESRCH when gone). */
int proc__start_time(uint32_t tgid, uint64_t *start);

/* cgroups.c: cgroup v2 paths by id ("/system.slice/x.service"), for the registry. */
struct cgroup_names;

/* Returns NULL with errno set. */
struct cgroup_names *cgroup_names__new(void);

/* NULL is a no-op. */
void cgroup_names__free(struct cgroup_names *cn);

/* The path of cgroup @id, or NULL when not known. */
const char *cgroup_names__get(struct cgroup_names *cn, uint64_t id);

/* Remembers @path for @id (a bounded number of them). */
void cgroup_names__put(struct cgroup_names *cn, uint64_t id, const char *path);

/*
 * The path of cgroup @id, looked for under the cgroup2 mount when not
 * known (a walk at most once a second, more seldom while walks find
 * nothing).  NULL when not found.
 */
const char *cgroup_names__find(struct cgroup_names *cn, uint64_t id);

#endif /* EMBER_COLLECTOR_REGISTRY_H */
