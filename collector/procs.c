// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * procs.c - the events BPF sends about processes: a new process read into
 * the registry (registry.c) and its one read of mappings handed to the
 * symbolizer, the unwinder and the CPython finder (with an exit hook, once
 * it has lived MAPS_SETTLED_MS); mappings sent for processes gone too soon,
 * exec reports, rescans and exits, and the exits BPF missed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/sysmacros.h>
#include "internal.h"
#include "log.h"
#include "registry.h"

/* How often tracked processes are checked for exits BPF did not report. */
#define REAP_INTERVAL_MS 30000

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

/* Queues @tgid, the process with @start, to be forgotten after the next drain. */
static void note_exit(struct collector *c, uint32_t tgid, uint64_t start)
{
	struct proc_id *v;

	if (c->nexited == c->exited_cap) {
		v = realloc(c->exited, (c->exited_cap * 2 + 64) * sizeof(*v));
		if (!v)
			return;	/* kept until its pid is reused: bounded, not lost */
		c->exited = v;
		c->exited_cap = c->exited_cap * 2 + 64;
	}
	c->exited[c->nexited++] = (struct proc_id){ tgid, start };
}

static void find_dead(const struct reg_proc *p, void *ctx)
{
	struct collector *c = ctx;

	if (kill(p->tgid, 0) && errno == ESRCH)
		note_exit(c, p->tgid, p->start);
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
	registry__walk(c->reg, find_dead, c);
}

/* Milliseconds since a process started at @start (clock ticks after boot), or -1. */
static int64_t age_ms(struct collector *c, uint64_t start)
{
	struct timespec ts;

	if (c->clk_tck <= 0 || !start || clock_gettime(CLOCK_BOOTTIME, &ts))
		return -1;
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 - (int64_t)(start * 1000 / c->clk_tck);
}

/* Milliseconds since @tgid started, or -1 when unknown (gone). */
static int64_t proc_age_ms(struct collector *c, uint32_t tgid)
{
	uint64_t start;

	return proc__start_time(tgid, &start) ? -1 : age_ms(c, start);
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
static void note_read(struct collector *c, uint32_t tgid, uint64_t start)
{
	if (age_ms(c, start) >= MAPS_SETTLED_MS)
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
	h->start_ns = e->start_boottime_ns;
	h->dev = makedev(e->dev >> 20, e->dev & 0xfffff);
	h->ino = e->ino;
	memcpy(h->path, e->path, sizeof(h->path));
	h->path[sizeof(h->path) - 1] = '\0';
	if (h->path[0] != '/') {
		snprintf(link, sizeof(link), "/proc/%u/exe", e->tgid);
		len = readlink(link, h->path, sizeof(h->path) - 1);
		h->path[len > 0 ? len : 0] = '\0';
	}
	/* a sample inside execve() may have announced it before this came */
	registry__exec_hint(c->reg, e->tgid, h->path);
}

/* Looks for CPython in @p: after exec the old image's interpreter is gone. */
static void read_python(struct collector *c, uint32_t tgid, const struct reg_proc *p)
{
	int err;

	python__remove_process(c->python, tgid);
	err = p && p->maps ? python__add_process(c->python, p->maps, registry__open_stats(c->reg))
			   : 0;
	if (err < 0)
		log_debug("cannot read CPython of pid %u: %s", tgid, strerror(-err));
}

/*
 * Reads @p (its mappings, then every consumer): a new process, or one that
 * exec'd.  @python: CPython too, unless read_python() did at its announcement.
 */
static void read_process(struct collector *c, uint32_t tgid, const struct reg_proc *p,
			 bool python)
{
	const struct proc_maps *pm = p ? p->maps : NULL;
	int err = p ? p->maps_err : -ENOMEM;

	/*
	 * Mappings first: reading them takes about a millisecond, while
	 * building the tables of a new binary can take hundreds, and a
	 * short-lived process may be gone by then (before 6.7 nothing
	 * sends its mappings at exit).
	 */
	err = symbolizer__add_process_maps(c->sym, tgid, pm, err);
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
		note_read(c, tgid, p->start);
	}
	/* until the tables are in, BPF falls back to frame pointers */
	err = c->unwinder && pm ? unwinder__add_process(c->unwinder, pm, registry__open_stats(c->reg)) : 0;
	if (err)
		log_debug("cannot load unwind tables of pid %u: %s", tgid, strerror(-err));
	if (python)
		read_python(c, tgid, p);
}

/* Index of @tgid among the processes waiting to be read, or -1. */
static int deferred_find(const struct collector *c, uint32_t tgid)
{
	int i;

	for (i = 0; i < c->ndeferred; i++)
		if (c->deferred[i].tgid == tgid)
			return i;
	return -1;
}

/* Takes @tgid off the queue; true when it was on it. */
static bool deferred_drop(struct collector *c, uint32_t tgid)
{
	int i = deferred_find(c, tgid);

	if (i < 0)
		return false;
	c->deferred[i] = c->deferred[--c->ndeferred];
	return true;
}

/*
 * Whether @p, just announced, can wait to be read until it is
 * MAPS_SETTLED_MS old; then it is queued.  Most new processes live a few
 * milliseconds: BPF unwinds them from a seeded entry and sends their
 * mappings at exit, so reading /proc for them is work thrown away.  A
 * pc in a file without a table has the unwinder read it at once
 * (EVENT_RESCAN).  Called only where the exit hook is.  A process whose
 * executable BPF has no table for (@flags PROC_NO_TABLE) waits for no one,
 * and a process already gone is never read.  CPython is looked for at once
 * (its frames need the interpreter read while it runs); the rest waits.
 */
static bool defer_read(struct collector *c, const struct reg_proc *p, uint32_t flags)
{
	int64_t age = age_ms(c, p->start);
	struct deferred *v;
	int i;

	if (p->gone) {
		/* dead before its announcement came: its mappings come from BPF */
		c->deferred_total++;
		c->deferred_unread++;
		return true;
	}
	if (age < 0 || age >= MAPS_SETTLED_MS || (flags & PROC_NO_TABLE))
		return false;
	i = deferred_find(c, p->tgid);
	if (i < 0) {
		if (c->ndeferred == c->deferred_cap) {
			v = realloc(c->deferred, (c->deferred_cap * 2 + 64) * sizeof(*v));
			if (!v)
				return false;	/* read now instead */
			c->deferred = v;
			c->deferred_cap = c->deferred_cap * 2 + 64;
		}
		i = c->ndeferred++;
	}
	c->deferred[i] = (struct deferred){ p->tgid, p->start, mono_ms() + MAPS_SETTLED_MS - age,
					    p->exe && python__candidate(p->exe) };
	c->deferred_total++;
	/* announced again after exec: the old image's interpreter goes either way */
	if (c->deferred[i].python_read)
		read_python(c, p->tgid, registry__rescan(c->reg, p->tgid));
	else
		python__remove_process(c->python, p->tgid);
	return true;
}

/* A new process, or one that exec'd: one read of it for every consumer, now or soon. */
static void add_process(struct collector *c, const struct ember_proc_event *e)
{
	const struct exec_hint *hint = &c->execs[e->tgid % EXEC_SLOTS];
	struct reg_ident id = { .cgroup_id = e->cgroup_id };
	uint32_t tgid = e->tgid;
	const struct reg_proc *p;

	/* /proc/PID/stat's unit: the kernel divides by NSEC_PER_SEC / USER_HZ */
	if (c->clk_tck > 0 && 1000000000 % c->clk_tck == 0)
		id.start = e->start_boottime_ns / (1000000000 / c->clk_tck);
	if (hint->tgid == tgid && hint->start_ns == e->start_boottime_ns && hint->path[0]) {
		id.exe_hint = hint->path;
		id.exe_dev = hint->dev;
		id.exe_ino = hint->ino;
	} else {	/* forked without exec (or its exec not seen): the file alone */
		id.exe_dev = e->exe_dev;
		id.exe_ino = e->exe_ino;
	}
	if (e->flags & PROC_EXITING) {
		/* its labels, forgotten after the next drain: no exit event may follow */
		c->deferred_unread += deferred_drop(c, tgid);
		p = registry__add(c->reg, tgid, &id, false);
		if (p)
			note_exit(c, tgid, p->start);
		return;
	}
	c->seen++;
	if (!sampler__exit_maps(c->sampler)) {
		read_process(c, tgid, registry__add(c->reg, tgid, &id, true), true);
		return;
	}
	p = registry__add(c->reg, tgid, &id, false);
	if (p && defer_read(c, p, e->flags))
		return;
	deferred_drop(c, tgid);
	read_process(c, tgid, p ? registry__rescan(c->reg, tgid) : NULL, true);
}

void collector_read_deferred(struct collector *c, bool all)
{
	uint64_t now = mono_ms();
	const struct reg_proc *p;
	struct deferred d;
	int i = 0;

	while (i < c->ndeferred) {
		d = c->deferred[i];
		if (!all && d.due_ms > now) {
			i++;
			continue;
		}
		c->deferred[i] = c->deferred[--c->ndeferred];
		p = registry__find(c->reg, d.tgid);
		if (p && p->start == d.start)
			read_process(c, d.tgid, registry__rescan(c->reg, d.tgid), !d.python_read);
	}
}

void collector_on_process(void *ctx, uint32_t type, uint32_t tgid, const void *data)
{
	struct collector *c = ctx;
	const struct reg_proc *p;

	if (type == EVENT_PY_STACK) {
		c->last_py_ms = mono_ms();
		py_prefetch__stack(c, c->pyfetch, data);
		return;
	}
	c->last_events_ms = mono_ms();
	switch (type) {
	case EVENT_MAPS:
		add_exit_maps(c, data);
		break;
	case EVENT_EXEC:
		add_exec(c, data);
		break;
	case EVENT_RESCAN:
		/*
		 * A file mapped since it was read (dlopen), or one BPF has no
		 * table for: the unwinder reads it now.  One still waiting to
		 * be read waits on for the rest (most are gone by then).
		 */
		p = registry__rescan(c->reg, tgid);
		if (!p || !p->maps)
			break;
		if (c->unwinder &&
		    unwinder__add_process(c->unwinder, p->maps, registry__open_stats(c->reg)) == 0)
			c->rescans++;
		/* libpython dlopen()ed */
		python__add_process(c->python, p->maps, registry__open_stats(c->reg));
		break;
	case EVENT_NEW_PROCESS:
		add_process(c, data);
		break;
	default:
		/* never read: named from the mappings BPF sent at its exit */
		c->deferred_unread += deferred_drop(c, tgid);
		/*
		 * BPF unwinds no more of it (events come in order: a new
		 * process of this pid is announced after this): its tables'
		 * slots are free for others now, not after the drain.
		 */
		if (c->unwinder) {
			unwinder__remove_process(c->unwinder, tgid);
			collector_feed_starved(c);
		}
		/* the process it was: a pid reused before the drain names another */
		note_exit(c, tgid, registry__start_of(c->reg, tgid));
	}
}

/* Starved processes read again per call: the rest wait for the next. */
#define REFEED_BATCH 16

void collector_feed_starved(struct collector *c)
{
	const struct reg_proc *p;
	int pids[REFEED_BATCH], n, i;

	n = unwinder__take_starved(c->unwinder, pids, REFEED_BATCH);
	for (i = 0; i < n; i++) {
		p = registry__find(c->reg, pids[i]);
		if (!p || !p->maps)
			continue;
		log_debug("pid %d: room freed, reading its unwind tables again", pids[i]);
		unwinder__add_process(c->unwinder, p->maps, registry__open_stats(c->reg));
	}
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

