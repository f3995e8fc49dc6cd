/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * internal.h - private types shared by the symbolizer's .c files: the
 * symbolizer itself, its u64 hash map and string pool, and the entry
 * points of its ELF, libdwfl, symbol-table, kallsyms, process, perf-map
 * (JIT), demangling and debuginfod parts.  Nothing here is part of the
 * public API.
 */
#ifndef EMBER_SYMBOLIZER_INTERNAL_H
#define EMBER_SYMBOLIZER_INTERNAL_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "procmaps.h"
#include "symbolizer.h"

/* Deepest inline chain kept for one address; deeper levels are cut off. */
#define SYM_MAX_INLINE 32

/* Longest build id taken from the kernel's notes (bytes; GNU ld writes 20). */
#define SYM_BUILD_ID_MAX 64

/* A cached answer: @n frames, innermost first. */
struct frames {
	int n;
	struct frame f[];
};

/* Open-addressing map from any u64 key to a non-NULL pointer. */
struct hmap {
	uint64_t *keys;
	void **vals;
	size_t cap;	/* power of two, or 0 before the first insert */
	size_t len;
};

/* Interned strings: equal strings share one copy, freed with the pool. */
struct strpool {
	char **slots;
	size_t cap;
	size_t len;
	size_t bytes;	/* of the strings themselves */
};

struct kallsyms;
struct elf_file;
struct proc;
struct fetcher;

struct symbolizer {
	/*
	 * Module names and paths, which the long-lived structures (processes,
	 * ELF files, kallsyms) point to; bounded by the files seen.
	 */
	struct strpool strings;
	/*
	 * Function and source file names, which only the caches point to: all
	 * are dropped together (symbolizer_flush()) when they grow too big.
	 */
	struct strpool names;
	uint64_t flush_misses;	/* stats.cache_misses at the last flush */
	uint64_t trims;		/* symbolizer__trim() calls, the DWARF idle clock */
	struct hmap procs;	/* pid -> struct proc */
	struct hmap synth;	/* interned name -> struct frames (unknown frames) */
	void *elf_by_key;	/* tsearch tree of struct elf_file, by identity */
	struct hmap elf_by_inode;	/* elf_file__find_inode()'s finds; emptied when files go */
	void *elf_by_path;	/* tsearch tree of struct elf_path (symbolizer__elf) */
	struct kallsyms *ksyms;
	int ksyms_err;		/* non-zero once loading kallsyms failed */
	uint64_t elf_tick;	/* use clock for evicting idle ELF files */
	bool demangle;
	struct hmap demangled;	/* interned raw name -> interned demangled name */
	struct hmap jit_maps;	/* pid -> struct jit_map */
	struct hmap jit_frames;	/* interned name -> struct frames (FRAME_F_JIT) */
	struct fetcher *fetch;	/* NULL when debuginfod is off */
	char *inflate_dir;	/* for inflated debug files; NULL: off */
	struct hmap py_procs;	/* pid -> struct py_codes (python.c) */
	struct proc_open_stats open_stats;	/* mapped files opened by path */
	struct symbolizer_stats stats;
	size_t recycle_units;	/* DWARF_RECYCLE_UNITS (a test sets it lower) */
};

/* symbolizer.c: counts one @what, logging the first with @path and what is lost. */
void sym_denied(struct symbolizer *sym, enum sym_denied what, const char *path);

/* table.c */
void *hmap__get(const struct hmap *m, uint64_t key);
int hmap__put(struct hmap *m, uint64_t key, void *val);
void *hmap__del(struct hmap *m, uint64_t key);
/* Calls @fn on every value, then releases the map's own memory. */
void hmap__clear(struct hmap *m, void (*fn)(void *val, void *ctx), void *ctx);
/* Returns the pool's copy of @s, or NULL with errno set. */
const char *strpool__intern(struct strpool *p, const char *s);
void strpool__clear(struct strpool *p);
struct frames *frames__new(int n);
/*
 * The single frame naming interned @name in @cache (keyed by the pointer),
 * made on first use with @module interned in @pool; NULL with errno set.
 */
struct frames *frames__one(struct hmap *cache, struct strpool *pool, const char *name,
			   const char *module, uint32_t flags);

/* kallsyms.c */
struct kallsyms *kallsyms__load(const char *path, struct strpool *pool);
void kallsyms__free(struct kallsyms *ks);
/* Whether the table is empty: every address was hidden (or zero). */
bool kallsyms__empty(const struct kallsyms *ks);
/* Drops the cached frames (not the table); NULL is a no-op. */
void kallsyms__flush(struct kallsyms *ks);
/*
 * Reads the table again into *@ksp (freeing the old one and every frame it
 * gave out) when /proc/modules changed, or when lookups fell past every
 * known symbol since the last time and the backoff allows.  Returns 1 when
 * the table was replaced, 0 when not, or -errno (the old table stays).
 */
int kallsyms__refresh(struct kallsyms **ksp, const char *path, uint64_t now_ms);
/* Returns the cached frames for @addr, or NULL with errno when unnamed. */
struct frames *kallsyms__lookup(struct kallsyms *ks, uint64_t addr,
				struct symbolizer_stats *stats);

/* elf.c */
/*
 * Returns the shared, cached entry of the file open as @fd (consumed), or
 * of @path when @fd < 0.  @path names the module and is where separate
 * debug files are searched.  A corrupt file still gets an entry (counted
 * in elf_errors); NULL with errno only when the file cannot be opened.
 */
/* elfimage.c: checks on an untrusted ELF image. */
struct elf_load {
	uint64_t off, filesz, vaddr;
};

/*
 * Checks @e (a file of @size bytes): ELF headers, segments and sections
 * inside the file.  Sets *loads (malloc'd, PT_LOAD segments; set even on
 * failure, the caller frees it), *nloads, and *has_debug_info when a
 * .debug_info section is there.  Returns 0, -EINVAL or -ENOMEM.
 */
int elf_image__check(Elf *e, off_t size, struct elf_load **loads, size_t *nloads,
		     bool *has_debug_info);

/*
 * The key an ELF file is shared by: "b:HEX" for a root-owned file with a
 * build id, "b:HEX@DEV:INO" for anyone else's, "i:DEV:INO" without one.
 */
int elf_image__key(Elf *e, const struct stat *st, char *buf, size_t len);

/* The length of the build id hex at @hex (a key past "b:"). */
size_t elf_key__hex_len(const char *hex);

struct elf_file *elf_file__get(struct symbolizer *sym, int fd, const char *path);
/* Maps file offset @off of a mapping to the ELF's virtual address. */
uint64_t elf_file__off_to_vaddr(const struct elf_file *ef, uint64_t off);
/* Returns the frames for @vaddr; unnamed addresses get an unknown frame. */
struct frames *elf_file__lookup(struct symbolizer *sym, struct elf_file *ef, uint64_t vaddr);
void elf_file__free(void *ef);
/* Counts a user of @ef (a process mapping, @delta +1) or drops one (-1); NULL is ignored. */
void elf_file__hold(struct elf_file *ef, int delta);
/*
 * Drains (symbolizer__trim() calls) without a cache miss before a file's
 * DWARF is closed.  A reopen rebuilds the symbol table, the address ranges
 * and the line tables of the units the next misses fall in: closing DWARF
 * after every drain that used it saved 2-5 MB under process churn but
 * cost a sixth of the agent's CPU (0.5% of a core at 45 new processes a
 * second), so files in use stay open.  Line tables still go once a file
 * has named from DWARF_RECYCLE_UNITS units (elf.c).
 */
#define DWARF_IDLE_TRIMS 10

/*
 * Compilation units named from after which DWARF that reopens without
 * inflating anything (elf_file_cheap_dwarf()) is closed and reopened even
 * in a drain: libdw keeps the line table of every unit it read until the
 * end, and a drain naming a big new program would read hundreds of them.
 * Counting units, not addresses: new addresses in units already read
 * (process churn keeps hitting a hundred of libc's) hold no more memory,
 * and recycling every 128 of them had each drain read those tables again.
 */
#define DWARF_RECYCLE_UNITS 128

#define ELF_TRIM_CACHES 1u	/* empty every file's frame cache */
#define ELF_TRIM_DWARF 2u	/* close every file's DWARF, idle or not */
#define ELF_TRIM_PAGES 4u	/* only give back the mapped pages lookups touched */
/*
 * Frees all but the @max_idle most recently used files that no one holds
 * and closes the DWARF of files idle for a few calls; @flags (ELF_TRIM_*)
 * ask for more.  Returns how many files or DWARF were closed.
 */
size_t elf_file__trim(struct symbolizer *sym, size_t max_idle, unsigned int flags);
/* The interned basename naming @ef's frames. */
const char *elf_file__module(const struct elf_file *ef);
/* Finds an open entry whose file has device @dev and inode @ino, or NULL. */
struct elf_file *elf_file__find_inode(struct symbolizer *sym, dev_t dev, ino_t ino);
/* Finds the open entry with key @key ("b:<build id hex>"), or NULL. */
struct elf_file *elf_file__find(struct symbolizer *sym, const char *key);
/*
 * Names @ef's addresses from the debug file @path from now on (its cache
 * is dropped).  Returns 0, or -errno when @path is not usable.
 */
int elf_file__use_debug(struct symbolizer *sym, struct elf_file *ef, const char *path);

/* dwarf.c: the libdwfl side of an ELF file. */
struct dwfl_file;
/*
 * A separate debug file's inflated copy (inflate.c), kept by the ELF file
 * across DWARF reopens.  dwfl_file__open() makes it when @dir is set and
 * the debug file it finds has compressed sections.
 */
struct dwfl_inflate {
	const char *dir;	/* where the copy goes; NULL: never inflate */
	int fd;			/* the copy, or -1 */
	char *name;		/* the debug file it was made from (malloc'd) */
	uint64_t bytes;		/* its size */
	int err;		/* why there is none (-ENODATA: nothing compressed) */
	bool tried;
	bool counted;		/* dwfl_inflate__count() counted it */
};
/*
 * Returns 0 or -errno; *out is NULL when libdwfl rejected the file.
 * @inf (NULL: none) is used and filled as described above.
 */
int dwfl_file__open(int fd, const char *path, const char *name, struct dwfl_inflate *inf,
		    struct dwfl_file **out);
void dwfl_file__free(struct dwfl_file *df);
/* Returns 1 if the file has DWARF but it could not be loaded. */
int dwfl_file__dwarf_broken(struct dwfl_file *df, int has_debug_info);
/*
 * Gives back the pages of the file (and debug file) mappings that lookups
 * touched: libelf maps whole files, and a big library with debug info
 * would otherwise stay resident for as long as it is open.  Only for a
 * file whose DWARF was loaded (dwfl_file__dwarf_broken() called).
 */
void dwfl_file__pageout(struct dwfl_file *df);
/* How many compilation units it named from since it was opened. */
size_t dwfl_file__units(const struct dwfl_file *df);
/* Whether the file's DWARF is left alone: a user's file too big to read it all. */
bool dwfl_file__dwarf_skipped(const struct dwfl_file *df);
/* Whether DWARF was found, in the file or a local separate debug file. */
bool dwfl_file__has_dwarf(struct dwfl_file *df);
/* Fills @out (room for SYM_MAX_INLINE) and returns the frame count or -errno. */
int dwfl_file__resolve(struct dwfl_file *df, uint64_t vaddr, struct strpool *pool,
		       const char *module, struct frame *out);

/* inflate.c */
/*
 * Returns the descriptor of an unlinked file in @dir holding the ELF file
 * @fd with its compressed sections inflated (at most @max_bytes of them),
 * or -ENODATA when none is compressed, -EFBIG, -EXDEV (@dir on tmpfs),
 * -EINVAL, -EIO or another -errno.
 */
int debug_inflate(int fd, const char *dir, uint64_t max_bytes);
/* Counts in @st, once, what the search for the debug file did about inflating it. */
void dwfl_inflate__count(struct dwfl_inflate *inf, struct symbolizer_stats *st);
/* Closes the copy (its file's DWARF is closed for good); @st NULL: not counted. */
void dwfl_inflate__drop(struct dwfl_inflate *inf, struct symbolizer_stats *st);

/* symtab.c: function symbols of one libdwfl module, sorted. */
struct symtab;
struct Dwfl_Module;
struct symtab *symtab__load(struct Dwfl_Module *mod);
void symtab__free(struct symtab *st);
/* Name of the function at module address @addr, or NULL; owned by the Dwfl. */
const char *symtab__find(const struct symtab *st, uint64_t addr);

/* proc.c */
struct proc *proc__load(struct symbolizer *sym, int pid, bool rescan, bool empty);
/* Counts a failed read of @pid's maps (-EACCES: denied, logged once). */
void proc__read_failed(struct symbolizer *sym, int pid, int err);
/* A snapshot of @pm's process (its files opened now); NULL with errno. */
struct proc *proc__from_maps(struct symbolizer *sym, const struct proc_maps *pm, bool rescan);
/*
 * A snapshot of a process from mappings sent by BPF, added to those of
 * @base (what was known of it, or NULL); NULL with errno.
 */
struct proc *proc__from_vmas(struct symbolizer *sym, int pid, const struct sym_vma *v, size_t n,
			     const struct proc *base);
/* How many mappings of @p are file mappings. */
size_t proc__file_maps(const struct proc *p);
void proc__free(void *p, void *ctx);
bool proc__may_rescan(struct proc *p);
struct frames *proc__lookup(struct symbolizer *sym, const struct proc *p, uint64_t addr);

/* jit.c: perf maps (/tmp/perf-PID.map) of JIT compilers. */
struct jit_map;
/* Returns the frames naming @addr of @pid, or NULL with errno ENOENT or ENOMEM. */
struct frames *jit__lookup(struct symbolizer *sym, int pid, uint64_t addr);
void jit_map__free(void *jm, void *ctx);

/* python.c: CPython code objects read from live processes. */
void py_codes__free(void *pc, void *ctx);

/* demangle.c */
/* The demangled form of interned @name (itself when not mangled), or NULL on ENOMEM. */
const char *symbolizer__demangle(struct symbolizer *sym, const char *name);

/* notes.c: build ids of the kernel ("vmlinux") and its modules, from sysfs. */
/* Writes @module's build id as hex to @hex (2 * SYM_BUILD_ID_MAX + 1 bytes); 0 or -errno. */
int kernel__build_id(const char *module, char *hex, size_t len);

/* fetch.c: the debuginfod worker thread. */
/* Returns a fetcher with no thread yet, or NULL with errno set. */
struct fetcher *fetcher__new(void);
/* Stops the thread, cancelling a transfer under way; NULL is a no-op. */
void fetcher__free(struct fetcher *f);
/* Queues a request for build id @id (@len bytes) under @key; 0 or -errno. */
int fetcher__ask(struct fetcher *f, const char *key, const unsigned char *id, size_t len);
/*
 * Takes one finished request: returns 1 and sets *key and *path (both
 * malloc'd; *path NULL when nothing was found), or 0 when none is ready.
 */
int fetcher__take(struct fetcher *f, char **key, char **path);

/* symbolizer.c */
/* Returns the cached single unknown frame "@name", or NULL on ENOMEM. */
struct frames *symbolizer__synth(struct symbolizer *sym, const char *name, const char *module,
				 uint32_t flags);
struct frames *symbolizer__synth_off(struct symbolizer *sym, const char *module,
				     uint64_t off, uint32_t flags);

#endif /* EMBER_SYMBOLIZER_INTERNAL_H */
