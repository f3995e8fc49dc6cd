// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * procmaps.c - parses /proc/PID/maps (executable mappings only) and opens
 * mapped files, in one place for the collector, the unwinder, the CPython
 * finder and the symbolizer.  The path fallback resolves inside the
 * process's root: a container may point an absolute symlink at anything,
 * and followed from the host that would be a host file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "file.h"
#include "log.h"
#include "procmaps.h"

#define DELETED " (deleted)"

/* Parses one maps line into @m; returns 1 for an executable mapping, 0 to skip, -ENOMEM. */
static int map_parse(char *line, struct proc_map *m)
{
	unsigned long long start, end, pgoff, ino;
	unsigned int maj, min;
	size_t len, dlen = strlen(DELETED);
	char perms[8], *path;
	int pos = 0;

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &pgoff, &maj,
		   &min, &ino, &pos) < 7 || !pos || !strchr(perms, 'x'))
		return 0;
	path = line + pos;
	path[strcspn(path, "\n")] = '\0';
	len = strlen(path);
	*m = (struct proc_map){ .start = start, .end = end, .pgoff = pgoff,
				.dev = makedev(maj, min), .ino = ino };
	if (path[0] == '/' && len > dlen && !strcmp(path + len - dlen, DELETED)) {
		path[len - dlen] = '\0';
		m->deleted = true;
	}
	m->path = strdup(path);
	return m->path ? 1 : -ENOMEM;
}

static int maps_push(struct proc_maps *pm, size_t *cap, const struct proc_map *m)
{
	struct proc_map *v;

	if (pm->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		v = realloc(pm->maps, *cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		pm->maps = v;
	}
	pm->maps[pm->n++] = *m;
	return 0;
}

int proc_maps__read(int pid, struct proc_maps **out)
{
	struct proc_maps *pm = calloc(1, sizeof(*pm));
	char path[64], *line = NULL;
	size_t len = 0, cap = 0;
	struct proc_map m;
	FILE *f = NULL;
	int err = 0, r;

	if (!pm)
		return -ENOMEM;
	pm->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f) {
		err = errno == ENOENT ? -ESRCH : -errno;
		goto cleanup;
	}
	while (!err && getline(&line, &len, f) > 0) {
		r = map_parse(line, &m);
		if (r < 0)
			err = r;
		else if (r && maps_push(pm, &cap, &m)) {
			free(m.path);
			err = -ENOMEM;
		}
	}
	if (!err && ferror(f))
		err = -ESRCH;	/* the process went away while we read */
cleanup:
	free(line);
	if (f)
		fclose(f);
	*out = err ? NULL : pm;
	if (err)
		proc_maps__free(pm);
	return err;
}

void proc_maps__free(struct proc_maps *pm)
{
	size_t i;

	if (!pm)
		return;
	for (i = 0; i < pm->n; i++)
		free(pm->maps[i].path);
	free(pm->maps);
	free(pm);
}

/* @path inside @pid's root.  Returns the fd or -errno. */
static int open_root(int pid, const char *path, struct proc_open_stats *st)
{
	char root[64];
	int rfd, fd;

	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	fd = file__open_in_root(rfd, path, false);
	close(rfd);
	if ((fd == -ELOOP || fd == -EXDEV) && st) {
		st->refused++;
		if (!st->logged)
			log_warn("pid %d: %s leads outside the process's root (or through a symlink "
				 "this kernel cannot follow safely): not opened; counted, logged once",
				 pid, path);
		st->logged = true;
	}
	return fd;
}

void proc_map__files_path(int pid, const struct proc_map *m, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, m->start, m->end);
}

int proc_map__open(int pid, const struct proc_map *m, struct proc_open_stats *st,
		   struct proc_open_err *err)
{
	struct proc_open_err tmp;
	char buf[PROC_MAP_FILES_LEN];
	int fd;

	if (!err)
		err = &tmp;
	*err = (struct proc_open_err){ 0 };
	proc_map__files_path(pid, m, buf, sizeof(buf));
	fd = file__open_regular(buf, 0, NULL);
	if (fd >= 0)
		return fd;
	err->map_files = fd;
	if (!proc_map__is_file(m))
		return fd;
	fd = open_root(pid, m->path, st);
	if (fd < 0)
		err->root = fd;
	return fd;
}
