/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * procmaps.h - a process's executable mappings as /proc/PID/maps lists
 * them, and the one way ember opens the file behind a mapping: through
 * /proc/PID/map_files (the exact file, even deleted or in another mount
 * namespace), else by its path resolved inside the process's own root, so
 * a container's absolute symlinks never lead to the host's files.
 */
#ifndef EMBER_PROCMAPS_H
#define EMBER_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One executable mapping. */
struct proc_map {
	uint64_t start, end;
	uint64_t pgoff;		/* file offset in bytes */
	uint64_t dev;		/* st_dev as stat(2) reports it (makedev(major, minor)) */
	uint64_t ino;
	/*
	 * "/..." for a file (its " (deleted)" suffix cut off), "" for
	 * anonymous memory, else the kernel's name ("[vdso]", "[anon:x]").
	 */
	char *path;
	bool deleted;
};

struct proc_maps {
	int pid;
	size_t n;
	struct proc_map *maps;	/* in the kernel's order (by start) */
};

/*
 * Reads @pid's executable mappings into *@out.  Returns 0, -ESRCH when
 * the process is gone, -EACCES when its maps are hidden, or -errno.
 */
int proc_maps__read(int pid, struct proc_maps **out);

/* NULL is a no-op. */
void proc_maps__free(struct proc_maps *pm);

/* True when @m maps a file (its path starts with '/'). */
static inline bool proc_map__is_file(const struct proc_map *m)
{
	return m->path[0] == '/';
}

/* "/proc/PID/map_files/START-END" of @m into @buf (96 bytes hold any). */
#define PROC_MAP_FILES_LEN 96
void proc_map__files_path(int pid, const struct proc_map *m, char *buf, size_t len);

/*
 * What opening mapped files met, kept by each caller: refusals are
 * counted every time and logged once per caller.
 */
struct proc_open_stats {
	uint64_t refused;	/* paths that would have left the process's root */
	bool logged;
};

/* Why an open failed: the -errno of each way tried (0: not tried). */
struct proc_open_err {
	int map_files;		/* /proc/PID/map_files/START-END */
	int root;		/* the path inside /proc/PID/root */
};

/*
 * Opens the file mapped by @m of process @pid, read-only, without blocking,
 * a regular file or refused: map_files first (needs CAP_CHECKPOINT_RESTORE
 * or CAP_SYS_ADMIN), then the path resolved inside the process's root
 * (openat2 RESOLVE_IN_ROOT; where the kernel lacks it, any symlink on the
 * way is refused).  Returns the fd or -errno; @err (may be NULL) says why
 * each way failed, @st (may be NULL) counts refusals.
 */
int proc_map__open(int pid, const struct proc_map *m, struct proc_open_stats *st,
		   struct proc_open_err *err);

#endif /* EMBER_PROCMAPS_H */
