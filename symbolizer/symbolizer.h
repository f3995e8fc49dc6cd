/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * symbolizer.h - turns sampled addresses into named frames.
 *
 * Kernel addresses are named from /proc/kallsyms, user addresses from the
 * process's mappings and the mapped ELF files (symbol tables, DWARF names,
 * inline chains, file:line, separate debug files, debug files fetched from
 * debuginfod in the background), JIT code from perf maps
 * (/tmp/perf-PID.map).  C++ and Rust names are demangled.  Results are
 * cached per ELF file, so a repeated address costs one lookup.
 */
#ifndef EMBER_SYMBOLIZER_H
#define EMBER_SYMBOLIZER_H

#include <stdbool.h>
#include <stdint.h>
#include "frame.h"
#include "procmaps.h"

struct symbolizer;


/* Options of symbolizer__new_opts(); zeroed means the defaults. */
struct symbolizer_opts {
	bool no_demangle;		/* keep mangled C++/Rust names as in the ELF file */
	/*
	 * debuginfod servers (space-separated URLs) asked for the debug info
	 * of ELF files that have none locally, in a background thread.  NULL
	 * means $DEBUGINFOD_URLS; "" turns fetching off.  libdebuginfod reads
	 * only its environment, so a non-NULL value is put in DEBUGINFOD_URLS.
	 */
	const char *debuginfod_urls;
	/*
	 * Where separate debug files with compressed DWARF are written out
	 * inflated (unlinked files, gone with the agent), so libdw maps them
	 * instead of inflating them into the heap at every reopen.  NULL
	 * means /var/tmp (`ember agent` passes its store's folder); "" turns
	 * it off.  Never used on tmpfs.
	 */
	const char *inflate_dir;
};


/*
 * What ember's privileges hid from it.  Each is logged once, naming the
 * capability that gives it back, and counted every time (stats.denied).
 */
enum sym_denied {
	SYM_DENIED_MAPS,	/* another user's /proc/PID/maps or root (CAP_SYS_PTRACE) */
	SYM_DENIED_MAP_FILES,	/* /proc/PID/map_files (CAP_CHECKPOINT_RESTORE) */
	SYM_DENIED_FILES,	/* a mapped file ember's user cannot read (CAP_DAC_READ_SEARCH) */
	SYM_DENIED_KALLSYMS,	/* kernel addresses hidden in /proc/kallsyms (CAP_SYSLOG) */
	SYM_DENIED_MAX,
};

/* "maps", "map_files", "files", "kallsyms": the label of each in metrics. */
const char *symbolizer_denied_name(int what);

struct symbolizer_stats {
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t unknown_frames;	/* frames returned with FRAME_F_UNKNOWN */
	uint64_t elf_errors;		/* ELF/DWARF files that could not be read */
	uint64_t elf_changed;		/* files cut short or rewritten while open */
	uint64_t maps_errors;		/* /proc/PID/maps that could not be read */
	uint64_t elf_files;		/* ELF files currently open */
	uint64_t dwarf_files;		/* of those, with DWARF and symbols loaded */
	uint64_t dwarf_reopened;	/* DWARF loaded again after being closed while idle */
	uint64_t dwarf_recycled;	/* DWARF closed after many misses to drop its line tables */
	uint64_t cache_flushes;		/* all cached names dropped to bound memory */
	uint64_t elf_evicted;		/* idle ELF files closed by symbolizer__trim() */
	uint64_t processes;		/* processes currently tracked */
	uint64_t jit_maps;		/* perf maps read (first reads and reloads) */
	uint64_t jit_bad_lines;		/* perf map lines skipped as malformed */
	uint64_t debuginfod_asked;	/* build ids sent to debuginfod */
	uint64_t debuginfod_found;	/* debug files that arrived and were used */
	uint64_t debuginfod_failed;	/* requests without a usable answer */
	uint64_t vma_snapshots;		/* snapshots taken from symbolizer__add_process_vmas() */
	uint64_t vma_matched;		/* of their mappings, tied to an open ELF file */
	uint64_t vma_unmatched;		/* named by basename only (name+0xOFFSET) */
	uint64_t py_codes;		/* CPython code objects read and named */
	uint64_t py_stale;		/* sampled code objects whose checksum no longer matched */
	uint64_t py_unreadable;		/* code objects that could not be read (process gone) */
	uint64_t kallsyms_reloads;	/* kallsyms read again (modules or BPF programs changed) */
	uint64_t kallsyms_reload_errors;	/* re-reads that failed (the old table stays) */
	uint64_t paths_refused;		/* mapped files whose path led outside their process's root */
	uint64_t debug_inflated;	/* compressed debug files written out inflated */
	uint64_t debug_inflate_failed;	/* ones that could not be (left compressed) */
	uint64_t debug_inflated_bytes;	/* size of the inflated copies open now */
	uint64_t denied[SYM_DENIED_MAX];	/* see enum sym_denied */
};

/*
 * Where one CPython version keeps what names a code object (offsets in
 * bytes; see collector/python.c, which fills it from the interpreter's own
 * type data and a per-version table).
 */
struct sym_py_layout {
	uint16_t code_size;		/* bytes read from a code object: covers all below */
	uint16_t code_sum;		/* first of the sum_words words the checksum covers */
	uint16_t sum_words;
	uint16_t code_qualname, code_filename, code_linetable, code_firstlineno;
	uint16_t str_length, str_hash, str_state;	/* PyASCIIObject */
	uint16_t str_ascii_data;	/* compact ASCII characters */
	uint16_t str_utf8_length, str_utf8;	/* PyCompactUnicodeObject */
	uint16_t str_compact_data;	/* compact non-ASCII characters */
	uint16_t bytes_size, bytes_data;	/* PyBytesObject */
	/* the checksum the sampler took: @words from code_sum, the qualname's hash */
	uint32_t (*sum)(const uint64_t *words, uint64_t qualname_hash);
};

/*
 * An executable file mapping as the kernel reported it, for a process
 * whose /proc/PID/maps could not be read in time.
 */
struct sym_vma {
	uint64_t start, end;
	uint64_t pgoff;		/* file offset in bytes */
	uint64_t dev;		/* st_dev as stat(2) reports it */
	uint64_t ino;
	const char *name;	/* file basename, NUL-terminated (untrusted bytes) */
	const char *path;	/* where the file may be opened (checked against dev/ino), or NULL */
};

/* Returns a new symbolizer with default options, or NULL with errno set. */
struct symbolizer *symbolizer__new(void);

/* Same with @opts (NULL: defaults); the strings in it are copied. */
struct symbolizer *symbolizer__new_opts(const struct symbolizer_opts *opts);

/* Frees everything, including every string handed out; NULL is a no-op. */
void symbolizer__free(struct symbolizer *sym);

/*
 * Snapshots /proc/PID/maps and opens the ELF files it maps (kept open, so
 * the process can be symbolized after it exits or its files are deleted).
 * Replaces an earlier snapshot of the same pid.  Returns 0 or -errno
 * (-ESRCH when the process is gone).
 */
int symbolizer__add_process(struct symbolizer *sym, int pid);

/*
 * Same from @pm, @pid's mappings its caller already read (the collector's
 * process registry reads /proc/PID/maps once per process event for all its
 * users), or NULL when that read failed with @err, which is then counted
 * (and -EACCES logged once, as above) and returned.  Returns 0 or -errno.
 */
int symbolizer__add_process_maps(struct symbolizer *sym, int pid, const struct proc_maps *pm,
				 int err);

/*
 * Snapshots @pid from @n mappings sent by BPF (at exit, or with early
 * samples): each is tied to the ELF file already open with the same device
 * and inode, else opened by its path hint if that is still the same file,
 * else named by its basename alone.  They are added to what was known of
 * the process (a read of /proc/PID/maps made before its libraries were
 * mapped, or earlier such mappings).  A process known only this way is
 * never re-read, as the pid may be reused.  Returns 1 if that added a
 * mapping, 0 if not needed, or -errno.
 */
int symbolizer__add_process_vmas(struct symbolizer *sym, int pid, const struct sym_vma *v,
				 size_t n);

/* Forgets a process's mappings (ELF caches stay); unknown pids are ignored. */
void symbolizer__remove_process(struct symbolizer *sym, int pid);

/*
 * Names a user address of process @pid.  @is_return says the address is a
 * return address (every frame but the first), looked up at addr - 1.
 * Sets *frames to an array of frames, innermost (inlined callee) first,
 * outermost (the real function) last, owned by the symbolizer.  Returns the
 * number of frames (>= 1: an unnamed address still gets one FRAME_F_UNKNOWN
 * frame), or -errno on allocation failure only.
 * A pid never added is added on first use; an address outside every known
 * mapping triggers one re-read of the maps while the process is alive.
 */
int symbolizer__user(struct symbolizer *sym, int pid, uint64_t addr, bool is_return,
		     const struct frame **frames);

/* Same for a kernel address (via /proc/kallsyms, loaded on first use). */
int symbolizer__kernel(struct symbolizer *sym, uint64_t addr, bool is_return,
		       const struct frame **frames);

/*
 * Names a CPython frame of process @pid: code object @code, sampled with
 * checksum @sum at instruction @lasti (code units).  The code object is
 * read from the live process and cached per (pid, code, sum); a checksum
 * that no longer matches (the object was freed and its memory reused)
 * gives an unknown frame, counted in py_stale.  Same frame layout as
 * symbolizer__user() (one FRAME_F_PYTHON frame).  Returns 1 or -ENOMEM.
 */
int symbolizer__python(struct symbolizer *sym, int pid, const struct sym_py_layout *layout,
		       uint64_t code, uint32_t sum, int32_t lasti, const struct frame **frames);

/*
 * Names @vaddr, an address in ELF file @path's own virtual address space
 * (as `nm` prints it), with the same frame layout as symbolizer__user().
 */
int symbolizer__elf(struct symbolizer *sym, const char *path, uint64_t vaddr,
		    const struct frame **frames);

/*
 * Call between batches of lookups (once per drain) to keep memory bounded
 * under process churn: closes ELF files no tracked process maps, keeping
 * the @max_idle most recently used, closes the DWARF of files that needed
 * no new lookup for a few calls, drops every cached name once they have
 * grown past a fixed budget, and puts debug files that debuginfod
 * delivered since the last call to use.  Frames and name strings handed
 * out before the call become invalid.
 */
void symbolizer__trim(struct symbolizer *sym, size_t max_idle);

/*
 * For a caller near its memory limit, after or in the middle of a batch of
 * lookups: unmaps the pages of mapped ELF and debug files that the batch's
 * lookups touched (they stay in the page cache, and are mapped again if
 * needed).  Cheaper than symbolizer__shrink(); nothing handed out becomes
 * invalid.
 */
void symbolizer__release_pages(struct symbolizer *sym);

/*
 * For a caller over its memory limit: closes every file's DWARF and the
 * ELF files no process maps, and with @names drops every cached name too
 * (which makes the next lookups slow).  All is rebuilt on demand.  Frames
 * and name strings handed out before the call become invalid.
 */
void symbolizer__shrink(struct symbolizer *sym, bool names);

/* Copies the running totals into *stats. */
void symbolizer__stats(const struct symbolizer *sym, struct symbolizer_stats *stats);

#endif /* EMBER_SYMBOLIZER_H */
