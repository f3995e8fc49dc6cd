// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * elf.c - one cached entry per ELF file, shared by every process mapping
 * it and keyed by build id (else device and inode).  It keeps the file
 * open, knows its PT_LOAD segments to turn file offsets into virtual
 * addresses, and caches the frames of every address it has named.  A
 * file without DWARF asks debuginfod (fetch.c) for its debug file, which
 * replaces the file's libdwfl side when it arrives.
 *
 * The libdwfl side (decompressed DWARF, line tables, the mapped file) is
 * by far the biggest part and is only needed to name addresses not cached
 * yet, which stops happening soon after a program starts: it is closed
 * after DWARF_IDLE_TRIMS drains without a miss and reopened from the kept
 * descriptor on the next one.  While open, the pages of the mapped file a
 * drain's lookups touched are unmapped after it when the caller is near
 * its memory limit (dwfl_file__pageout()).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <elfutils/libdwelf.h>
#include "internal.h"
#include "file.h"
#include "log.h"

struct elf_file {
	char *key;		/* "b:<build id hex>" or "i:<dev>:<ino>" */
	const char *module;	/* interned basename */
	char *path;		/* where debug files are searched (see dwfl_file__open) */
	dev_t dev;		/* of the file first opened for this entry */
	ino_t ino;
	int fd;			/* the file (or its debug file); -1 when unreadable */
	off_t size;		/* of fd when opened: a file cut or rewritten since */
	struct timespec mtime;	/* is not read again (elf_file_changed()) */
	uint64_t looked;	/* sym->trims + 1 at elf_file_changed()'s last look */
	struct elf_load *loads;
	size_t nloads;
	struct dwfl_file *dwfl;	/* NULL when unreadable or closed while idle */
	struct dwfl_inflate inf;	/* its separate debug file inflated, kept across reopens */
	uint64_t dwfl_used;	/* sym->trims at its last use */
	bool has_debug_info;
	bool dwarf_checked;
	bool has_dwarf;		/* its DWARF was found and loads (known once dwarf_checked) */
	bool fetch_asked;	/* debuginfod was asked for its debug file */
	struct hmap cache;	/* vaddr -> struct frames */
	int refs;		/* mappings of tracked processes that use it */
	uint64_t used;		/* sym->elf_tick when last handed out */
};

static int elf_key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct elf_file *)a)->key, ((const struct elf_file *)b)->key);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Opens the libdwfl side from a copy of the kept descriptor; 0 or -errno. */
static int elf_file_open_dwfl(struct symbolizer *sym, struct elf_file *ef)
{
	int fd = fcntl(ef->fd, F_DUPFD_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	err = dwfl_file__open(fd, ef->path, ef->module, &ef->inf, &ef->dwfl);
	if (ef->dwfl)
		sym->stats.dwarf_files++;
	return err;
}

/* Closes the libdwfl side; the next miss reopens it. */
static void elf_file_close_dwfl(struct symbolizer *sym, struct elf_file *ef)
{
	if (!ef->dwfl)
		return;
	dwfl_file__free(ef->dwfl);
	ef->dwfl = NULL;
	sym->stats.dwarf_files--;
}

/* Whether @ef has DWARF that reopens without inflating anything into memory. */
static bool elf_file_cheap_dwarf(const struct elf_file *ef)
{
	return ef->has_dwarf && !(ef->inf.tried && ef->inf.fd < 0 && ef->inf.err != -ENODATA);
}

/*
 * Builds a new entry and consumes @fd; a file that fails to parse still
 * gets an entry, marked broken, so it is counted and reported only once.
 */
static struct elf_file *elf_file_new(struct symbolizer *sym, int fd, Elf *e, const char *key,
				     const char *path, const struct stat *st)
{
	struct elf_file *ef = calloc(1, sizeof(*ef));
	int err = -ENOMEM;

	if (!ef)
		goto out;
	ef->fd = -1;
	ef->inf.fd = -1;
	ef->inf.dir = sym->inflate_dir;
	ef->key = strdup(key);
	ef->path = strdup(path);
	ef->module = strpool__intern(&sym->strings, base_name(path));
	if (!ef->key || !ef->path || !ef->module)
		goto out;
	err = elf_image__check(e, st->st_size, &ef->loads, &ef->nloads, &ef->has_debug_info);
	if (!err) {
		ef->size = st->st_size;
		ef->mtime = st->st_mtim;
		ef->fd = fd;
		fd = -1;
		err = elf_file_open_dwfl(sym, ef);
	}
	if (err == -ENOMEM)
		goto out;
	err = 0;
	if (!ef->dwfl) {
		log_debug("%s: not a readable ELF file", path);
		sym->stats.elf_errors++;
		if (ef->fd >= 0)
			close(ef->fd);
		ef->fd = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	if (err) {
		elf_file__free(ef);
		errno = -err;
		return NULL;
	}
	return ef;
}

static struct elf_file *elf_file_intern(struct symbolizer *sym, struct elf_file *ef)
{
	if (!tsearch(ef, &sym->elf_by_key, elf_key_cmp)) {
		elf_file__free(ef);
		errno = ENOMEM;
		return NULL;
	}
	if (ef->fd >= 0)
		sym->stats.elf_files++;
	return ef;
}

struct elf_file *elf_file__get(struct symbolizer *sym, int fd, const char *path)
{
	struct elf_file probe, *ef = NULL, **found;
	char key[192];
	struct stat st;
	Elf *e = NULL;

	if (fd < 0)
		fd = file__open_regular(path, 0, NULL);
	if (fd < 0 || fstat(fd, &st))
		goto out;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (elf_image__key(e, &st, key, sizeof(key)))
		goto out;
	probe.key = key;
	found = tfind(&probe, &sym->elf_by_key, elf_key_cmp);
	if (found) {
		ef = *found;
		goto out;
	}
	ef = elf_file_new(sym, fd, e, key, path, &st);
	fd = -1;
	if (ef) {
		ef->dev = st.st_dev;
		ef->ino = st.st_ino;
		ef = elf_file_intern(sym, ef);
	}
out:
	if (ef)
		ef->used = ++sym->elf_tick;
	if (!ef && fd >= 0)
		log_debug("%s: %s", path, strerror(errno));
	elf_end(e);
	if (fd >= 0)
		close(fd);
	return ef;
}

uint64_t elf_file__off_to_vaddr(const struct elf_file *ef, uint64_t off)
{
	const struct elf_load *best = NULL;
	size_t i;

	for (i = 0; i < ef->nloads; i++) {
		const struct elf_load *l = &ef->loads[i];

		if (off >= l->off && off - l->off < l->filesz)
			return off - l->off + l->vaddr;
		if (off >= l->off && (!best || l->off > best->off))
			best = l;
	}
	return best ? off - best->off + best->vaddr : off;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Queues a debuginfod request for @ef's build id (once per entry). */
static void elf_file_ask(struct symbolizer *sym, struct elf_file *ef)
{
	unsigned char id[64];
	const char *hex = ef->key + 2;
	size_t len = elf_key__hex_len(hex) / 2, i;
	int err;

	if (ef->fetch_asked || strncmp(ef->key, "b:", 2) || !len || len > sizeof(id))
		return;
	ef->fetch_asked = true;
	for (i = 0; i < len; i++)
		id[i] = hex_val(hex[2 * i]) << 4 | hex_val(hex[2 * i + 1]);
	err = fetcher__ask(sym->fetch, ef->key, id, len);
	if (err) {
		log_debug("%s: cannot ask debuginfod: %s", ef->module, strerror(-err));
		sym->stats.debuginfod_failed++;
		return;
	}
	sym->stats.debuginfod_asked++;
}

/* Sets *out to @ef's build id as interned hex, NULL when it has none. */
static int elf_file_build_id(struct symbolizer *sym, const struct elf_file *ef, const char **out)
{
	char hex[160];
	size_t n;

	*out = NULL;
	if (strncmp(ef->key, "b:", 2))
		return 0;
	n = elf_key__hex_len(ef->key + 2);
	if (n >= sizeof(hex))
		return 0;
	memcpy(hex, ef->key + 2, n);
	hex[n] = '\0';
	*out = strpool__intern(&sym->strings, hex);
	return *out ? 0 : -ENOMEM;
}

/*
 * The unknown frame of @vaddr.  Synthetic frames are shared by every file
 * of the same name, so a file with a build id gets its own copy saying
 * which file it is (owned by its cache).
 */
static struct frames *elf_file_unknown(struct symbolizer *sym, const struct elf_file *ef,
				       uint64_t vaddr, const char *build_id)
{
	struct frames *syn = symbolizer__synth_off(sym, ef->module, vaddr, FRAME_F_UNKNOWN), *fr;

	if (!syn || !build_id)
		return syn;
	fr = frames__new(1);
	if (!fr)
		return NULL;
	fr->f[0] = syn->f[0];
	fr->f[0].build_id = build_id;
	return fr;
}

/*
 * Whether @ef's file was cut short or rewritten since it was opened (its
 * owner may do either at any time).  Such a file is closed for good: the
 * names already cached stay, new addresses get module+offset.  Counted in
 * stats.elf_changed and logged, once per file.
 */
static bool elf_file_changed(struct symbolizer *sym, struct elf_file *ef)
{
	struct stat st;

	/* once a drain: a file is named from in bursts */
	if (ef->fd < 0 || ef->looked == sym->trims + 1)
		return false;
	ef->looked = sym->trims + 1;
	if (fstat(ef->fd, &st))
		return false;
	if (st.st_size == ef->size && st.st_mtim.tv_sec == ef->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == ef->mtime.tv_nsec)
		return false;
	log_warn("%s: changed while open (%lld -> %lld bytes): its new addresses stay unnamed",
		 ef->path, (long long)ef->size, (long long)st.st_size);
	sym->stats.elf_changed++;
	elf_file_close_dwfl(sym, ef);
	dwfl_inflate__drop(&ef->inf, &sym->stats);
	close(ef->fd);
	ef->fd = -1;
	return true;
}

static struct frames *elf_file_resolve(struct symbolizer *sym, struct elf_file *ef,
				       uint64_t vaddr)
{
	struct frame out[SYM_MAX_INLINE];
	const char *build_id;
	struct frames *fr;
	int i, n = 0;

	elf_file_changed(sym, ef);
	if (ef->dwfl && elf_file_cheap_dwarf(ef) &&
	    dwfl_file__units(ef->dwfl) >= sym->recycle_units) {
		elf_file_close_dwfl(sym, ef);
		sym->stats.dwarf_recycled++;
	}
	if (!ef->dwfl && ef->fd >= 0) {
		n = elf_file_open_dwfl(sym, ef);
		if (n == -ENOMEM)
			return NULL;
		n = 0;
		if (ef->dwfl)
			sym->stats.dwarf_reopened++;
	}
	ef->dwfl_used = sym->trims;
	if (ef->dwfl && !ef->dwarf_checked) {
		ef->dwarf_checked = true;
		if (dwfl_file__dwarf_skipped(ef->dwfl))
			log_info("%s: a user's file of %lld bytes: named from its symbol table, "
				 "its DWARF not read", ef->path, (long long)ef->size);
		if (dwfl_file__dwarf_broken(ef->dwfl, ef->has_debug_info))
			sym->stats.elf_errors++;
		else
			ef->has_dwarf = dwfl_file__has_dwarf(ef->dwfl);
		if (!ef->has_dwarf && sym->fetch)
			elf_file_ask(sym, ef);
	}
	if (elf_file_build_id(sym, ef, &build_id))
		return NULL;
	if (ef->dwfl)
		n = dwfl_file__resolve(ef->dwfl, vaddr, &sym->names, ef->module, out);
	dwfl_inflate__count(&ef->inf, &sym->stats);
	if (n < 0)
		return NULL;
	for (i = 0; i < n; i++) {
		out[i].name = symbolizer__demangle(sym, out[i].name);
		out[i].build_id = build_id;
		if (!out[i].name)
			return NULL;
	}
	if (!n)
		return elf_file_unknown(sym, ef, vaddr, build_id);
	fr = frames__new(n);
	if (fr)
		memcpy(fr->f, out, n * sizeof(out[0]));
	return fr;
}

/* Unknown frames without a build id are shared with (and freed by) the synthetic cache. */
static void frames_free(void *p, void *ctx)
{
	struct frames *fr = p;

	(void)ctx;
	if (!(fr->f[0].flags & FRAME_F_UNKNOWN) || fr->f[0].build_id)
		free(fr);
}

struct frames *elf_file__lookup(struct symbolizer *sym, struct elf_file *ef, uint64_t vaddr)
{
	struct frames *fr = hmap__get(&ef->cache, vaddr);

	if (fr) {
		sym->stats.cache_hits++;
		return fr;
	}
	sym->stats.cache_misses++;
	fr = elf_file_resolve(sym, ef, vaddr);
	if (!fr)
		return NULL;
	if (hmap__put(&ef->cache, vaddr, fr)) {
		frames_free(fr, NULL);
		errno = ENOMEM;
		return NULL;
	}
	return fr;
}

void elf_file__free(void *p)
{
	struct elf_file *ef = p;

	if (!ef)
		return;
	hmap__clear(&ef->cache, frames_free, NULL);
	dwfl_file__free(ef->dwfl);
	dwfl_inflate__drop(&ef->inf, NULL);
	if (ef->fd >= 0)
		close(ef->fd);
	free(ef->loads);
	free(ef->path);
	free(ef->key);
	free(ef);
}

void elf_file__hold(struct elf_file *ef, int delta)
{
	if (ef)
		ef->refs += delta;
}

struct idle_files {
	struct symbolizer *sym;
	struct elf_file **v;
	size_t n, cap;
	unsigned int flags;	/* ELF_TRIM_* */
	size_t released;	/* libdwfl sides closed */
};

/* Collects unheld files, closes idle DWARF and, when asked, empties caches. */
static void visit_file(const void *node, VISIT which, void *ctx)
{
	struct elf_file *ef = *(struct elf_file *const *)node;
	struct idle_files *idle = ctx;

	if (which != postorder && which != leaf)
		return;
	if (idle->flags & ELF_TRIM_PAGES) {	/* that alone, of the files used in this batch */
		if (ef->dwfl && ef->dwarf_checked && ef->dwfl_used == idle->sym->trims)
			dwfl_file__pageout(ef->dwfl);
		return;
	}
	if (idle->flags & ELF_TRIM_CACHES)
		hmap__clear(&ef->cache, frames_free, NULL);
	if (ef->dwfl && ef->fd >= 0 && ((idle->flags & ELF_TRIM_DWARF) ||
					idle->sym->trims - ef->dwfl_used >= DWARF_IDLE_TRIMS)) {
		elf_file_close_dwfl(idle->sym, ef);
		idle->released++;
	}
	if (ef->refs <= 0 && idle->n < idle->cap)
		idle->v[idle->n++] = ef;
}

static int by_use(const void *a, const void *b)
{
	uint64_t x = (*(struct elf_file *const *)a)->used, y = (*(struct elf_file *const *)b)->used;

	return x < y ? -1 : x > y;
}

size_t elf_file__trim(struct symbolizer *sym, size_t max_idle, unsigned int flags)
{
	struct idle_files idle = { .sym = sym, .cap = 4096, .flags = flags };
	size_t i;

	idle.v = malloc(idle.cap * sizeof(*idle.v));
	if (!idle.v)
		return 0;
	twalk_r(sym->elf_by_key, visit_file, &idle);
	qsort(idle.v, idle.n, sizeof(*idle.v), by_use);
	for (i = 0; i + max_idle < idle.n; i++) {
		tdelete(idle.v[i], &sym->elf_by_key, elf_key_cmp);
		if (idle.v[i]->fd >= 0)
			sym->stats.elf_files--;
		if (idle.v[i]->dwfl)
			sym->stats.dwarf_files--;
		dwfl_inflate__drop(&idle.v[i]->inf, &sym->stats);
		sym->stats.elf_evicted++;
		elf_file__free(idle.v[i]);
		idle.released++;
	}
	if (i)
		hmap__clear(&sym->elf_by_inode, NULL, NULL);
	free(idle.v);
	return idle.released;
}

const char *elf_file__module(const struct elf_file *ef)
{
	return ef->module;
}

struct inode_probe {
	dev_t dev;
	ino_t ino;
	struct elf_file *found;
};

static void visit_inode(const void *node, VISIT which, void *ctx)
{
	struct elf_file *ef = *(struct elf_file *const *)node;
	struct inode_probe *probe = ctx;

	if ((which == postorder || which == leaf) && !probe->found &&
	    ef->ino == probe->ino && ef->dev == probe->dev)
		probe->found = ef;
}

/*
 * Once per mapping of a process that exited before its maps were read
 * (every short process under churn): a linear walk over the few hundred
 * files open at most, remembered by inode until a file is freed.
 */
struct elf_file *elf_file__find_inode(struct symbolizer *sym, dev_t dev, ino_t ino)
{
	uint64_t key = (uint64_t)dev * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ino;
	struct inode_probe probe = { .dev = dev, .ino = ino };
	struct elf_file *ef = hmap__get(&sym->elf_by_inode, key);

	if (ef && ef->dev == dev && ef->ino == ino) {
		probe.found = ef;
	} else {
		twalk_r(sym->elf_by_key, visit_inode, &probe);
		/* a failed put only forgets the find */
		if (probe.found)
			hmap__put(&sym->elf_by_inode, key, probe.found);
	}
	if (probe.found)
		probe.found->used = ++sym->elf_tick;
	return probe.found;
}

struct elf_file *elf_file__find(struct symbolizer *sym, const char *key)
{
	struct elf_file probe = { .key = (char *)key }, **found;

	found = tfind(&probe, &sym->elf_by_key, elf_key_cmp);
	return found ? *found : NULL;
}

/*
 * The debug file stands in for the whole ELF file: it has the same program
 * headers, the full symbol table and the DWARF, so addresses keep their
 * meaning, and the original file's descriptor need not be kept around.
 */
int elf_file__use_debug(struct symbolizer *sym, struct elf_file *ef, const char *path)
{
	struct dwfl_file *df = NULL;
	char *copy = NULL;
	struct stat st;
	int fd, dfd, err;

	if (ef->fd < 0)
		return -EINVAL;
	fd = file__open_regular(path, 0, &st);
	if (fd < 0)
		return fd;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	err = dfd < 0 ? -errno : dwfl_file__open(dfd, path, ef->module, NULL, &df);
	if (!err && (!df || !dwfl_file__has_dwarf(df)))
		err = -ENOENT;
	if (!err && !(copy = strdup(path)))
		err = -ENOMEM;
	if (err) {
		dwfl_file__free(df);
		close(fd);
		return err;
	}
	elf_file_close_dwfl(sym, ef);
	dwfl_inflate__drop(&ef->inf, &sym->stats);
	close(ef->fd);
	free(ef->path);
	ef->fd = fd;
	ef->size = st.st_size;
	ef->mtime = st.st_mtim;
	ef->path = copy;
	ef->dwfl = df;
	ef->dwfl_used = sym->trims;
	sym->stats.dwarf_files++;
	ef->has_debug_info = true;
	ef->dwarf_checked = true;
	/* has_dwarf stays false: its DWARF may be compressed, kept open as long as before */
	hmap__clear(&ef->cache, frames_free, NULL);
	return 0;
}
