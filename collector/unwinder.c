// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * unwinder.c - the user-space side of .eh_frame unwinding: one entry per
 * process in the BPF procs map, each mapping pointing at its file's table
 * (uwfile.c).  A process's files stay taken while its entry lives; the
 * entry goes as soon as the process exits, so they are free for others at
 * once.  A process that went without a table for lack of room is handed
 * back to be read again once a file has fallen idle.
 */
#include <errno.h>
#include <search.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "log.h"
#include "mono.h"
#include "uwfile.h"

struct uw_proc {
	int pid;
	int nfiles;
	struct uw_file **files;
	bool starved;		/* a mapping went without its table for room */
};

static int proc_cmp(const void *a, const void *b)
{
	return ((const struct uw_proc *)a)->pid - ((const struct uw_proc *)b)->pid;
}

struct unwinder *unwinder__new(const struct sampler_unwind_maps *maps)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->m = *maps;
	u->page = sysconf(_SC_PAGESIZE);
	u->scratch = malloc(sizeof(*u->scratch));
	u->slots = calloc(maps->files_max, sizeof(*u->slots));
	if (!u->scratch || !u->slots || extents__init(&u->free, maps->rows_max)) {
		unwinder__free(u);
		errno = ENOMEM;
		return NULL;
	}
	u->st.rows_max = maps->rows_max;
	u->st.slots_max = maps->files_max;
	return u;
}

static void proc_free(void *node)
{
	struct uw_proc *p = node;

	free(p->files);
	free(p);
}

static void noop_free(void *node)
{
	(void)node;
}

void unwinder__free(struct unwinder *u)
{
	int i;

	if (!u)
		return;
	tdestroy(u->procs, proc_free);
	free(u->starved);
	tdestroy(u->by_id, noop_free);
	for (i = 0; u->slots && i < (int)u->m.files_max; i++)
		free(u->slots[i]);
	free(u->slots);
	extents__free(&u->free);
	free(u->scratch);
	free(u);
}

/* pc - bias is the table offset: load bias from the PT_LOAD holding @pgoff. */
static bool map_bias(const struct uw_file *f, uint64_t start, uint64_t pgoff, uint64_t *bias)
{
	int i;

	for (i = 0; i < f->nphdr; i++) {
		if (pgoff < f->ph[i].lo || pgoff >= f->ph[i].hi)
			continue;
		*bias = start - pgoff + f->ph[i].delta + f->base;
		return true;
	}
	return false;
}

/* Drops one reference to each of @files: one falling idle makes room for others. */
static void files_release(struct unwinder *u, struct uw_file **files, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		files[i]->last_used = mono_ns();
		if (!--files[i]->refs) {
			u->room_gen++;
			u->fell_idle++;
		}
	}
}

static void proc_release(struct unwinder *u, struct uw_proc *p)
{
	files_release(u, p->files, p->nfiles);
	p->nfiles = 0;
}

/* Adds one mapping to the entry being built, remembering the file it uses. */
static void add_mapping(struct unwinder *u, struct uw_proc *p, uint64_t start, uint64_t end,
			uint64_t pgoff, struct uw_file *f)
{
	struct unwind_proc *e = u->scratch;
	struct uw_file **files;
	uint64_t bias;

	if (!f || !f->n || e->n >= MAX_PROC_MAPS || !map_bias(f, start, pgoff, &bias))
		return;
	files = realloc(p->files, (p->nfiles + 1) * sizeof(*files));
	if (!files)
		return;
	p->files = files;
	p->files[p->nfiles++] = f;
	f->refs++;
	e->maps[e->n++] = (struct unwind_map){ .start = start, .end = end, .bias = bias,
					       .file = f->slot, .gen = f->gen };
}

/* Returns true when some mapping went without its table for lack of room. */
static bool add_maps(struct unwinder *u, struct uw_proc *p, const struct proc_maps *pm,
		     struct proc_open_stats *open)
{
	const struct proc_map *m;
	bool starved = false, vdso;
	struct uw_file *f;
	size_t i;

	for (i = 0; i < pm->n; i++) {
		m = &pm->maps[i];
		vdso = !strcmp(m->path, "[vdso]");
		if (!vdso && !proc_map__is_file(m))
			continue;
		f = unwinder_get_file(u, p->pid, m, vdso ? VDSO_DEV : m->dev, open);
		if (!f || (!f->n && f->no_room))
			starved = true;
		add_mapping(u, p, m->start, m->end, vdso ? 0 : m->pgoff, f);
	}
	return starved;
}

/* Notes that @p went without a table for room, to be read again when there is some. */
static void proc_starve(struct unwinder *u, struct uw_proc *p)
{
	int *v;

	if (p->starved)
		return;
	if (u->nstarved == u->starved_cap) {
		v = realloc(u->starved, (u->starved_cap * 2 + 16) * sizeof(*v));
		if (!v)
			return;	/* it waits for BPF to ask for a re-read instead */
		u->starved = v;
		u->starved_cap = u->starved_cap * 2 + 16;
	}
	u->starved[u->nstarved++] = p->pid;
	p->starved = true;
	log_debug("pid %d: no room for an unwind table (%u slots, %u in use): read again "
		  "once a file falls idle", p->pid, u->m.files_max, u->nslots);
}

static struct uw_proc *proc_get(struct unwinder *u, int pid)
{
	struct uw_proc key = { .pid = pid }, **found, *p;

	found = tfind(&key, &u->procs, proc_cmp);
	if (found)
		return *found;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	if (!tsearch(p, &u->procs, proc_cmp)) {
		free(p);
		return NULL;
	}
	return p;
}

int unwinder__add_process(struct unwinder *u, const struct proc_maps *pm,
			  struct proc_open_stats *open)
{
	int pid = pm->pid, err = 0, nold;
	struct uw_file **old;
	struct uw_proc *p;

	p = proc_get(u, pid);
	if (!p)
		return -ENOMEM;
	/* the old entry's files stay taken until the new entry replaces it */
	old = p->files;
	nold = p->nfiles;
	p->files = NULL;
	p->nfiles = 0;
	u->scratch->n = 0;
	u->scratch->flags = 0;
	if (add_maps(u, p, pm, open))
		proc_starve(u, p);
	else
		p->starved = false;
	if (u->scratch->n && bpf_map_update_elem(u->m.procs_fd, &pid, u->scratch, BPF_ANY))
		err = -errno;
	else if (!u->scratch->n)
		bpf_map_delete_elem(u->m.procs_fd, &pid);
	unwinder_changed(u);
	files_release(u, old, nold);
	free(old);
	return err;
}

void unwinder__remove_process(struct unwinder *u, int pid)
{
	struct uw_proc key = { .pid = pid }, **found, *p;

	found = tfind(&key, &u->procs, proc_cmp);
	if (!found)
		return;
	p = *found;
	bpf_map_delete_elem(u->m.procs_fd, &pid);
	unwinder_changed(u);
	proc_release(u, p);
	tdelete(&key, &u->procs, proc_cmp);
	proc_free(p);
}

int unwinder__take_starved(struct unwinder *u, int *pids, int max)
{
	/* about one file each: no more reads than files fell idle (a read costs) */
	int budget = (int)u->fell_idle < max ? (int)u->fell_idle : max;
	struct uw_proc key, **found;
	int i, n = 0, kept = 0;

	u->fell_idle = 0;
	for (i = 0; i < u->nstarved; i++) {
		key.pid = u->starved[i];
		found = tfind(&key, &u->procs, proc_cmp);
		if (!found || !(*found)->starved)
			continue;	/* gone, or fed since */
		if (n == budget) {
			u->starved[kept++] = key.pid;	/* oldest first, at the next file */
			continue;
		}
		(*found)->starved = false;	/* starved again if its read finds no room */
		pids[n++] = key.pid;
	}
	u->nstarved = kept;
	u->st.starved_rereads += n;
	return n;
}

static void count_proc(const void *node, VISIT which, void *ctx)
{
	const struct uw_proc *p = *(const struct uw_proc *const *)node;
	struct unwinder_stats *st = ctx;

	if (which != postorder && which != leaf)
		return;
	st->procs++;
	st->procs_starved += p->starved;
}

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st)
{
	uint32_t i;

	*st = u->st;
	st->slots_used = u->nslots;
	st->slots_mapped = 0;
	for (i = 0; i < u->m.files_max; i++)
		st->slots_mapped += u->slots[i] && u->slots[i]->refs;
	st->procs = st->procs_starved = 0;
	twalk_r(u->procs, count_proc, st);
}
