// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * symbolizer.c - the public face of the symbolizer: process snapshots by
 * pid, kernel and user lookups, and the "unknown" frames that stand in for
 * anything that cannot be named, so no sample is ever dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <malloc.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"
#include "log.h"
#include "mono.h"

#define KALLSYMS_PATH "/proc/kallsyms"

/*
 * Budget of the name caches: past either bound every cached name is
 * dropped and the ones still in use are looked up again.  A busy host
 * reaches a few thousand distinct addresses in steady state.
 */
#define NAMES_MAX_BYTES (4u << 20)
#define CACHE_MAX_MISSES 50000

/* symbolizer__elf()'s path -> ELF file memo, so a path is opened once. */
struct elf_path {
	char *path;
	struct elf_file *ef;
};

struct symbolizer *symbolizer__new(void)
{
	return symbolizer__new_opts(NULL);
}

struct symbolizer *symbolizer__new_opts(const struct symbolizer_opts *opts)
{
	static const struct symbolizer_opts defaults;
	struct symbolizer *sym;
	const char *urls;

	if (!opts)
		opts = &defaults;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = EINVAL;
		return NULL;
	}
	sym = calloc(1, sizeof(*sym));
	if (!sym)
		return NULL;
	sym->demangle = !opts->no_demangle;
	sym->recycle_units = DWARF_RECYCLE_UNITS;
	if (!opts->inflate_dir || *opts->inflate_dir) {
		sym->inflate_dir = strdup(opts->inflate_dir ? opts->inflate_dir : "/var/tmp");
		if (!sym->inflate_dir) {
			free(sym);
			return NULL;
		}
	}
	/* libdebuginfod takes its servers from the environment only */
	if (opts->debuginfod_urls && *opts->debuginfod_urls &&
	    setenv("DEBUGINFOD_URLS", opts->debuginfod_urls, 1)) {
		free(sym->inflate_dir);
		free(sym);
		return NULL;
	}
	urls = opts->debuginfod_urls ? opts->debuginfod_urls : getenv("DEBUGINFOD_URLS");
	if (urls && *urls) {
		sym->fetch = fetcher__new();
		if (!sym->fetch) {
			free(sym->inflate_dir);
			free(sym);
			return NULL;
		}
		log_debug("debug files missing locally are fetched from %s", urls);
	}
	return sym;
}

static void frames_free(void *fr, void *ctx)
{
	(void)ctx;
	free(fr);
}

static void elf_path_free(void *p)
{
	struct elf_path *ep = p;

	free(ep->path);
	free(ep);
}

void symbolizer__free(struct symbolizer *sym)
{
	if (!sym)
		return;
	fetcher__free(sym->fetch);
	hmap__clear(&sym->procs, proc__free, NULL);
	hmap__clear(&sym->jit_maps, jit_map__free, NULL);
	hmap__clear(&sym->jit_frames, frames_free, NULL);
	hmap__clear(&sym->py_procs, py_codes__free, NULL);
	hmap__clear(&sym->demangled, NULL, NULL);
	tdestroy(sym->elf_by_path, elf_path_free);
	tdestroy(sym->elf_by_key, elf_file__free);
	hmap__clear(&sym->elf_by_inode, NULL, NULL);
	hmap__clear(&sym->synth, frames_free, NULL);
	kallsyms__free(sym->ksyms);
	strpool__clear(&sym->names);
	strpool__clear(&sym->strings);
	free(sym->inflate_dir);
	free(sym);
}

/* Puts @p in the table in place of any earlier snapshot of its pid. */
static int symbolizer_set_proc(struct symbolizer *sym, int pid, struct proc *p)
{
	struct proc *old = hmap__get(&sym->procs, pid);

	if (hmap__put(&sym->procs, pid, p)) {
		proc__free(p, NULL);
		return -ENOMEM;
	}
	proc__free(old, NULL);
	sym->stats.processes = sym->procs.len;
	return 0;
}

int symbolizer__add_process(struct symbolizer *sym, int pid)
{
	struct proc *p = proc__load(sym, pid, false, false);

	if (!p) {
		if (errno != ENOMEM)
			sym->stats.maps_errors++;
		return -errno;
	}
	return symbolizer_set_proc(sym, pid, p);
}

int symbolizer__add_process_maps(struct symbolizer *sym, int pid, const struct proc_maps *pm,
				 int err)
{
	struct proc *p;

	if (!pm) {
		if (err != -ENOMEM)
			sym->stats.maps_errors++;
		proc__read_failed(sym, pid, err);
		return err ? err : -EINVAL;
	}
	p = proc__from_maps(sym, pm, false);
	if (!p)
		return -errno;
	return symbolizer_set_proc(sym, pid, p);
}

int symbolizer__add_process_vmas(struct symbolizer *sym, int pid, const struct sym_vma *v,
				 size_t n)
{
	struct proc *old = hmap__get(&sym->procs, pid), *p;
	int err;

	p = proc__from_vmas(sym, pid, v, n, old);
	if (!p)
		return -errno;
	if (old && proc__file_maps(p) <= proc__file_maps(old)) {
		proc__free(p, NULL);
		return 0;
	}
	err = symbolizer_set_proc(sym, pid, p);
	if (err)
		return err;
	sym->stats.vma_snapshots++;
	return 1;
}

void symbolizer__remove_process(struct symbolizer *sym, int pid)
{
	proc__free(hmap__del(&sym->procs, pid), NULL);
	jit_map__free(hmap__del(&sym->jit_maps, pid), NULL);
	py_codes__free(hmap__del(&sym->py_procs, pid), NULL);
	sym->stats.processes = sym->procs.len;
}

/*
 * (Re)reads @pid's maps into *p.  A failed read keeps the old snapshot,
 * or stands in an empty one, so the failure is not retried every sample.
 * Returns 0 or -ENOMEM.
 */
static int symbolizer_load_proc(struct symbolizer *sym, int pid, bool rescan, struct proc **p)
{
	struct proc *np = proc__load(sym, pid, rescan, false);

	if (!np && errno == ENOMEM)
		return -ENOMEM;
	if (!np) {
		sym->stats.maps_errors++;
		if (*p)
			return 0;
		np = proc__load(sym, pid, true, true);
		if (!np)
			return -ENOMEM;
	}
	*p = np;
	return symbolizer_set_proc(sym, pid, np);
}

/* Hands out @fr; NULL means allocation failure. */
static int symbolizer_done(struct symbolizer *sym, struct frames *fr,
			   const struct frame **frames)
{
	if (!fr)
		return -ENOMEM;
	if (fr->f[fr->n - 1].flags & FRAME_F_UNKNOWN)
		sym->stats.unknown_frames++;
	*frames = fr->f;
	return fr->n;
}

int symbolizer__user(struct symbolizer *sym, int pid, uint64_t addr, bool is_return,
		     const struct frame **frames)
{
	uint64_t a = is_return && addr ? addr - 1 : addr;
	struct proc *p = hmap__get(&sym->procs, pid);
	struct frames *fr;
	int err;

	if (!p) {
		err = symbolizer_load_proc(sym, pid, false, &p);
		if (err)
			return err;
	}
	fr = proc__lookup(sym, p, a);
	if (!fr && errno == ENOENT && proc__may_rescan(p)) {
		err = symbolizer_load_proc(sym, pid, true, &p);
		if (err)
			return err;
		fr = proc__lookup(sym, p, a);
	}
	if (!fr && errno == ENOENT)	/* JIT code in a mapping not seen yet */
		fr = jit__lookup(sym, pid, a);
	if (!fr && errno == ENOENT)
		fr = symbolizer__synth(sym, "[unknown]", "[unknown]", FRAME_F_UNKNOWN);
	return symbolizer_done(sym, fr, frames);
}

/* Loads kallsyms on first use; a failure is logged once and not retried. */
static int symbolizer_ksyms(struct symbolizer *sym)
{
	if (sym->ksyms || sym->ksyms_err)
		return 0;
	sym->ksyms = kallsyms__load(KALLSYMS_PATH, &sym->strings);
	if (sym->ksyms && kallsyms__empty(sym->ksyms))
		sym_denied(sym, SYM_DENIED_KALLSYMS, KALLSYMS_PATH);
	if (sym->ksyms)
		return 0;
	if (errno == ENOMEM)
		return -ENOMEM;
	log_warn("%s: %s; kernel frames stay unnamed", KALLSYMS_PATH, strerror(errno));
	sym->ksyms_err = 1;
	return 0;
}

int symbolizer__kernel(struct symbolizer *sym, uint64_t addr, bool is_return,
		       const struct frame **frames)
{
	uint64_t a = is_return && addr ? addr - 1 : addr;
	struct frames *fr = NULL;
	int err;

	err = symbolizer_ksyms(sym);
	if (err)
		return err;
	errno = ENOENT;
	if (sym->ksyms)
		fr = kallsyms__lookup(sym->ksyms, a, &sym->stats);
	if (!fr && errno == ENOENT)
		fr = symbolizer__synth_off(sym, "[kernel]", a, FRAME_F_UNKNOWN | FRAME_F_KERNEL);
	return symbolizer_done(sym, fr, frames);
}

static int elf_path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct elf_path *)a)->path, ((const struct elf_path *)b)->path);
}

/* Opens @path once and remembers it; NULL with errno when unreadable. */
static struct elf_file *symbolizer_elf_file(struct symbolizer *sym, const char *path)
{
	struct elf_path probe = { .path = (char *)path }, *ep, **found;
	char real[PATH_MAX];

	found = tfind(&probe, &sym->elf_by_path, elf_path_cmp);
	if (found)
		return (*found)->ef;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return NULL;
	/* The real path, as separate debug files are searched next to it. */
	ep->ef = elf_file__get(sym, -1, realpath(path, real) ? real : path);
	elf_file__hold(ep->ef, 1);	/* named by path: kept for good */
	ep->path = strdup(path);
	if (!ep->ef || !ep->path || !tsearch(ep, &sym->elf_by_path, elf_path_cmp)) {
		if (ep->ef)
			errno = ENOMEM;
		elf_path_free(ep);
		return NULL;
	}
	return ep->ef;
}

int symbolizer__elf(struct symbolizer *sym, const char *path, uint64_t vaddr,
		    const struct frame **frames)
{
	struct elf_file *ef = symbolizer_elf_file(sym, path);
	const char *slash = strrchr(path, '/');
	struct frames *fr;

	if (ef) {
		fr = elf_file__lookup(sym, ef, vaddr);
	} else if (errno == ENOMEM) {
		fr = NULL;
	} else {
		log_debug("%s: %s", path, strerror(errno));
		sym->stats.elf_errors++;
		fr = symbolizer__synth_off(sym, slash ? slash + 1 : path, vaddr, FRAME_F_UNKNOWN);
	}
	return symbolizer_done(sym, fr, frames);
}

/* Puts the debug files debuginfod delivered to use. */
static void symbolizer_take_fetched(struct symbolizer *sym)
{
	struct elf_file *ef;
	char *key, *path;
	int err;

	while (sym->fetch && fetcher__take(sym->fetch, &key, &path)) {
		ef = elf_file__find(sym, key);
		err = !path ? -ENOENT : ef ? elf_file__use_debug(sym, ef, path) : 0;
		if (err) {
			log_debug("debuginfod: %s: %s", key, strerror(-err));
			sym->stats.debuginfod_failed++;
		} else if (ef) {
			log_debug("debuginfod: %s: using %s", key, path);
			sym->stats.debuginfod_found++;
		}
		free(key);
		free(path);
	}
}

/* Whether the name caches have outgrown their budget since the last flush. */
static bool symbolizer_over_budget(const struct symbolizer *sym)
{
	return sym->names.bytes > NAMES_MAX_BYTES ||
	       sym->stats.cache_misses - sym->flush_misses > CACHE_MAX_MISSES;
}

/* Drops everything that points into sym->names, then the names themselves. */
static void symbolizer_flush_names(struct symbolizer *sym)
{
	kallsyms__flush(sym->ksyms);
	hmap__clear(&sym->jit_maps, jit_map__free, NULL);
	hmap__clear(&sym->jit_frames, frames_free, NULL);
	hmap__clear(&sym->py_procs, py_codes__free, NULL);
	hmap__clear(&sym->demangled, NULL, NULL);
	hmap__clear(&sym->synth, frames_free, NULL);
	strpool__clear(&sym->names);
	sym->flush_misses = sym->stats.cache_misses;
	sym->stats.cache_flushes++;
}

/* Between drains no kernel frame is held: the time to pick up new modules and BPF programs. */
static void symbolizer_refresh_ksyms(struct symbolizer *sym)
{
	int err;

	if (!sym->ksyms)
		return;
	err = kallsyms__refresh(&sym->ksyms, KALLSYMS_PATH, mono_ms());
	if (err > 0) {
		sym->stats.kallsyms_reloads++;
		log_info("%s read again: kernel modules or BPF programs changed", KALLSYMS_PATH);
	} else if (err < 0) {
		sym->stats.kallsyms_reload_errors++;
		log_warn("%s: cannot read it again: %s", KALLSYMS_PATH, strerror(-err));
	}
}

void symbolizer__trim(struct symbolizer *sym, size_t max_idle)
{
	bool flush = symbolizer_over_budget(sym);
	size_t released;

	sym->trims++;
	symbolizer_refresh_ksyms(sym);
	symbolizer_take_fetched(sym);
	/* ELF caches first: their unknown frames belong to the synth cache */
	released = elf_file__trim(sym, max_idle, flush ? ELF_TRIM_CACHES : 0);
	if (flush) {
		log_info("symbolizer: %zu bytes of names, %llu lookups since the last flush:"
			 " dropping the name caches", sym->names.bytes,
			 (unsigned long long)(sym->stats.cache_misses - sym->flush_misses));
		symbolizer_flush_names(sym);
	}
	/* freed DWARF leaves holes inside the heap that free() keeps */
	if (released || flush)
		malloc_trim(0);
}

void symbolizer__release_pages(struct symbolizer *sym)
{
	elf_file__trim(sym, SIZE_MAX, ELF_TRIM_PAGES);
}

void symbolizer__shrink(struct symbolizer *sym, bool names)
{
	elf_file__trim(sym, 0, ELF_TRIM_DWARF | (names ? ELF_TRIM_CACHES : 0));
	if (names)
		symbolizer_flush_names(sym);
	malloc_trim(0);
}

static const struct {
	const char *name, *cap, *cost;
} denied_info[SYM_DENIED_MAX] = {
	[SYM_DENIED_MAPS] = { "maps", "CAP_SYS_PTRACE",
			      "other users' processes keep module+0xOFFSET frames" },
	[SYM_DENIED_MAP_FILES] = { "map_files", "CAP_CHECKPOINT_RESTORE",
				   "deleted binaries are not named" },
	[SYM_DENIED_FILES] = { "files", "CAP_DAC_READ_SEARCH",
			       "files ember's user cannot read are not named" },
	[SYM_DENIED_KALLSYMS] = { "kallsyms", "CAP_SYSLOG",
				  "kernel addresses are hidden: kernel frames are not named" },
};

const char *symbolizer_denied_name(int what)
{
	return what >= 0 && what < SYM_DENIED_MAX ? denied_info[what].name : "?";
}

void sym_denied(struct symbolizer *sym, enum sym_denied what, const char *path)
{
	if (sym->stats.denied[what]++)
		return;
	log_warn("%s: permission denied (needs %s): %s; counted as "
		 "permission_denied{what=\"%s\"}", path, denied_info[what].cap,
		 denied_info[what].cost, denied_info[what].name);
}

void symbolizer__stats(const struct symbolizer *sym, struct symbolizer_stats *stats)
{
	*stats = sym->stats;
	stats->paths_refused = sym->open_stats.refused;
}

struct frames *symbolizer__synth(struct symbolizer *sym, const char *name, const char *module,
				 uint32_t flags)
{
	/* Interned, so the pointer identifies the name. */
	name = strpool__intern(&sym->names, name);
	if (!name)
		return NULL;
	return frames__one(&sym->synth, &sym->strings, name, module, flags);
}

struct frames *symbolizer__synth_off(struct symbolizer *sym, const char *module,
				     uint64_t off, uint32_t flags)
{
	char name[PATH_MAX + 32];

	snprintf(name, sizeof(name), "%s+0x%" PRIx64, module, off);
	return symbolizer__synth(sym, name, module, flags);
}
