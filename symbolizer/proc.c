// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * proc.c - a snapshot of one process's executable mappings, each tied to
 * its (shared, already open) ELF file, so samples can be named after the
 * process has exited or its files have been deleted or replaced.
 */
#include <errno.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "file.h"
#include "log.h"
#include "procmaps.h"
#include "mono.h"

enum map_kind { MAP_FILE, MAP_ANON, MAP_SPECIAL };

struct mapping {
	uint64_t start, end, pgoff;
	struct elf_file *ef;	/* NULL for non-files and unreadable files */
	const char *name;	/* interned: basename, "[anon]" or e.g. "[vdso]" */
	enum map_kind kind;
};

struct proc {
	int pid;
	struct mapping *maps;	/* sorted by start, not overlapping */
	size_t n, cap;
	time_t scanned_at;	/* CLOCK_MONOTONIC seconds of the last read */
	bool rescanned;		/* read because an address missed every mapping */
	bool exited;		/* taken at exit: the pid may be reused, never re-read */
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/*
 * Whose refusal: another user's process root needs CAP_SYS_PTRACE, a file
 * in it that ember's user cannot read CAP_DAC_READ_SEARCH.
 */
static void denied_root(struct symbolizer *sym, int pid, const char *path)
{
	char root[64];
	struct stat st;

	snprintf(root, sizeof(root), "/proc/%d/root/", pid);
	if (stat(root, &st) && errno == EACCES)
		sym_denied(sym, SYM_DENIED_MAPS, root);
	else
		sym_denied(sym, SYM_DENIED_FILES, path);
}

static bool is_elf(int fd)
{
	char magic[SELFMAG];

	return pread(fd, magic, SELFMAG, 0) == SELFMAG && !memcmp(magic, ELFMAG, SELFMAG);
}

/* False once @pid has exited (even as a zombie: its exe link is gone). */
static bool proc_has_mm(int pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	return !access(path, F_OK);
}

/* Ties @m to the file @pm maps there (opened the one way, util/procmaps.c). */
static int mapping_set_file(struct symbolizer *sym, int pid, struct mapping *m,
			    const struct proc_map *pmap)
{
	struct proc_open_err why;
	char mf[PROC_MAP_FILES_LEN];
	int fd;

	m->name = strpool__intern(&sym->strings, base_name(pmap->path));
	if (!m->name)
		return -ENOMEM;
	fd = proc_map__open(pid, pmap, &sym->open_stats, &why);
	if (why.map_files == -EPERM) {
		proc_map__files_path(pid, pmap, mf, sizeof(mf));
		sym_denied(sym, SYM_DENIED_MAP_FILES, mf);
	}
	if (why.root == -EACCES)
		denied_root(sym, pid, pmap->path);
	if (fd < 0) {
		log_debug("pid %d: cannot open %s: %s", pid, pmap->path, strerror(-fd));
		/* a process that exited while we read is not a broken file */
		if ((fd == -ENOENT || fd == -ESRCH) && !proc_has_mm(pid))
			sym->stats.maps_errors++;
		else
			sym->stats.elf_errors++;
		return 0;
	}
	if (!strncmp(pmap->path, "/memfd:", 7) && !is_elf(fd)) {
		/* code written to a memfd, as JITs do: anonymous memory by another name */
		close(fd);
		m->kind = MAP_ANON;
		m->name = strpool__intern(&sym->strings, "[anon]");
		return m->name ? 0 : -ENOMEM;
	}
	m->ef = elf_file__get(sym, fd, pmap->path);
	elf_file__hold(m->ef, 1);
	return m->ef || errno != ENOMEM ? 0 : -ENOMEM;
}

/*
 * @prev, the mapping before @pmap in the same read of maps, maps the same
 * file when device and inode agree: a file's segments come one after the
 * other, and one open serves them all.
 */
static bool same_file(const struct proc_map *prev, const struct proc_map *pmap)
{
	return prev && proc_map__is_file(prev) && prev->ino == pmap->ino && prev->dev == pmap->dev &&
	       prev->deleted == pmap->deleted && !strcmp(prev->path, pmap->path);
}

static int proc_add_map(struct symbolizer *sym, struct proc *p, const struct proc_map *pmap,
			const struct proc_map *prev)
{
	struct mapping m = { .start = pmap->start, .end = pmap->end, .pgoff = pmap->pgoff };

	if (same_file(prev, pmap) && p->maps[p->n - 1].ef) {
		m.kind = MAP_FILE;
		m.name = p->maps[p->n - 1].name;
		m.ef = p->maps[p->n - 1].ef;
		elf_file__hold(m.ef, 1);
	} else if (proc_map__is_file(pmap)) {
		m.kind = MAP_FILE;
		if (mapping_set_file(sym, p->pid, &m, pmap))
			return -ENOMEM;
	} else {
		m.kind = pmap->path[0] ? MAP_SPECIAL : MAP_ANON;
		m.name = strpool__intern(&sym->strings, m.kind == MAP_ANON ? "[anon]" : pmap->path);
		if (!m.name)
			return -ENOMEM;
	}
	p->maps[p->n++] = m;
	return 0;
}

/* A new snapshot of @pm's process, or NULL with errno ENOMEM. */
struct proc *proc__from_maps(struct symbolizer *sym, const struct proc_maps *pm, bool rescan)
{
	struct proc *p = calloc(1, sizeof(*p));
	size_t i;

	if (!p)
		goto fail;
	p->pid = pm->pid;
	p->rescanned = rescan;
	p->scanned_at = (time_t)mono_s();
	p->cap = pm->n;
	p->maps = calloc(pm->n ? pm->n : 1, sizeof(*p->maps));
	if (!p->maps)
		goto fail;
	for (i = 0; i < pm->n; i++)
		if (proc_add_map(sym, p, &pm->maps[i], i ? &pm->maps[i - 1] : NULL))
			goto fail;
	return p;
fail:
	proc__free(p, NULL);
	errno = ENOMEM;
	return NULL;
}

void proc__read_failed(struct symbolizer *sym, int pid, int err)
{
	char path[64];

	if (err != -EACCES)
		return;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	sym_denied(sym, SYM_DENIED_MAPS, path);
}

/*
 * Returns a new snapshot of @pid's maps, or NULL with errno set (ESRCH if
 * gone).  With @empty, returns a snapshot without mappings, which stands
 * for a process that could not be read.
 */
struct proc *proc__load(struct symbolizer *sym, int pid, bool rescan, bool empty)
{
	struct proc_maps none = { .pid = pid }, *pm = NULL;
	struct proc *p;
	int err = 0;

	if (!empty)
		err = proc_maps__read(pid, &pm);
	if (err) {
		proc__read_failed(sym, pid, err);
		errno = -err;
		return NULL;
	}
	p = proc__from_maps(sym, pm ? pm : &none, rescan);
	proc_maps__free(pm);
	return p;
}

static int by_start(const void *a, const void *b)
{
	uint64_t x = ((const struct mapping *)a)->start, y = ((const struct mapping *)b)->start;

	return x < y ? -1 : x > y;
}

/* A name from the kernel: bounded by the caller, but any byte may be in it. */
static const char *vma_name(struct symbolizer *sym, const char *name)
{
	return strpool__intern(&sym->strings, name && *name ? name : "[unknown-file]");
}

static const struct mapping *proc_find(const struct proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < p->maps[mid].start)
			hi = mid;
		else if (addr >= p->maps[mid].end)
			lo = mid + 1;
		else
			return &p->maps[mid];
	}
	return NULL;
}

/*
 * Opens @v's file by its path hint, only if it is still the same file
 * (a regular file with the mapping's device and inode); NULL otherwise.
 * The path is the user's: never block on it, never trust what it names.
 */
static struct elf_file *open_hint(struct symbolizer *sym, const struct sym_vma *v)
{
	struct stat st;
	int fd;

	if (!v->path || v->path[0] != '/')
		return NULL;
	fd = file__open_regular(v->path, 0, &st);
	if (fd < 0)
		return NULL;
	if (st.st_dev != v->dev || st.st_ino != v->ino) {
		close(fd);
		return NULL;
	}
	return elf_file__get(sym, fd, v->path);
}

struct proc *proc__from_vmas(struct symbolizer *sym, int pid, const struct sym_vma *v, size_t n,
			     const struct proc *base)
{
	struct proc *p = calloc(1, sizeof(*p));
	size_t nbase = base ? base->n : 0, i, j;
	struct mapping *m;

	if (!p)
		return NULL;
	p->pid = pid;
	p->exited = base ? base->exited : true;
	p->scanned_at = base ? base->scanned_at : (time_t)mono_s();
	p->rescanned = base && base->rescanned;
	p->maps = calloc(n + nbase ? n + nbase : 1, sizeof(*p->maps));
	if (!p->maps)
		goto fail;
	p->cap = n + nbase;
	for (i = 0; i < nbase; i++) {
		p->maps[p->n] = base->maps[i];
		elf_file__hold(p->maps[p->n++].ef, 1);
	}
	for (i = 0; i < n; i++) {
		/* what @base knows stays: only the mappings it lacks are added */
		if (v[i].start >= v[i].end ||
		    (base && (proc_find(base, v[i].start) || proc_find(base, v[i].end - 1))))
			continue;
		m = &p->maps[p->n];
		m->start = v[i].start;
		m->end = v[i].end;
		m->pgoff = v[i].pgoff;
		if (!v[i].dev && !v[i].ino && v[i].name && !strcmp(v[i].name, "[vdso]")) {
			/* named [vdso]+0xOFF, as for a process read from /proc */
			m->kind = MAP_SPECIAL;
			m->name = vma_name(sym, v[i].name);
			if (!m->name)
				goto fail;
			p->n++;
			continue;
		}
		m->kind = MAP_FILE;
		m->ef = elf_file__find_inode(sym, v[i].dev, v[i].ino);
		if (!m->ef)
			m->ef = open_hint(sym, &v[i]);
		m->name = m->ef ? elf_file__module(m->ef) : vma_name(sym, v[i].name);
		if (!m->name)
			goto fail;
		elf_file__hold(m->ef, 1);
		p->n++;
		if (m->ef)
			sym->stats.vma_matched++;
		else
			sym->stats.vma_unmatched++;
	}
	/* lookups bsearch: sorted, and an overlap (never sent by a sane kernel) dropped */
	qsort(p->maps, p->n, sizeof(*p->maps), by_start);
	for (i = j = 0; i < p->n; i++) {
		if (j && p->maps[i].start < p->maps[j - 1].end) {
			elf_file__hold(p->maps[i].ef, -1);
			continue;
		}
		p->maps[j++] = p->maps[i];
	}
	p->n = j;
	return p;
fail:
	proc__free(p, NULL);
	errno = ENOMEM;
	return NULL;
}

size_t proc__file_maps(const struct proc *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		n += p->maps[i].kind == MAP_FILE;
	return n;
}

void proc__free(void *p, void *ctx)
{
	struct proc *proc = p;

	size_t i;

	(void)ctx;
	if (!proc)
		return;
	for (i = 0; i < proc->n; i++)
		elf_file__hold(proc->maps[i].ef, -1);
	free(proc->maps);
	free(proc);
}

/*
 * Whether a missed address may re-read the maps: at once after an explicit
 * snapshot, then at most once a second, so a dead or JIT-heavy process does
 * not cost a maps read per sample.  Consumes the chance when it says yes.
 */
bool proc__may_rescan(struct proc *p)
{
	time_t now = (time_t)mono_s();

	if (p->exited || (p->rescanned && now == p->scanned_at))
		return false;
	p->rescanned = true;
	p->scanned_at = now;
	return true;
}


/* Anonymous code, or a named anonymous mapping; not the kernel's pages. */
static bool may_be_jit(const struct mapping *m)
{
	return m->kind == MAP_ANON || (strcmp(m->name, "[vdso]") && strcmp(m->name, "[vsyscall]") &&
				       strcmp(m->name, "[uprobes]"));
}

/*
 * Names @addr, already adjusted for return addresses.  Returns NULL with
 * errno ENOENT when no mapping holds it, or ENOMEM.
 */
struct frames *proc__lookup(struct symbolizer *sym, const struct proc *p, uint64_t addr)
{
	const struct mapping *m = proc_find(p, addr);
	struct frames *fr;
	uint64_t off;

	if (!m) {
		errno = ENOENT;
		return NULL;
	}
	off = addr - m->start + m->pgoff;
	if (m->kind != MAP_FILE && may_be_jit(m)) {
		fr = jit__lookup(sym, p->pid, addr);
		if (fr || errno == ENOMEM)
			return fr;
	}
	if (m->ef)
		return elf_file__lookup(sym, m->ef, elf_file__off_to_vaddr(m->ef, off));
	if (m->kind == MAP_FILE)
		return symbolizer__synth_off(sym, m->name, off, FRAME_F_UNKNOWN);
	return symbolizer__synth_off(sym, m->name, addr - m->start, FRAME_F_UNKNOWN);
}
