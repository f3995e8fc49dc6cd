// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * unwinder.c - the user-space side of .eh_frame unwinding.  Tables are built
 * once per ELF file (keyed by device and inode, shared across processes),
 * copied into a BPF array (through short-lived mmaps), and addressed by a
 * slot in the files map.
 * A file no process maps any more stays loaded for a grace period, so
 * short-lived processes re-running the same binaries cost nothing; it is
 * unloaded after that, or earlier (oldest first) when its rows are needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "log.h"
#include "file.h"
#include "procmaps.h"
#include "unwind.h"
#include "unwinder.h"

#define MAX_PHDRS 8
#define VDSO_DEV UINT64_MAX	/* the vDSO is not a file: a key of its own */

struct uw_file {
	uint64_t dev, ino;
	uint32_t slot;
	uint32_t first, n;	/* extent in the row pool; n == 0: no table */
	uint64_t base;
	bool failed;		/* no usable CFI: do not rebuild */
	int refs;
	uint64_t last_used;
	int nphdr;
	struct { uint64_t off, vaddr, filesz; } ph[MAX_PHDRS];
};

struct uw_proc {
	int pid;
	int nfiles;
	struct uw_file **files;
};

struct extent {
	uint32_t first, n;
};

struct unwinder {
	struct sampler_unwind_maps m;
	long page;
	struct uw_file *slots[MAX_UNWIND_FILES];
	void *by_id;			/* tree of struct uw_file by (dev, ino) */
	void *procs;			/* tree of struct uw_proc by pid */
	struct extent *free;		/* free row extents, sorted by first */
	int nfree, free_cap;
	struct unwinder_stats st;
	struct unwind_proc *scratch;	/* one process entry being built */
};

static int file_cmp(const void *a, const void *b)
{
	const struct uw_file *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

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
	u->free = malloc(sizeof(*u->free));
	if (!u->scratch || !u->free) {
		unwinder__free(u);
		errno = ENOMEM;
		return NULL;
	}
	u->free[0] = (struct extent){ 0, maps->rows_max };
	u->nfree = u->free_cap = 1;
	u->st.rows_max = maps->rows_max;
	return u;
}

/*
 * Copies @n rows to pool index @first through a mapping of just the pages
 * they cover: a mapping of the whole pool would count every page of it in
 * the agent's RSS for as long as it lives.
 */
static int rows_write(struct unwinder *u, uint32_t first, const struct unwind_row *rows,
		      size_t n)
{
	size_t start = (size_t)first * sizeof(*rows), end = start + n * sizeof(*rows);
	size_t off = start & ~(size_t)(u->page - 1);
	size_t len = ((end + u->page - 1) & ~(size_t)(u->page - 1)) - off;
	char *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, u->m.rows_fd, off);
	if (p == MAP_FAILED)
		return -errno;
	memcpy(p + (start - off), rows, n * sizeof(*rows));
	munmap(p, len);
	return 0;
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
	tdestroy(u->by_id, noop_free);
	for (i = 0; i < MAX_UNWIND_FILES; i++)
		free(u->slots[i]);
	free(u->free);
	free(u->scratch);
	free(u);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Returns rows to the free list, merging with neighbours. */
static int extent_put(struct unwinder *u, uint32_t first, uint32_t n)
{
	struct extent *e;
	int i;

	for (i = 0; i < u->nfree && u->free[i].first < first; i++)
		;
	if (i > 0 && u->free[i - 1].first + u->free[i - 1].n == first) {
		u->free[i - 1].n += n;
		if (i < u->nfree && first + n == u->free[i].first) {
			u->free[i - 1].n += u->free[i].n;
			memmove(&u->free[i], &u->free[i + 1], (--u->nfree - i) * sizeof(*e));
		}
		return 0;
	}
	if (i < u->nfree && first + n == u->free[i].first) {
		u->free[i].first = first;
		u->free[i].n += n;
		return 0;
	}
	if (u->nfree == u->free_cap) {
		e = realloc(u->free, 2 * u->free_cap * sizeof(*e));
		if (!e)
			return -ENOMEM;	/* the rows leak from the pool, nothing worse */
		u->free = e;
		u->free_cap *= 2;
	}
	memmove(&u->free[i + 1], &u->free[i], (u->nfree++ - i) * sizeof(*e));
	u->free[i] = (struct extent){ first, n };
	return 0;
}

/* First fit.  Returns 0 with *first set, or -ENOSPC. */
static int extent_get(struct unwinder *u, uint32_t n, uint32_t *first)
{
	int i;

	for (i = 0; i < u->nfree; i++) {
		if (u->free[i].n < n)
			continue;
		*first = u->free[i].first;
		u->free[i].first += n;
		u->free[i].n -= n;
		if (!u->free[i].n)
			memmove(&u->free[i], &u->free[i + 1], (--u->nfree - i) * sizeof(u->free[0]));
		return 0;
	}
	return -ENOSPC;
}

/* Unpublishes a file's rows (BPF sees n == 0 first), then frees them. */
static void file_unload(struct unwinder *u, struct uw_file *f)
{
	struct unwind_file none = {};

	if (!f->n)
		return;
	bpf_map_update_elem(u->m.files_fd, &f->slot, &none, BPF_ANY);
	extent_put(u, f->first, f->n);
	u->st.rows_used -= f->n;
	u->st.files_loaded--;
	f->n = 0;
}

/* Evicts the least recently used idle file.  Returns 0 or -ENOSPC. */
static int evict_one(struct unwinder *u)
{
	struct uw_file *victim = NULL, *f;
	int i;

	for (i = 0; i < MAX_UNWIND_FILES; i++) {
		f = u->slots[i];
		if (f && f->n && !f->refs && (!victim || f->last_used < victim->last_used))
			victim = f;
	}
	if (!victim)
		return -ENOSPC;
	file_unload(u, victim);
	u->st.tables_evicted++;
	return 0;
}

/* Copies @t's rows into the pool and publishes them under f->slot. */
static int file_publish(struct unwinder *u, struct uw_file *f, const struct unwind_table *t)
{
	const struct unwind_row *rows;
	struct unwind_file uf;
	size_t n;
	int err;

	rows = unwind_table__rows(t, &n);
	if (!n || n > u->m.rows_max)
		return -ENOSPC;
	while ((err = extent_get(u, n, &f->first)) == -ENOSPC)
		if (evict_one(u))
			return -ENOSPC;
	err = rows_write(u, f->first, rows, n);
	uf = (struct unwind_file){ .first = f->first, .n = n };
	if (!err && bpf_map_update_elem(u->m.files_fd, &f->slot, &uf, BPF_ANY))
		err = -errno;
	if (err) {
		extent_put(u, f->first, n);
		return err;
	}
	f->n = n;
	f->base = unwind_table__base(t);
	u->st.rows_used += n;
	u->st.files_loaded++;
	return 0;
}

static void read_phdrs(struct uw_file *f, Elf *elf)
{
	size_t i, nph = 0;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &nph))
		return;
	for (i = 0; i < nph && f->nphdr < MAX_PHDRS; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		f->ph[f->nphdr].off = ph.p_offset;
		f->ph[f->nphdr].vaddr = ph.p_vaddr;
		f->ph[f->nphdr++].filesz = ph.p_filesz;
	}
}

/* Builds and publishes the table of an ELF image (@fd, or @img for the vDSO). */
static void file_load(struct unwinder *u, struct uw_file *f, int fd, const void *img, size_t len)
{
	struct unwind_table *t = NULL;
	uint64_t t0 = now_ns();
	Elf *elf;
	int err;

	elf = img ? elf_memory((char *)img, len) : elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf)
		read_phdrs(f, elf);
	elf_end(elf);
	err = img ? unwind_table__from_memory(img, len, &t) : unwind_table__from_fd(fd, &t);
	if (!err)
		err = file_publish(u, f, t);
	u->st.tables_built++;
	u->st.build_ns += now_ns() - t0;
	f->failed = err && err != -ENOSPC;
	if (err) {
		u->st.tables_failed++;
		log_debug("no unwind table for %llx:%llu: %s", (unsigned long long)f->dev,
			  (unsigned long long)f->ino, strerror(-err));
	}
	unwind_table__free(t);
}

static struct uw_file *file_new(struct unwinder *u, uint64_t dev, uint64_t ino)
{
	struct uw_file *f;
	uint32_t slot;

	for (slot = 0; slot < MAX_UNWIND_FILES && u->slots[slot]; slot++)
		;
	if (slot == MAX_UNWIND_FILES)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dev = dev;
	f->ino = ino;
	f->slot = slot;
	if (!tsearch(f, &u->by_id, file_cmp)) {
		free(f);
		return NULL;
	}
	u->slots[slot] = f;
	return f;
}

/* Reads the vDSO image out of the process's memory and builds its table. */
static void load_vdso(struct unwinder *u, struct uw_file *f, int pid, uint64_t start,
		      uint64_t end)
{
	size_t len = end - start;
	char path[64];
	void *img;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	img = len <= (1 << 20) ? malloc(len) : NULL;
	if (fd >= 0 && img && pread(fd, img, len, start) == (ssize_t)len)
		file_load(u, f, -1, img, len);
	free(img);
	if (fd >= 0)
		close(fd);
}

/* Opens the mapped file the one way (util/procmaps.c): even deleted, or in a container. */
static void load_file(struct unwinder *u, struct uw_file *f, int pid, const struct proc_map *m,
		      struct proc_open_stats *open)
{
	int fd = proc_map__open(pid, m, open, NULL);

	if (fd < 0) {
		u->st.tables_failed++;
		f->failed = true;
		return;
	}
	file_load(u, f, fd, NULL, 0);
	close(fd);
}

/* The file behind one executable mapping, its table loaded if it has one. */
static struct uw_file *get_file(struct unwinder *u, int pid, const struct proc_map *m,
				uint64_t dev, struct proc_open_stats *open)
{
	struct uw_file key = { .dev = dev, .ino = m->ino }, **found, *f;

	found = tfind(&key, &u->by_id, file_cmp);
	f = found ? *found : file_new(u, dev, key.ino);
	if (!f)
		return NULL;
	f->last_used = now_ns();
	if (f->n || f->failed)
		return f;
	if (dev == VDSO_DEV)
		load_vdso(u, f, pid, m->start, m->end);
	else
		load_file(u, f, pid, m, open);
	return f;
}

/* pc - bias is the table offset: load bias from the PT_LOAD holding @pgoff. */
static bool map_bias(const struct uw_file *f, uint64_t start, uint64_t pgoff, uint64_t *bias)
{
	int i;

	for (i = 0; i < f->nphdr; i++) {
		if ((f->ph[i].off & ~0xfffULL) > pgoff || pgoff >= f->ph[i].off + f->ph[i].filesz)
			continue;
		*bias = start - pgoff + f->ph[i].off - f->ph[i].vaddr + f->base;
		return true;
	}
	return false;
}

static void proc_release(struct uw_proc *p)
{
	int i;

	for (i = 0; i < p->nfiles; i++) {
		p->files[i]->refs--;
		p->files[i]->last_used = now_ns();
	}
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
					       .file = f->slot };
}

static void add_maps(struct unwinder *u, struct uw_proc *p, const struct proc_maps *pm,
		     struct proc_open_stats *open)
{
	const struct proc_map *m;
	size_t i;

	for (i = 0; i < pm->n; i++) {
		m = &pm->maps[i];
		if (!strcmp(m->path, "[vdso]"))
			add_mapping(u, p, m->start, m->end, 0,
				    get_file(u, p->pid, m, VDSO_DEV, open));
		else if (proc_map__is_file(m))
			add_mapping(u, p, m->start, m->end, m->pgoff,
				    get_file(u, p->pid, m, m->dev, open));
	}
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
	int pid = pm->pid, err = 0;
	struct uw_proc *p;

	p = proc_get(u, pid);
	if (!p)
		return -ENOMEM;
	proc_release(p);
	u->scratch->n = 0;
	add_maps(u, p, pm, open);
	if (u->scratch->n && bpf_map_update_elem(u->m.procs_fd, &pid, u->scratch, BPF_ANY))
		err = -errno;
	else if (!u->scratch->n)
		bpf_map_delete_elem(u->m.procs_fd, &pid);
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
	proc_release(p);
	tdelete(&key, &u->procs, proc_cmp);
	proc_free(p);
}

static void count_proc(const void *node, VISIT which, void *ctx)
{
	(void)node;
	if (which == postorder || which == leaf)
		(*(uint64_t *)ctx)++;
}

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st)
{
	*st = u->st;
	st->procs = 0;
	twalk_r(u->procs, count_proc, &st->procs);
}

void unwinder__expire(struct unwinder *u, uint64_t idle_ms)
{
	uint64_t cutoff = now_ns() - idle_ms * 1000000ULL;
	struct uw_file *f;
	int i;

	for (i = 0; i < MAX_UNWIND_FILES; i++) {
		f = u->slots[i];
		if (f && f->n && !f->refs && f->last_used < cutoff) {
			file_unload(u, f);
			u->st.tables_expired++;
		}
	}
}
