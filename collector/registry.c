// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * registry.c - the collector's processes, one entry per live tgid,
 * identified by (tgid, start time) so that a reused pid never mixes two
 * processes: their labels and one read of their mappings (util/procmaps.c),
 * which every consumer in the collector shares.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "registry.h"

/*
 * The executables of recent execs by (device, inode, path exec'd): most
 * processes run a binary that ran before, and reading /proc/PID/exe walks
 * a path in the kernel for each.  The same path to the same file resolves
 * the same way; a file replaced or renamed has another inode or path.
 */
#define EXE_CACHE 64

struct exe_ent {
	uint64_t dev, ino;
	char *hint;		/* the path exec'd (from BPF) */
	char *exe;		/* what /proc/PID/exe said for it */
};

struct registry {
	void *root;			/* tree of struct reg_proc by tgid */
	struct exe_ent exes[EXE_CACHE];
	struct cgroup_names *cgroups;	/* paths of the cgroup ids BPF sends */
	struct proc_open_stats open;
	struct registry_stats st;
};

static int tgid_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct reg_proc *)a)->tgid, y = ((const struct reg_proc *)b)->tgid;

	return x < y ? -1 : x > y;
}

static void entry_free(void *node)
{
	struct reg_proc *p = node;

	if (!p)
		return;
	free(p->exe);
	free(p->cgroup);
	proc_maps__free(p->maps);
	free(p);
}

struct registry *registry__new(void)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cgroups = cgroup_names__new();
	if (!r->cgroups) {
		free(r);
		return NULL;
	}
	return r;
}

void registry__free(struct registry *r)
{
	int i;

	if (!r)
		return;
	tdestroy(r->root, entry_free);
	for (i = 0; i < EXE_CACHE; i++) {
		free(r->exes[i].hint);
		free(r->exes[i].exe);
	}
	cgroup_names__free(r->cgroups);
	free(r);
}

int proc__start_time(uint32_t tgid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%u/stat", tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the last ')' */
	p = strrchr(buf, ')');
	/* starttime is field 22; ')' ends field 2, each space starts the next */
	for (i = 2; p && i < 22; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &v) != 1)
		return -EINVAL;
	*start = v;
	return 0;
}

/* @tgid's executable, or NULL; *@gone when it has exited (a zombie has no exe). */
static char *read_exe(uint32_t tgid, bool *gone)
{
	char path[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/exe", tgid);
	n = readlink(path, buf, sizeof(buf) - 1);
	*gone = n < 0 && errno == ENOENT;
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

static struct exe_ent *exe_slot(struct registry *r, const struct reg_ident *id)
{
	uint64_t h = (id->exe_dev * 0x9e3779b97f4a7c15ULL) ^ (id->exe_ino * 0xff51afd7ed558ccdULL);

	return &r->exes[(h >> 32) % EXE_CACHE];
}

/*
 * @tgid's executable, from the cache when @id names an exec of a path and
 * file seen before, or (no exec seen: forked from a process running it)
 * only a file seen before, else from /proc/PID/exe (and then remembered).
 */
static char *exe_of(struct registry *r, uint32_t tgid, const struct reg_ident *id, bool *gone)
{
	const char *hint = id ? id->exe_hint : NULL;
	struct exe_ent *e = NULL;
	char *exe, *h;

	*gone = false;
	if (id && id->exe_ino && (!hint || hint[0] == '/')) {
		e = exe_slot(r, id);
		if (e->exe && e->dev == id->exe_dev && e->ino == id->exe_ino &&
		    (!hint || !strcmp(e->hint, hint))) {
			r->st.exe_cached++;
			return strdup(e->exe);
		}
	}
	r->st.exe_reads++;
	exe = read_exe(tgid, gone);
	h = e && exe ? strdup(hint ? hint : "") : NULL;
	if (!h)
		return exe;
	free(e->hint);
	free(e->exe);
	*e = (struct exe_ent){ id->exe_dev, id->exe_ino, h, strdup(exe) };
	if (!e->exe) {
		free(e->hint);
		e->hint = NULL;
	}
	return exe;
}

/* The cgroup v2 path ("0::/system.slice/x.service"), which names containers. */
static char *read_cgroup(uint32_t tgid)
{
	char path[64], *line = NULL, *res = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", tgid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	while (!res && getline(&line, &cap, f) > 0) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		res = strdup(line + 3);
	}
	free(line);
	fclose(f);
	return res;
}

static struct reg_proc *entry_find(struct registry *r, uint32_t tgid)
{
	struct reg_proc key = { .tgid = tgid }, **p = tfind(&key, &r->root, tgid_cmp);

	return p ? *p : NULL;
}

static void entry_del(struct registry *r, struct reg_proc *p)
{
	tdelete(p, &r->root, tgid_cmp);
	entry_free(p);
}

static void read_maps(struct reg_proc *p)
{
	proc_maps__free(p->maps);
	p->maps = NULL;
	p->maps_err = proc_maps__read(p->tgid, &p->maps);
}

/*
 * @tgid's cgroup path: the one known for @id, else read (and remembered
 * for @id), else, for a process already gone, found by a walk of cgroup2.
 */
static char *cgroup_of(struct registry *r, uint32_t tgid, uint64_t id)
{
	const char *known = id ? cgroup_names__get(r->cgroups, id) : NULL;
	char *path;

	if (known)
		return strdup(known);
	path = read_cgroup(tgid);
	if (path || !id) {
		cgroup_names__put(r->cgroups, id, path);
		return path;
	}
	known = cgroup_names__find(r->cgroups, id);
	return known ? strdup(known) : NULL;
}

/* Labels @p with @path, the path of its exec, when /proc gave no executable. */
static void exe_from_hint(struct reg_proc *p, const char *path)
{
	if (!p->exe && path && path[0] == '/')
		p->exe = strdup(path);
}

const struct reg_proc *registry__add(struct registry *r, uint32_t tgid,
				     const struct reg_ident *id, bool maps)
{
	struct reg_proc *old = entry_find(r, tgid), *p = calloc(1, sizeof(*p));

	if (!p)
		goto nomem;
	p->tgid = tgid;
	if (id && id->start)
		p->start = id->start;
	else
		proc__start_time(tgid, &p->start);	/* 0 when gone: only matches another 0 */
	if (old && old->start != p->start)
		r->st.reused++;
	if (old)
		entry_del(r, old);
	p->exe = exe_of(r, tgid, id, &p->gone);
	exe_from_hint(p, id ? id->exe_hint : NULL);
	p->cgroup = cgroup_of(r, tgid, id ? id->cgroup_id : 0);
	if (maps)
		read_maps(p);
	else
		p->maps_err = -EAGAIN;
	if (p->maps_err == -ENOMEM || !tsearch(p, &r->root, tgid_cmp)) {
		entry_free(p);
		goto nomem;
	}
	return p;
nomem:
	errno = ENOMEM;
	return NULL;
}

const struct reg_proc *registry__rescan(struct registry *r, uint32_t tgid)
{
	struct reg_proc *p = entry_find(r, tgid);

	if (!p)
		return registry__add(r, tgid, NULL, true);
	read_maps(p);
	if (p->maps_err == -ENOMEM) {
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

void registry__exec_hint(struct registry *r, uint32_t tgid, const char *path)
{
	struct reg_proc *p = entry_find(r, tgid);

	if (p)
		exe_from_hint(p, path);
}

const struct reg_proc *registry__find(struct registry *r, uint32_t tgid)
{
	return entry_find(r, tgid);
}

uint64_t registry__start_of(struct registry *r, uint32_t tgid)
{
	const struct reg_proc *p = entry_find(r, tgid);

	return p ? p->start : 0;
}

bool registry__remove(struct registry *r, uint32_t tgid, uint64_t start)
{
	struct reg_proc *p = entry_find(r, tgid);

	if (p && p->start != start) {
		r->st.stale_exits++;
		return false;
	}
	if (p)
		entry_del(r, p);
	return true;
}

struct walk_ctx {
	void (*fn)(const struct reg_proc *p, void *ctx);
	void *ctx;
};

static void walk_one(const void *node, VISIT which, void *ctx)
{
	struct walk_ctx *w = ctx;

	if (which == postorder || which == leaf)
		w->fn(*(const struct reg_proc *const *)node, w->ctx);
}

void registry__walk(struct registry *r, void (*fn)(const struct reg_proc *p, void *ctx),
		    void *ctx)
{
	struct walk_ctx w = { fn, ctx };

	twalk_r(r->root, walk_one, &w);
}

struct proc_open_stats *registry__open_stats(struct registry *r)
{
	return &r->open;
}

static void count_entry(const struct reg_proc *p, void *ctx)
{
	(void)p;
	(*(uint64_t *)ctx)++;
}

void registry__stats(struct registry *r, struct registry_stats *st)
{
	*st = r->st;
	st->tracked = 0;
	registry__walk(r, count_entry, &st->tracked);
}
