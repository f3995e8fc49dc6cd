// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * procs.c - the collector's processes: the labels of each (executable,
 * cgroup), and the events BPF sends about them: a new process's mappings
 * read (then its unwind tables built), mappings sent for processes gone too
 * soon, exec reports, rescans and exits, and the exits BPF missed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <search.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/sysmacros.h>
#include "internal.h"
#include "log.h"

/* How often tracked processes are checked for exits BPF did not report. */
#define REAP_INTERVAL_MS 30000

static int proc_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct proc_info *)a)->tgid, y = ((const struct proc_info *)b)->tgid;

	return x < y ? -1 : x > y;
}

static void proc_free(void *node)
{
	struct proc_info *p = node;

	if (!p)
		return;
	free(p->exe);
	free(p->cgroup);
	free(p);
}

static char *read_exe(uint32_t tgid)
{
	char path[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/exe", tgid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

/* The cgroup v2 path ("0::/system.slice/x.service"), which names containers. */
static char *read_cgroup(uint32_t tgid)
{
	char path[64], *line = NULL, *res = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", tgid);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	while (!res && (n = getline(&line, &cap, f)) > 0) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		res = strdup(line + 3);
	}
	free(line);
	fclose(f);
	return res;
}

void collector_forget_proc(struct collector *c, uint32_t tgid)
{
	struct proc_info key = { .tgid = tgid }, **found, *p;

	found = tfind(&key, &c->procs, proc_cmp);
	if (!found)
		return;
	p = *found;
	tdelete(&key, &c->procs, proc_cmp);
	proc_free(p);
}

static void remember_proc(struct collector *c, uint32_t tgid)
{
	struct proc_info *p = calloc(1, sizeof(*p));

	collector_forget_proc(c, tgid);
	if (!p)
		return;
	p->tgid = tgid;
	p->exe = read_exe(tgid);
	p->cgroup = read_cgroup(tgid);
	if (!tsearch(p, &c->procs, proc_cmp))
		proc_free(p);
}

void collector_procs_free(struct collector *c)
{
	tdestroy(c->procs, proc_free);
	c->procs = NULL;
}

const struct proc_info *collector_proc_find(struct collector *c, uint32_t tgid)
{
	struct proc_info key = { .tgid = tgid }, **p = tfind(&key, &c->procs, proc_cmp);

	return p ? *p : NULL;
}

static int tgids_push(uint32_t **v, int *n, int *cap, uint32_t tgid)
{
	uint32_t *p;

	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 256;

		p = realloc(*v, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = ncap;
	}
	(*v)[(*n)++] = tgid;
	return 0;
}

/* Queues @tgid to be forgotten after the next drain. */
static void note_exit(struct collector *c, uint32_t tgid)
{
	/* on failure it is kept until its pid is reused: bounded, not lost */
	tgids_push(&c->exited, &c->nexited, &c->exited_cap, tgid);
}

static void find_dead(const void *node, VISIT which, void *ctx)
{
	const struct proc_info *p = *(const struct proc_info *const *)node;
	struct collector *c = ctx;

	if ((which == postorder || which == leaf) && kill(p->tgid, 0) && errno == ESRCH)
		note_exit(c, p->tgid);
}

/*
 * A safety net for exits the BPF side could not report (e.g. a group
 * leader that left before its threads): processes found gone are dropped
 * after the next drain, which holds all their samples.
 */
void collector_reap_dead(struct collector *c)
{
	uint64_t now = mono_ms();

	if (now - c->last_reap_ms < REAP_INTERVAL_MS)
		return;
	c->last_reap_ms = now;
	twalk_r(c->procs, find_dead, c);
}

/* Milliseconds since @tgid started, or -1 when unknown (gone). */
static int64_t proc_age_ms(struct collector *c, uint32_t tgid)
{
	char path[64], buf[1024], *p;
	unsigned long long start;
	struct timespec ts;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%u/stat", tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || c->clk_tck <= 0)
		return -1;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the last ')' */
	p = strrchr(buf, ')');
	/* starttime is field 22; ')' ends field 2, each space starts the next */
	for (i = 2; p && i < 22; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1 || clock_gettime(CLOCK_BOOTTIME, &ts))
		return -1;
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 - (int64_t)(start * 1000 / c->clk_tck);
}

/*
 * Mappings sent by the BPF side at exit (or with the first sample, where
 * no exit hook sees them), for a process whose maps may not be read in
 * time.  First-sample lookups can repeat a mapping: keep one of each.
 */
static void add_exit_maps(struct collector *c, const struct ember_maps_event *e)
{
	char names[MAX_EXIT_VMAS][EXIT_VMA_NAME_LEN + 1];
	const struct exec_hint *hint = &c->execs[e->tgid % EXEC_SLOTS];
	struct sym_vma v[MAX_EXIT_VMAS];
	uint32_t i, j, n = 0;
	int err;

	c->exit_maps++;
	for (i = 0; i < e->n && i < MAX_EXIT_VMAS; i++) {
		const struct ember_vma *k = &e->vmas[i];

		for (j = 0; j < n && v[j].start != k->start; j++)
			;
		if (j < n)
			continue;
		/* untrusted: whatever the dentry held, cut to size */
		memcpy(names[n], k->name, EXIT_VMA_NAME_LEN);
		names[n][EXIT_VMA_NAME_LEN] = '\0';
		v[n] = (struct sym_vma){
			.start = k->start,
			.end = k->end,
			.pgoff = k->pgoff,
			/* the kernel's s_dev packs major:minor as 12:20 bits */
			.dev = makedev(k->dev >> 20, k->dev & 0xfffff),
			.ino = k->ino,
			.name = names[n],
		};
		if (hint->tgid == e->tgid && hint->dev == v[n].dev && hint->ino == v[n].ino)
			v[n].path = hint->path;
		n++;
	}
	err = symbolizer__add_process_vmas(c->sym, e->tgid, v, n);
	if (err < 0)
		log_debug("cannot use the mappings sent for pid %u: %s", e->tgid, strerror(-err));
	else
		log_debug("pid %u: %u mappings sent %s%s%s", e->tgid, n,
			  e->flags & MAPS_AT_START ? "with its first sample" : "at exit",
			  e->flags & MAPS_TRUNCATED ? " (more not sent)" : "",
			  err ? "" : ", not needed");
}

/*
 * Tells the BPF side @tgid's maps were read, so nothing is sent at its
 * exit; a process read while young is told at a later drain (settle_young).
 */
static void note_read(struct collector *c, uint32_t tgid)
{
	if (proc_age_ms(c, tgid) >= MAPS_SETTLED_MS)
		sampler__mark_read(c->sampler, tgid);
	else if (tgids_push(&c->young, &c->nyoung, &c->young_cap, tgid))
		log_debug("pid %u: its mappings will be sent at exit", tgid);
}

/*
 * Remembers where @e's executable can be opened.  A relative path is
 * resolved through /proc/PID/exe while the process lives.
 */
static void add_exec(struct collector *c, const struct ember_exec_event *e)
{
	struct exec_hint *h = &c->execs[e->tgid % EXEC_SLOTS];
	char link[32];
	ssize_t len;

	h->tgid = e->tgid;
	h->dev = makedev(e->dev >> 20, e->dev & 0xfffff);
	h->ino = e->ino;
	memcpy(h->path, e->path, sizeof(h->path));
	h->path[sizeof(h->path) - 1] = '\0';
	if (h->path[0] == '/')
		return;
	snprintf(link, sizeof(link), "/proc/%u/exe", e->tgid);
	len = readlink(link, h->path, sizeof(h->path) - 1);
	h->path[len > 0 ? len : 0] = '\0';
}

void collector_on_process(void *ctx, uint32_t type, uint32_t tgid, const void *data)
{
	struct collector *c = ctx;
	int err;

	if (type == EVENT_MAPS) {
		add_exit_maps(c, data);
		return;
	}
	if (type == EVENT_EXEC) {
		add_exec(c, data);
		return;
	}

	if (type == EVENT_RESCAN) {
		if (c->unwinder && unwinder__add_process(c->unwinder, tgid) == 0)
			c->rescans++;
		python__add_process(c->python, tgid);	/* libpython dlopen()ed */
		return;
	}
	if (type == EVENT_NEW_PROCESS) {
		c->seen++;
		remember_proc(c, tgid);
		/*
		 * Mappings first: reading them takes about a millisecond, while
		 * building the tables of a new binary can take hundreds, and a
		 * short-lived process may be gone by then (before 6.7 nothing
		 * sends its mappings at exit).
		 */
		err = symbolizer__add_process(c->sym, tgid);
		if (err) {
			c->maps_unreadable++;
			log_debug("cannot read mappings of pid %u: %s", tgid, strerror(-err));
			/*
			 * A process is announced again after exec: what was read
			 * before is the old image.  Drop it, so the mappings BPF
			 * sends (with this sample, or at exit) take its place.
			 */
			symbolizer__remove_process(c->sym, tgid);
		} else if (sampler__exit_maps(c->sampler)) {
			note_read(c, tgid);
		}
		/* until the tables are in, BPF falls back to frame pointers */
		err = c->unwinder ? unwinder__add_process(c->unwinder, tgid) : 0;
		if (err)
			log_debug("cannot load unwind tables of pid %u: %s", tgid, strerror(-err));
		/* after exec the old image's interpreter is gone */
		python__remove_process(c->python, tgid);
		err = python__add_process(c->python, tgid);
		if (err < 0)
			log_debug("cannot read CPython of pid %u: %s", tgid, strerror(-err));
		return;
	}
	note_exit(c, tgid);
}


/*
 * Marks read the processes read while young that have lived long enough
 * since; the dead ones sent (or will send) their mappings at exit.  A
 * library mapped after the read is still found by a re-read on a miss.
 */
void collector_settle_young(struct collector *c)
{
	int i, n = 0;
	int64_t age;

	for (i = 0; i < c->nyoung; i++) {
		age = proc_age_ms(c, c->young[i]);
		if (age >= MAPS_SETTLED_MS)
			sampler__mark_read(c->sampler, c->young[i]);
		else if (age >= 0)
			c->young[n++] = c->young[i];
	}
	c->nyoung = n;
}

