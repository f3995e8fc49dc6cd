// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * cgroups.c - cgroup v2 paths by cgroup id, so a process gone before its
 * /proc/PID/cgroup was read is still labelled with the cgroup BPF saw it
 * in.  Filled from the paths read for live processes, and on a miss from
 * one walk of the cgroup2 mount (a cgroup2 directory's inode number is its
 * cgroup id), at most once per CGROUP_SCAN_MS, more seldom while walks find
 * nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include "mono.h"
#include "registry.h"

/* Ids remembered; past it the map starts again empty (cgroups come and go). */
#define CGROUP_NAMES_MAX 4096
/*
 * Least time between two walks of the cgroup2 mount; doubled (up to the
 * most) after each walk that did not find the id it was made for, so a
 * user making cgroups by the thousand cannot keep the agent walking them.
 */
#define CGROUP_SCAN_MS 1000
#define CGROUP_SCAN_MAX_MS 64000
/* Directories one walk looks at, at most, and how deep. */
#define CGROUP_SCAN_MAX 20000
#define CGROUP_SCAN_DEPTH 32

struct cg_name {
	uint64_t id;
	char *path;
};

struct cgroup_names {
	void *root;		/* tree of struct cg_name by id */
	unsigned int n;
	uint64_t next_scan_ms;	/* no walk before this */
	uint64_t backoff_ms;	/* the wait after the next walk that finds nothing */
};

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct cg_name *)a)->id, y = ((const struct cg_name *)b)->id;

	return x < y ? -1 : x > y;
}

static void name_free(void *node)
{
	struct cg_name *c = node;

	if (!c)
		return;
	free(c->path);
	free(c);
}

struct cgroup_names *cgroup_names__new(void)
{
	return calloc(1, sizeof(struct cgroup_names));
}

void cgroup_names__free(struct cgroup_names *cn)
{
	if (!cn)
		return;
	tdestroy(cn->root, name_free);
	free(cn);
}

const char *cgroup_names__get(struct cgroup_names *cn, uint64_t id)
{
	struct cg_name key = { .id = id }, **found = tfind(&key, &cn->root, id_cmp);

	return found ? (*found)->path : NULL;
}

void cgroup_names__put(struct cgroup_names *cn, uint64_t id, const char *path)
{
	struct cg_name key = { .id = id }, **found, *c;

	if (!id || !path)
		return;
	found = tfind(&key, &cn->root, id_cmp);
	if (found) {
		if (strcmp((*found)->path, path)) {	/* renamed */
			char *p = strdup(path);

			if (p) {
				free((*found)->path);
				(*found)->path = p;
			}
		}
		return;
	}
	if (cn->n >= CGROUP_NAMES_MAX) {
		tdestroy(cn->root, name_free);
		cn->root = NULL;
		cn->n = 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->id = id;
	c->path = strdup(path);
	if (!c->path || !tsearch(c, &cn->root, id_cmp)) {
		name_free(c);
		return;
	}
	cn->n++;
}

/* Where cgroup2 is mounted (unified, or the hybrid layout's), or NULL. */
static const char *cgroup2_mount(void)
{
	static const char *const where[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct statfs sf;
	size_t i;

	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (!statfs(where[i], &sf) && sf.f_type == CGROUP2_SUPER_MAGIC)
			return where[i];
	return NULL;
}

/* One walk: the map it fills, its path so far, directories seen. */
struct scan {
	struct cgroup_names *cn;
	char path[PATH_MAX];
	unsigned int seen;
};

/* Puts every cgroup under @fd (closed here) into the map; @len: its path's length. */
static void scan_dir(struct scan *s, int fd, size_t len, int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	struct stat st;
	size_t n;
	int sub;

	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) && s->seen < CGROUP_SCAN_MAX) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		n = strlen(de->d_name);
		if (len + 1 + n >= sizeof(s->path))
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		s->seen++;
		s->path[len] = '/';
		memcpy(s->path + len + 1, de->d_name, n + 1);
		if (!fstat(sub, &st))
			cgroup_names__put(s->cn, st.st_ino, s->path);
		if (depth < CGROUP_SCAN_DEPTH)
			scan_dir(s, sub, len + 1 + n, depth + 1);
		else
			close(sub);
		s->path[len] = '\0';
	}
	closedir(d);
}

/* Learns every cgroup under the cgroup2 mount.  Returns 0 or -errno. */
static int scan(struct cgroup_names *cn)
{
	struct scan s = { .cn = cn };
	const char *mnt = cgroup2_mount();
	struct stat st;
	int fd;

	if (!mnt)
		return -ENOENT;
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!fstat(fd, &st))
		cgroup_names__put(cn, st.st_ino, "/");
	scan_dir(&s, fd, 0, 0);
	return 0;
}

const char *cgroup_names__find(struct cgroup_names *cn, uint64_t id)
{
	const char *path = cgroup_names__get(cn, id);
	uint64_t now = mono_ms();

	if (path || now < cn->next_scan_ms)
		return path;
	if (!cn->backoff_ms)
		cn->backoff_ms = CGROUP_SCAN_MS;
	scan(cn);
	path = cgroup_names__get(cn, id);
	if (path)
		cn->backoff_ms = CGROUP_SCAN_MS;
	cn->next_scan_ms = now + cn->backoff_ms;
	if (!path && cn->backoff_ms < CGROUP_SCAN_MAX_MS)
		cn->backoff_ms *= 2;
	return path;
}
