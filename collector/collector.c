// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * collector.c - ties the sampler to the symbolizer.  Mappings are read when a
 * process is first sampled (it may exit before the drain), and dropped only
 * after the drain that follows its exit, so memory stays bounded under
 * process churn without losing the last samples of a process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/sysmacros.h>
#include "collector.h"
#include "log.h"

/* Labels of a process, read when it is first sampled. */
struct proc_info {
	uint32_t tgid;
	char *exe;
	char *cgroup;
};

struct collector {
	struct sampler *sampler;
	struct unwinder *unwinder;	/* NULL with --unwind fp */
	void *procs;			/* tree of struct proc_info */
	struct symbolizer *sym;
	struct sym_frame *frames;	/* one sample's frames, root first */
	int nframes, cap;
	uint32_t *exited;		/* tgids to forget after the next drain */
	int nexited, exited_cap;
	uint32_t *young;		/* read too young to be marked read (see settle_young) */
	int nyoung, young_cap;
	uint64_t unknown_frames, maps_unreadable, seen, gone, rescans, exit_maps;
	struct exec_hint *execs;	/* the last exec of each tgid, by tgid % EXEC_SLOTS */
	long clk_tck;
	collector_sample_fn fn;
	void *ctx;
	uint64_t last_poll_ms;
	uint64_t last_reap_ms;
	uint64_t memory_limit;		/* bytes of RSS; 0: none */
	uint64_t shrinks;
	bool limit_warned;
	bool shrunk_in_drain;		/* check_memory() already acted in this drain */
};

/*
 * Where the executable of a recent exec can be opened: the path it was run
 * by, checked against dev/ino when used.  A hint only, so a slot is simply
 * overwritten by the next tgid that hashes to it.
 */
#define EXEC_SLOTS 256
struct exec_hint {
	uint32_t tgid;
	dev_t dev;
	ino_t ino;
	char path[EXEC_PATH_LEN];
};

/* How often tracked processes are checked for exits BPF did not report. */
#define REAP_INTERVAL_MS 30000

/* ELF files kept open (with their caches) after their last process exits. */
#define IDLE_ELF_FILES 32

/* How long a table outlives the last process that mapped it. */
#define UNWIND_IDLE_MS 30000

/* How often process events are handled while a drain is symbolizing. */
#define EVENT_POLL_MS 20

/*
 * A process read younger than this may still be in its dynamic loader,
 * with its libraries not mapped yet: it is marked read only at a later
 * drain, so if it exits first the BPF side sends its mappings too and the
 * fuller of the two snapshots is kept.
 */
#define MAPS_SETTLED_MS 200

struct collector *collector__new(const struct sampler_opts *opts,
				 const struct symbolizer_opts *sym_opts)
{
	struct collector *c = calloc(1, sizeof(*c));
	int err = -ENOMEM;

	if (!c)
		return NULL;
	c->clk_tck = sysconf(_SC_CLK_TCK);
	c->execs = calloc(EXEC_SLOTS, sizeof(*c->execs));
	if (!c->execs)
		goto fail;
	c->sym = symbolizer__new_opts(sym_opts);
	if (!c->sym)
		goto fail;
	c->sampler = sampler__new(opts);
	if (!c->sampler) {
		err = -errno;
		goto fail;
	}
	if (sampler__unwinds(c->sampler)) {
		struct sampler_unwind_maps m;

		sampler__unwind_maps(c->sampler, &m);
		c->unwinder = unwinder__new(&m);
		if (!c->unwinder) {
			err = -errno;
			log_error("cannot map the unwind table pool: %s", strerror(errno));
			goto fail;
		}
	}
	return c;
fail:
	collector__free(c);
	errno = -err;
	return NULL;
}

const struct kfeat *collector__kfeat(struct collector *c)
{
	return sampler__kfeat(c->sampler);
}

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

static void forget_proc(struct collector *c, uint32_t tgid)
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

	forget_proc(c, tgid);
	if (!p)
		return;
	p->tgid = tgid;
	p->exe = read_exe(tgid);
	p->cgroup = read_cgroup(tgid);
	if (!tsearch(p, &c->procs, proc_cmp))
		proc_free(p);
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	tdestroy(c->procs, proc_free);
	unwinder__free(c->unwinder);
	sampler__free(c->sampler);
	symbolizer__free(c->sym);
	free(c->frames);
	free(c->exited);
	free(c->young);
	free(c->execs);
	free(c);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Appends @tgid to a growing array; 0 or -ENOMEM. */
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
static void reap_dead(struct collector *c)
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

static void on_process(void *ctx, uint32_t type, uint32_t tgid, const void *data)
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
		return;
	}
	note_exit(c, tgid);
}

int collector__stop(struct collector *c)
{
	return sampler__stop(c->sampler);
}

int collector__poll(struct collector *c, int timeout_ms)
{
	int n = sampler__poll(c->sampler, timeout_ms, on_process, c);

	return n < 0 ? n : 0;
}

/* Resident set size in bytes, 0 when unknown. */
static uint64_t rss_bytes(void)
{
	unsigned long long size, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * Past the memory limit, drops symbol data that can be rebuilt: DWARF
 * first (only addresses not cached yet pay for it), the cached names only
 * when that was not enough (every address pays).  They are what grows
 * with the variety of programs sampled.  Called between samples, when no
 * frame handed out is held any more.
 *
 * Inside a drain (@in_drain) only a quarter above the limit counts, and
 * only DWARF goes, once per drain: a window of many new programs must
 * not run away, but closing what the next rows need again is slow.
 */
static void check_memory(struct collector *c, bool in_drain)
{
	uint64_t limit = c->memory_limit, before, after;
	bool names = false;

	if (in_drain) {
		if (c->shrunk_in_drain)
			return;
		limit += limit / 4;
	}
	if (!limit || (before = rss_bytes()) <= limit)
		return;
	symbolizer__shrink(c->sym, false);
	after = rss_bytes();
	c->shrunk_in_drain = in_drain;
	if (!in_drain && after > limit) {
		symbolizer__shrink(c->sym, true);
		after = rss_bytes();
		names = true;
	}
	c->shrinks++;
	log_msg(in_drain ? LOG_DEBUG : LOG_INFO, "memory: resident %.1f MB is over the %llu MB limit:"
		" closed DWARF%s (now %.1f MB)", before / 1048576.0,
		(unsigned long long)(limit >> 20), names ? " and dropped cached names" : "",
		after / 1048576.0);
	if (!in_drain && after > limit && !c->limit_warned) {
		c->limit_warned = true;
		log_warn("memory: still over the limit after dropping what can be rebuilt;"
			 " symbolization redoes its work every window: raise the limit");
	}
}

static int push_frames(struct collector *c, const struct sym_frame *fr, int n)
{
	struct sym_frame *p;
	int i;

	if (c->nframes + n > c->cap) {
		int cap = c->cap ? c->cap : 256;

		while (cap < c->nframes + n)
			cap *= 2;
		p = realloc(c->frames, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->frames = p;
		c->cap = cap;
	}
	/* the symbolizer gives innermost first; we build root first */
	for (i = n - 1; i >= 0; i--) {
		if (fr[i].flags & SYM_F_UNKNOWN)
			c->unknown_frames++;
		c->frames[c->nframes++] = fr[i];
	}
	return 0;
}

/* Appends one stack (ips leaf first, 0-terminated) root first. */
static int push_stack(struct collector *c, const struct sampler_row *row, bool kernel)
{
	const uint64_t *ips = kernel ? row->kips : row->uips;
	const struct sym_frame *fr;
	int depth, i, n;

	if (!ips)
		return 0;
	for (depth = 0; depth < MAX_STACK_DEPTH && ips[depth]; depth++)
		;
	for (i = depth - 1; i >= 0; i--) {
		/* a user pc sampled inside a syscall is a return address too */
		bool ret = i > 0 || (!kernel && row->kips);

		n = kernel ? symbolizer__kernel(c->sym, ips[i], ret, &fr)
			   : symbolizer__user(c->sym, row->key->tgid, ips[i], ret, &fr);
		if (n < 0)
			return n;
		n = push_frames(c, fr, n);
		if (n < 0)
			return n;
	}
	return 0;
}


static int on_row(void *ctx, const struct sampler_row *row)
{
	struct collector *c = ctx;
	struct collector_sample s = { .key = row->key, .count = row->count };
	struct proc_info key = { .tgid = row->key->tgid }, **p;
	uint64_t unknown = c->unknown_frames;
	int err;

	/*
	 * Symbolizing a window can take a while (first use of big DWARF files);
	 * keep reading new processes' mappings meanwhile, or one that lives
	 * less than that would be gone before we look.
	 */
	if (mono_ms() - c->last_poll_ms >= EVENT_POLL_MS) {
		sampler__poll(c->sampler, 0, on_process, c);
		check_memory(c, true);
		c->last_poll_ms = mono_ms();
	}
	c->nframes = 0;
	err = push_stack(c, row, false);
	if (!err)
		err = push_stack(c, row, true);
	if (err)
		return err;
	/* weight unknown frames by how often they were sampled */
	c->unknown_frames = unknown + (c->unknown_frames - unknown) * row->count;
	s.frames = c->frames;
	s.nframes = c->nframes;
	p = tfind(&key, &c->procs, proc_cmp);
	if (p) {
		s.exe = (*p)->exe;
		s.cgroup = (*p)->cgroup;
	}
	return c->fn(c->ctx, &s);
}

/*
 * Marks read the processes read while young that have lived long enough
 * since; the dead ones sent (or will send) their mappings at exit.  A
 * library mapped after the read is still found by a re-read on a miss.
 */
static void settle_young(struct collector *c)
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

int collector__drain(struct collector *c, collector_sample_fn fn, void *ctx)
{
	int n = c->nexited, i, err;

	c->fn = fn;
	c->ctx = ctx;
	/* mappings sent at exit must be in before the samples they name */
	sampler__poll(c->sampler, 0, on_process, c);
	c->last_poll_ms = mono_ms();
	err = sampler__drain(c->sampler, on_row, c);
	/* only exits seen before this drain: their samples are all in it */
	for (i = 0; i < n; i++) {
		symbolizer__remove_process(c->sym, c->exited[i]);
		if (c->unwinder)
			unwinder__remove_process(c->unwinder, c->exited[i]);
		forget_proc(c, c->exited[i]);
	}
	c->gone += n;
	if (c->unwinder)
		unwinder__expire(c->unwinder, UNWIND_IDLE_MS);
	symbolizer__trim(c->sym, IDLE_ELF_FILES);
	check_memory(c, false);
	c->shrunk_in_drain = false;
	memmove(c->exited, c->exited + n, (c->nexited - n) * sizeof(*c->exited));
	c->nexited -= n;
	settle_young(c);
	reap_dead(c);
	return err;
}

void collector__set_memory_limit(struct collector *c, uint64_t bytes)
{
	c->memory_limit = bytes;
}

int collector__stats(struct collector *c, struct collector_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->unknown_frames = c->unknown_frames;
	st->maps_unreadable = c->maps_unreadable;
	st->processes_seen = c->seen;
	st->processes_exited = c->gone;
	st->rss_bytes = rss_bytes();
	st->memory_shrinks = c->shrinks;
	st->unwind_rescans = c->rescans;
	st->exit_maps = c->exit_maps;
	sampler__prog_stats(c->sampler, &st->bpf_run_ns, &st->bpf_run_cnt);
	symbolizer__stats(c->sym, &st->sym);
	if (c->unwinder)
		unwinder__stats(c->unwinder, &st->unwind);
	return sampler__counters(c->sampler, st->bpf);
}
