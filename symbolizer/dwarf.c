// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * dwarf.c - names one ELF virtual address through libdwfl: DWARF for
 * file:line and the inline chain, the symbol table (symtab.c) for the
 * function, and a local search for separate debug files (build-id under
 * /usr/lib/debug, then .gnu_debuglink next to the file, in .debug/ and
 * under /usr/lib/debug).  libdwfl's standard search would end by asking
 * debuginfod ($DEBUGINFOD_URLS) and block the caller for as long as a
 * download takes; that is done in the background instead (fetch.c).
 * One Dwfl per ELF file, reported so that module addresses are the ELF's
 * own virtual addresses.
 *
 * libdwfl maps every file it opens, and a mapped file its owner truncates
 * kills the agent with SIGBUS on the next read past the new end.  So a
 * file that anyone but root can change is never handed to libdwfl by
 * descriptor: the main file is opened here with ELF_C_READ (libelf then
 * reads what it needs with pread, and a cut file is only a read error),
 * a separate debug file is copied into a private memfd first (bounded by
 * MAX_COPY_FILE).  Root's own files are mapped as before.  Read, all of a
 * file's DWARF goes to the heap (libdw loads every debug section at once),
 * so a user's file over MAX_READ_DWARF_FILE is named from its symbol table
 * only (and debuginfod is asked for its debug file).
 */
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include "internal.h"
#include "file.h"
#include "log.h"

struct dwfl_file {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf_Addr bias;	/* module address - ELF vaddr */
	struct symtab *symtab;	/* loaded on the first lookup */
	bool main_mapped;	/* the file, mapped by libdwfl (root's own) */
	bool no_dwarf;		/* too big to load its DWARF, or its strings unterminated */
	bool dwarf_checked;	/* strings_terminated() looked at it */
	bool debug_mapped;	/* a separate debug file, mapped by libdwfl */
	struct dwfl_inflate *inf;	/* its inflated copy (NULL: none wanted) */
	struct hmap units;	/* CU named from -> struct unit_index (libdw holds its line table) */
	size_t unit_ranges;	/* in every unit_index together */
	/* only while dwfl_file__open() runs: what take_elf() hands libdwfl */
	Elf *elf;
	int fd;
	const char *path;
};

static void unit_index_free(void *val, void *ctx);

/* Debug files larger than this are not looked at (libxul's is ~1 GiB). */
#define MAX_DEBUG_FILE (4ULL << 30)
/* Largest debug file of a user's own that is copied (not mapped) to be read. */
#define MAX_COPY_FILE (512ULL << 20)
/* Largest file of a user's own whose DWARF is loaded (read, into the heap). */
#define MAX_READ_DWARF_FILE (512ULL << 20)
/* Largest total of inflated sections written out for one debug file. */
#define MAX_INFLATE_BYTES (256ULL << 20)

/*
 * The main file of a module reported with dwfl_report_module(): the Elf
 * that dwfl_file__open() read with ELF_C_READ, never a mapping.
 */
static int take_elf(Dwfl_Module *mod, void **userdata, const char *modname,
		    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	struct dwfl_file *df = *userdata;
	int fd;

	(void)mod, (void)modname, (void)base;
	if (!df || !df->elf)
		return -1;
	/* debug files are looked up next to this name (find_debuglink) */
	if (!*file_name)
		*file_name = strdup(df->path);
	*elfp = df->elf;
	fd = df->fd;
	df->elf = NULL;
	df->fd = -1;
	return fd;
}

static uint32_t file_crc(int fd)
{
	unsigned char buf[65536];
	uint32_t crc = crc32(0, NULL, 0);
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crc = crc32(crc, buf, n);
	return crc;
}

/*
 * Whether @fd is the debug file of @mod: same build id when the module
 * has one, else the CRC the debuglink asks for (0: none asked).
 */
static bool debug_matches(Dwfl_Module *mod, int fd, GElf_Word crc)
{
	const unsigned char *want;
	const void *got;
	GElf_Addr vaddr;
	int want_len = dwfl_module_build_id(mod, &want, &vaddr);
	ssize_t got_len;
	bool ok;
	Elf *e;

	if (want_len <= 0)
		return !crc || file_crc(fd) == crc;
	e = elf_begin(fd, ELF_C_READ, NULL);
	got_len = e ? dwelf_elf_gnu_build_id(e, &got) : -1;
	ok = got_len == want_len && !memcmp(got, want, want_len);
	elf_end(e);
	return ok;
}

/* The .gnu_debuglink search, as gdb does it; returns an fd or -1. */
static int find_debuglink(Dwfl_Module *mod, const char *file_name, const char *link,
			  GElf_Word crc, char **debug_name)
{
	char dir[PATH_MAX], path[PATH_MAX * 2 + 32];
	const char *slash;
	struct stat main_st, st;
	int i, fd;

	if (!file_name || !link || !*link || strchr(link, '/'))
		return -1;
	slash = strrchr(file_name, '/');
	if (!slash || (size_t)(slash - file_name) >= sizeof(dir))
		return -1;
	memcpy(dir, file_name, slash - file_name);
	dir[slash - file_name] = '\0';
	if (stat(file_name, &main_st))
		memset(&main_st, 0, sizeof(main_st));
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), i == 0 ? "%s/%s" : i == 1 ? "%s/.debug/%s"
			 : "/usr/lib/debug%s/%s", dir, link);
		/* a user's FIFO would block here, a sparse giant be read for its CRC */
		fd = file__open_regular(path, MAX_DEBUG_FILE, &st);
		if (fd < 0)
			continue;
		/* the file itself may carry the link's name */
		if (!(st.st_dev == main_st.st_dev && st.st_ino == main_st.st_ino) &&
		    debug_matches(mod, fd, crc)) {
			lseek(fd, 0, SEEK_SET);
			*debug_name = strdup(path);
			return fd;
		}
		close(fd);
	}
	return -1;
}

/*
 * libdwfl maps the debug file it is handed: one that only root can change
 * goes as it is, any other as a private copy (see the top of the file).
 */
static int debug_fd_safe(struct dwfl_file *df, int fd, const char *name)
{
	struct stat st;
	int copy;

	if (fd < 0 || (!fstat(fd, &st) && file__root_only(&st))) {
		if (fd >= 0 && df)
			df->debug_mapped = true;
		return fd;
	}
	copy = file__copy_private(fd, MAX_COPY_FILE);
	if (copy < 0)
		log_info("%s: debug file not read: %s", name ? name : "?", strerror(-copy));
	close(fd);
	return copy < 0 ? -1 : copy;
}

/*
 * A debug file with compressed sections is inflated once, on disk (see
 * inflate.c), and that copy handed out at every reopen.  @fd is consumed;
 * returns the descriptor to give libdwfl.
 */
static int debug_fd_inflated(struct dwfl_file *df, int fd, const char *name)
{
	struct dwfl_inflate *inf = df ? df->inf : NULL;
	struct stat st;
	int copy;

	if (fd < 0 || !inf || !inf->dir || inf->tried)
		return fd;
	inf->tried = true;
	copy = debug_inflate(fd, inf->dir, MAX_INFLATE_BYTES);
	if (copy < 0 || fstat(copy, &st) || !(inf->name = strdup(name ? name : "?"))) {
		inf->err = copy < 0 ? copy : -ENOMEM;
		if (copy >= 0)
			close(copy);
		if (inf->err != -ENODATA)
			log_info("%s: compressed DWARF not written out inflated (%s): it is "
				 "inflated in memory at each use", name ? name : "?",
				 strerror(-inf->err));
		return fd;
	}
	close(fd);
	inf->fd = copy;
	inf->bytes = st.st_size;
	df->debug_mapped = true;	/* ours, written just now */
	return fcntl(copy, F_DUPFD_CLOEXEC, 0);
}

/* Local search only (see the top of the file). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	struct dwfl_file *df = *userdata;
	int fd;

	if (df && df->inf && df->inf->fd >= 0) {
		/* the copy made at an earlier open: no search, no inflating */
		*debuginfo_file_name = strdup(df->inf->name);
		df->debug_mapped = true;
		return fcntl(df->inf->fd, F_DUPFD_CLOEXEC, 0);
	}
	fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
					  debuglink_file, debuglink_crc, debuginfo_file_name);
	if (fd < 0)
		fd = find_debuglink(mod, file_name, debuglink_file, debuglink_crc,
				    debuginfo_file_name);
	fd = debug_fd_safe(df, fd, *debuginfo_file_name);
	return debug_fd_inflated(df, fd, *debuginfo_file_name);
}

/* NULL debuginfo_path: build ids are looked up under /usr/lib/debug. */
static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = take_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = NULL,
};

/*
 * The module span as dwfl_report_elf(base 0, add_p_vaddr) reports it:
 * from the first PT_LOAD (aligned down) to the end of the last one.
 */
static int load_span(Elf *e, GElf_Addr *start, GElf_Addr *end)
{
	bool first = true;
	size_t i, n;
	GElf_Ehdr eh;
	GElf_Phdr ph;

	*start = *end = 0;
	if (!gelf_getehdr(e, &eh) || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
	    elf_getphdrnum(e, &n))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!gelf_getphdr(e, i, &ph))
			return -EINVAL;
		if (ph.p_type != PT_LOAD)
			continue;
		if (first)
			*start = ph.p_vaddr & -ph.p_align;
		first = false;
		if (ph.p_vaddr + ph.p_memsz > 0)
			*end = ph.p_vaddr + ph.p_memsz;
	}
	return *end > *start ? 0 : -EINVAL;
}

/*
 * Reports a file that anyone but root may change: read through libelf
 * (ELF_C_READ), handed to libdwfl by take_elf().  On success the Elf
 * and @fd belong to the module.
 */
static Dwfl_Module *report_read(struct dwfl_file *df, const char *name, int fd)
{
	GElf_Addr start, end;
	Dwfl_Module *mod;
	void **ud;

	df->elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!df->elf || elf_kind(df->elf) != ELF_K_ELF || load_span(df->elf, &start, &end))
		return NULL;
	mod = dwfl_report_module(df->dwfl, name, start, end);
	if (!mod || !dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL))
		return NULL;
	*ud = df;
	df->fd = fd;
	return mod;
}

/*
 * @fd is consumed.  @path must be the file's real name: debug files are
 * looked up next to it.  Base 0 with add_p_vaddr keeps module addresses
 * equal to ELF vaddrs for both ET_EXEC and ET_DYN.
 */
int dwfl_file__open(int fd, const char *path, const char *name, struct dwfl_inflate *inf,
		    struct dwfl_file **out)
{
	struct dwfl_file *df = calloc(1, sizeof(*df));
	struct stat st;
	void **ud;
	int err = 0;

	*out = NULL;
	if (!df) {
		err = -ENOMEM;
		goto out;
	}
	df->fd = -1;
	df->path = path;
	df->inf = inf;
	df->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!df->dwfl) {
		err = -ENOMEM;
		goto out;
	}
	if (!fstat(fd, &st)) {	/* else not known to be root's: read, never mapped */
		df->main_mapped = file__root_only(&st);
		df->no_dwarf = !df->main_mapped && (uint64_t)st.st_size > MAX_READ_DWARF_FILE;
	}
	dwfl_report_begin(df->dwfl);
	if (df->main_mapped) {
		df->mod = dwfl_report_elf(df->dwfl, name, path, fd, 0, true);
		if (df->mod && dwfl_module_info(df->mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL))
			*ud = df;
	} else {
		df->mod = report_read(df, name, fd);
	}
	dwfl_report_end(df->dwfl, NULL, NULL);
	if (df->mod)
		fd = -1;	/* the module's, or df->fd until take_elf() runs */
	/* opens the main file now (through take_elf() when read) */
	if (!df->mod || !dwfl_module_getelf(df->mod, &df->bias))
		goto out;
	df->path = NULL;
	*out = df;
	df = NULL;
out:
	if (df && df->elf)	/* never handed to libdwfl */
		elf_end(df->elf);
	if (df && df->fd >= 0)
		close(df->fd);
	if (fd >= 0)
		close(fd);
	dwfl_file__free(df);
	return err;
}

void dwfl_file__free(struct dwfl_file *df)
{
	if (!df)
		return;
	symtab__free(df->symtab);
	if (df->dwfl)
		dwfl_end(df->dwfl);
	hmap__clear(&df->units, unit_index_free, NULL);
	free(df);
}

/*
 * Loads DWARF (main or separate file) once.  A file that carries
 * .debug_info but yields no DWARF is broken; a file without any is not.
 */
int dwfl_file__dwarf_broken(struct dwfl_file *df, int has_debug_info)
{
	Dwarf_Addr bias;

	if (df->no_dwarf)
		return 0;
	return !dwfl_module_getdwarf(df->mod, &bias) && has_debug_info;
}

/*
 * Unmaps the pages of @e's mapped file image from the agent; they stay in
 * the page cache, and a later lookup maps them again with a minor fault.
 * (MADV_PAGEOUT also evicted them from the cache: every drain then read
 * libc's debug file back from disk, a tenth of the agent's CPU under churn.)
 * libelf maps read-only and private, so the contents stay as they were.
 */
static void elf_pageout(Elf *e)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = 0;
	char *raw = e ? elf_rawfile(e, &size) : NULL;

	/* only libelf's own mapping, never a heap copy of the file */
	if (raw && size && page > 0 && !((uintptr_t)raw % page))
		madvise(raw, size, MADV_DONTNEED);
}

/*
 * Only mapped files: elf_rawfile() of one read with ELF_C_READ would read
 * it whole.  A main file is mapped when root's own, a debug file always
 * (a private copy when it is not root's).
 */
void dwfl_file__pageout(struct dwfl_file *df)
{
	Elf *main_elf = dwfl_module_getelf(df->mod, &(Dwarf_Addr){ 0 });
	Dwarf_Addr bias;
	Dwarf *dw;

	if (df->main_mapped)
		elf_pageout(main_elf);
	dw = df->no_dwarf ? NULL : dwfl_module_getdwarf(df->mod, &bias);
	if (df->debug_mapped && dw && dwarf_getelf(dw) != main_elf)
		elf_pageout(dwarf_getelf(dw));
}

size_t dwfl_file__units(const struct dwfl_file *df)
{
	return df->units.len;
}

bool dwfl_file__dwarf_skipped(const struct dwfl_file *df)
{
	return df->no_dwarf;
}

bool dwfl_file__has_dwarf(struct dwfl_file *df)
{
	Dwarf_Addr bias;

	return !df->no_dwarf && dwfl_module_getdwarf(df->mod, &bias) != NULL;
}

/* Linkage name if any (matches the symbol table), else the plain name. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	return name ? name : dwarf_diename(die);
}

static int is_function(Dwarf_Die *die)
{
	int tag = dwarf_tag(die);

	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
	       tag == DW_TAG_entry_point;
}

/* Where an inlined instance was called from, in its CU's file table. */
static void call_site(Dwarf_Die *inl, Dwarf_Files *files, const char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word val;

	*file = NULL;
	*line = 0;
	if (files && dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &val) == 0)
		*file = dwarf_filesrc(files, val, NULL, NULL);
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &val) == 0)
		*line = val;
}

/* Interns one frame's strings into @f; returns 0 or -ENOMEM. */
static int frame_set(struct frame *f, struct strpool *pool, const char *name,
		     const char *module, const char *file, int line, uint32_t flags)
{
	f->name = strpool__intern(pool, name);
	f->module = module;
	f->file = file ? strpool__intern(pool, file) : NULL;
	f->line = line > 0 ? line : 0;
	f->flags = flags;
	if (!f->name || (file && !f->file))
		return -ENOMEM;
	return 0;
}

/* Deepest nesting scopes_at() follows; deeper inlining is cut there. */
#define SCOPES_MAX 64
/*
 * Most top-level ranges indexed in one unit, and in one file's units
 * together (56 bytes each, against a few of DWARF: a crafted file must
 * not turn into an index many times its size); past either, units are
 * walked as before.
 */
#define UNIT_RANGES_MAX (1u << 14)
#define FILE_RANGES_MAX (1u << 18)

/* One range of a unit's top-level DIE (a function, mostly). */
struct unit_range {
	Dwarf_Addr lo, hi;
	Dwarf_Die die;
	uint32_t order;		/* the DIE's place among its siblings */
};

/*
 * A unit's top-level ranges, sorted by start, with the largest end so
 * far: scopes_at()'s first step without walking the unit's DIEs (libc's
 * units have hundreds of types and declarations before each function).
 */
struct unit_index {
	struct unit_range *r;
	Dwarf_Addr *max_hi;
	size_t n;
	bool walk;		/* too many to index: walk the unit's DIEs */
};

static void unit_index_free(void *val, void *ctx)
{
	struct unit_index *ui = val;

	(void)ctx;
	free(ui->r);
	free(ui->max_hi);
	free(ui);
}

static int range_cmp(const void *a, const void *b)
{
	const struct unit_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * Indexes @cudie's top-level DIEs by address (as dwarf_haspc() reads
 * them), at most @room ranges.
 */
static struct unit_index *unit_index_build(Dwarf_Die *cudie, size_t room)
{
	struct unit_index *ui = calloc(1, sizeof(*ui));
	Dwarf_Addr base, lo, hi;
	uint32_t order = 0;
	Dwarf_Die child;
	size_t cap = 0, i;
	ptrdiff_t off;
	void *p;

	if (!ui)
		return NULL;
	if (dwarf_child(cudie, &child) != 0)
		return ui;
	do {
		for (off = 0; (off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0;) {
			if (ui->n == UNIT_RANGES_MAX || ui->n == room) {
				ui->walk = true;
				return ui;
			}
			if (ui->n == cap) {
				cap = cap ? cap * 2 : 64;
				p = realloc(ui->r, cap * sizeof(*ui->r));
				if (!p)
					goto fail;
				ui->r = p;
			}
			ui->r[ui->n++] = (struct unit_range){ lo, hi, child, order };
		}
		order++;
	} while (dwarf_siblingof(&child, &child) == 0);
	if (!ui->n)
		return ui;
	qsort(ui->r, ui->n, sizeof(*ui->r), range_cmp);
	ui->max_hi = malloc(ui->n * sizeof(*ui->max_hi));
	if (!ui->max_hi)
		goto fail;
	for (i = 0; i < ui->n; i++)
		ui->max_hi[i] = i && ui->max_hi[i - 1] > ui->r[i].hi ? ui->max_hi[i - 1] : ui->r[i].hi;
	return ui;
fail:
	unit_index_free(ui, NULL);
	return NULL;
}

/* The first top-level DIE (in DIE order) whose ranges hold @pc, as the walk finds it. */
static bool unit_index_find(const struct unit_index *ui, Dwarf_Addr pc, Dwarf_Die *die)
{
	const struct unit_range *best = NULL;
	size_t lo = 0, hi = ui->n, mid, i;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ui->r[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i-- > 0 && ui->max_hi[i] > pc;)
		if (pc < ui->r[i].hi && (!best || ui->r[i].order < best->order))
			best = &ui->r[i];
	if (best)
		*die = best->die;
	return best;
}

/* @cudie's index, built on its first use; NULL (walk the unit) without memory. */
static struct unit_index *unit_index_get(struct dwfl_file *df, Dwarf_Die *cudie)
{
	uint64_t key = (uintptr_t)cudie->cu;	/* unique while the Dwarf is open */
	struct unit_index *ui = hmap__get(&df->units, key);

	if (ui)
		return ui;
	ui = unit_index_build(cudie, FILE_RANGES_MAX - df->unit_ranges);
	if (ui && hmap__put(&df->units, key, ui)) {
		unit_index_free(ui, NULL);
		return NULL;
	}
	if (ui && ui->walk) {	/* its ranges go: the unit is walked */
		free(ui->r);
		ui->r = NULL;
		ui->n = 0;
	}
	if (ui)
		df->unit_ranges += ui->n;
	return ui;
}

/*
 * The physical nesting of the innermost scope at @addr, innermost first
 * and the CU last (as eu-addr2line -i sees it: dwarf_getscopes() would
 * follow the abstract origin instead of the caller).  One walk down from
 * the CU through the DIEs whose ranges hold @addr, skipping every other
 * subtree (dwarf_getscopes() and dwarf_getscopes_die() walk it twice, the
 * second time whole); the unit's own level comes from its index.
 * Returns the count, 0 when none.
 */
static int scopes_at(struct dwfl_file *df, Dwarf_Addr addr, Dwarf_Die **scopes,
		     Dwarf_Files **files)
{
	Dwarf_Die chain[SCOPES_MAX], *cudie, child;
	struct unit_index *ui;
	Dwarf_Addr bias;
	int n = 1, i, res;

	*scopes = NULL;
	*files = NULL;
	cudie = dwfl_module_addrdie(df->mod, addr, &bias);
	if (!cudie)
		return 0;
	chain[0] = *cudie;
	ui = unit_index_get(df, cudie);
	if (ui && !ui->walk) {
		if (!unit_index_find(ui, addr - bias, &chain[1]))
			return 0;
		n = 2;
	}
	while (n < SCOPES_MAX && dwarf_child(&chain[n - 1], &child) == 0) {
		do {
			res = dwarf_haspc(&child, addr - bias);
		} while (res <= 0 && dwarf_siblingof(&child, &child) == 0);
		if (res <= 0)
			break;
		chain[n++] = child;
	}
	if (n == 1)
		return 0;
	*scopes = malloc(n * sizeof(**scopes));
	if (!*scopes)
		return 0;
	for (i = 0; i < n; i++)
		(*scopes)[i] = chain[n - 1 - i];
	if (dwarf_getsrcfiles(cudie, files, NULL) != 0)
		*files = NULL;
	return n;
}

/*
 * Whether the string tables libdw reads with strlen() (.debug_str,
 * .debug_line_str) end in NUL.  libdw 0.188 reads a line table's strings
 * past the end of one that does not: a crafted file would make it read
 * past its buffer.
 */
static bool strings_terminated(Elf *elf)
{
	Elf_Scn *scn = NULL;
	const char *name;
	size_t shstrndx;
	Elf_Data *d;
	GElf_Shdr sh;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || (strcmp(name, ".debug_str") && strcmp(name, ".debug_line_str")))
			continue;
		d = elf_getdata(scn, NULL);
		if (d && d->d_size && ((const char *)d->d_buf)[d->d_size - 1])
			return false;
	}
	return true;
}

/* Walks the inline chain outwards up to the real function. */
static int dwarf_frames(struct dwfl_file *df, Dwarf_Addr addr, struct strpool *pool,
			const char *module, struct frame *out)
{
	const char *file = NULL;
	Dwarf_Files *files;
	Dwarf_Die *scopes;
	Dwfl_Line *dl;
	int i, n, line = 0, nf = 0, err = 0;

	dl = dwfl_module_getsrc(df->mod, addr);
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	n = scopes_at(df, addr, &scopes, &files);
	for (i = 0; i < n && nf < SYM_MAX_INLINE && !err; i++) {
		int tag = dwarf_tag(&scopes[i]);
		const char *name;

		if (!is_function(&scopes[i]))
			continue;
		name = die_name(&scopes[i]);
		err = frame_set(&out[nf++], pool, name ? name : "??", module, file, line,
				tag == DW_TAG_inlined_subroutine ? FRAME_F_INLINE : 0);
		if (tag != DW_TAG_inlined_subroutine)
			break;
		call_site(&scopes[i], files, &file, &line);
	}
	free(scopes);
	if (!err && !nf && file)	/* lines but no DIE: let the symbol name it */
		err = frame_set(&out[nf++], pool, "??", module, file, line, 0);
	return err ? err : nf;
}

/*
 * Fills @out with the frames of @vaddr, innermost first.  Returns the
 * number of frames (0 when the address has no name at all) or -ENOMEM.
 */
int dwfl_file__resolve(struct dwfl_file *df, uint64_t vaddr, struct strpool *pool,
		       const char *module, struct frame *out)
{
	Dwarf_Addr addr = vaddr + df->bias;
	const char *symname, *name;
	int n;

	if (!df->symtab) {
		df->symtab = symtab__load(df->mod);
		if (!df->symtab)
			return -ENOMEM;
	}
	if (!df->dwarf_checked) {
		Dwarf *dw = df->no_dwarf ? NULL : dwfl_module_getdwarf(df->mod, &(Dwarf_Addr){ 0 });

		df->dwarf_checked = true;
		if (dw && !strings_terminated(dwarf_getelf(dw))) {
			log_debug("%s: a DWARF string table does not end in NUL: named from its "
				  "symbols only", module);
			df->no_dwarf = true;
		}
	}
	n = df->no_dwarf ? 0 : dwarf_frames(df, addr, pool, module, out);
	if (n < 0)
		return n;
	symname = symtab__find(df->symtab, addr);
	if (symname && *symname) {
		name = strpool__intern(pool, symname);
		if (!name)
			return -ENOMEM;
		if (!n)
			return frame_set(&out[0], pool, name, module, NULL, 0, 0) ? -ENOMEM : 1;
		out[n - 1].name = name;
		out[n - 1].flags &= ~FRAME_F_INLINE;
	}
	if (n && !symname && out[n - 1].name[0] == '?' && out[n - 1].name[1] == '?')
		return 0;
	return n;
}
