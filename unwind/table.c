// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * table.c - builds an unwind table: opens the ELF image, walks every FDE
 * row by row through libdw (dwarf_cfi_addrframe), classifies each row and
 * appends it, merging repeats and marking gaps between FDEs as INVALID.
 * Each build has a row and a time budget (struct unwind_limits): past
 * either it stops, and the table ends where it stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "file.h"

static bool row_same_rule(const struct unwind_row *a,
			  const struct unwind_row *b)
{
	return a->kind == b->kind && a->cfa_off == b->cfa_off &&
	       a->rbp_off == b->rbp_off;
}

/* Room for one more row; doubling keeps appends amortised O(1). */
static int table_grow(struct unwind_table *t)
{
	struct unwind_row *v;
	size_t cap = t->cap ? t->cap * 2 : 4096;

	if (t->n < t->cap)
		return 0;
	v = realloc(t->rows, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->rows = v;
	t->cap = cap;
	return 0;
}

/*
 * Append @r at ELF vaddr @pc, folding it into the previous row if equal:
 * consecutive rows differ in rule, so BPF never steps over a no-op row.
 */
static int table_push(struct unwind_table *t, uint64_t pc,
		      struct unwind_row r)
{
	int err;

	if (pc < t->base || pc - t->base > UINT32_MAX)
		return -E2BIG;
	r.pc_off = pc - t->base;
	if (t->n && t->rows[t->n - 1].pc_off == r.pc_off)
		t->n--;		/* an empty row: the new one replaces it */
	if (t->n && row_same_rule(&t->rows[t->n - 1], &r))
		return 0;
	err = table_grow(t);
	if (!err)
		t->rows[t->n++] = r;
	return err;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Whether the build is over its budget; the clock is read every 16 rows. */
static bool over_budget(struct builder *b)
{
	if (b->lim.max_cfi_rows && b->walked >= b->lim.max_cfi_rows)
		return true;
	return b->deadline && !(b->walked % 16) && now_ns() >= b->deadline;
}

/*
 * Classify and append the row in force at *@pc; advance *@pc past it.
 * Returns 0, 1 when the FDE ends here (or the budget, b->t->stats.cut),
 * or -errno.
 */
static int walk_row(struct builder *b, Dwarf_CFI *cfi, uint64_t *pc)
{
	Dwarf_Frame *fr = NULL;
	Dwarf_Addr lo, hi;
	struct unwind_row r;
	bool signal = false;
	int ra, err = 1;

	if (over_budget(b)) {
		b->t->stats.cut = true;
		return 1;
	}
	b->walked++;
	if (dwarf_cfi_addrframe(cfi, *pc, &fr) != 0)
		goto out;
	ra = dwarf_frame_info(fr, &lo, &hi, &signal);
	if (ra < 0 || hi <= *pc)
		goto out;
	r = row__classify(fr, ra, signal, &b->t->stats);
	err = table_push(b->t, *pc, r);
	*pc = hi;
out:
	free(fr);
	return err;
}

/* Append the rows of FDE @i, then an INVALID row if code without CFI follows. */
static int walk_fde(struct builder *b, size_t i)
{
	const struct unwind_row gap = { .kind = UNWIND_INVALID };
	uint64_t pc = b->fdes[i].start;
	uint64_t next = i + 1 < b->nfdes ? b->fdes[i + 1].start : UINT64_MAX;
	Dwarf_CFI *cfi = b->cfi[b->fdes[i].src];
	int err = 0;

	b->t->stats.fdes++;
	b->t->stats.debug_frame_fdes += b->fdes[i].src == FDE_DEBUG;
	while (pc < next && (err = walk_row(b, cfi, &pc)) == 0)
		;
	if (err < 0)
		return err;
	if (pc >= next)
		return 0;
	b->t->stats.gap_rows++;
	return table_push(b->t, pc, gap);
}

/*
 * Open the CFI sections of @b->elf; -ENOENT when there are none.  Only an
 * .eh_frame section is asked for: without one, libdw finds .eh_frame
 * through PT_GNU_EH_FRAME and reads the whole file (elf_rawfile()) to
 * bound it, and libelf 0.188 then leaks the sections it had read before.
 * So a file without section headers (sstrip) gets no table.
 */
static int builder_open_cfi(struct builder *b)
{
	Elf_Scn *dbg = elf_scn_by_name(b->elf, ".debug_frame");
	Elf_Scn *eh = elf_scn_by_name(b->elf, ".eh_frame");

	b->cfi[FDE_EH] = eh ? dwarf_getcfi_elf(b->elf) : NULL;
	if (dbg) {
		b->dw = dwarf_begin_elf(b->elf, DWARF_C_READ, NULL);
		b->cfi[FDE_DEBUG] = b->dw ? dwarf_getcfi(b->dw) : NULL;
	}
	if (b->cfi[FDE_EH] || b->cfi[FDE_DEBUG])
		return 0;
	return eh || dbg ? -EINVAL : -ENOENT;
}

/* Reject anything but a 64-bit little-endian x86_64 ELF image. */
static int check_elf(Elf *elf)
{
	GElf_Ehdr eh;

	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh))
		return -ENOEXEC;
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return -ENOEXEC;
	return 0;
}

static int build_rows(struct builder *b)
{
	size_t i;
	int err;

	err = fdes__collect(b);
	if (err)
		return err;
	if (b->nfdes == 0)
		return -ENOENT;
	b->t->base = b->fdes[0].start;
	/* a cut leaves a gap row where it stopped: coverage ends there */
	for (i = 0; i < b->nfdes && !b->t->stats.cut; i++) {
		err = walk_fde(b, i);
		if (err)
			return err;
	}
	b->t->stats.rows = b->t->n;
	b->t->stats.bytes = b->t->n * sizeof(struct unwind_row);
	return 0;
}

/* Build from an open libelf handle; @elf stays the caller's. */
static int build_elf(Elf *elf, const struct unwind_limits *lim, struct unwind_table **out)
{
	static const struct unwind_limits dflt = {
		.max_cfi_rows = UNWIND_MAX_CFI_ROWS,
		.max_ns = UNWIND_MAX_BUILD_MS * 1000000ULL,
	};
	struct builder b = { .elf = elf, .lim = lim ? *lim : dflt };
	int err;

	*out = NULL;
	if (b.lim.max_ns)
		b.deadline = now_ns() + b.lim.max_ns;
	err = check_elf(elf);
	if (err)
		goto out;
	err = builder_open_cfi(&b);
	if (err)
		goto out;
	b.t = calloc(1, sizeof(*b.t));
	err = b.t ? build_rows(&b) : -ENOMEM;
out:
	if (err)
		unwind_table__free(b.t);
	else
		*out = b.t;
	if (b.cfi[FDE_EH])
		dwarf_cfi_end(b.cfi[FDE_EH]);
	dwarf_end(b.dw);
	free(b.fdes);
	return err;
}

/* Build from @elf (NULL when libelf refused the image), then release it. */
static int build_and_end(Elf *elf, const struct unwind_limits *lim, struct unwind_table **out)
{
	int err = elf ? build_elf(elf, lim, out) : -ENOEXEC;

	elf_end(elf);
	return err;
}

int unwind_table__from_fd_limited(int fd, const struct unwind_limits *lim,
				  struct unwind_table **out)
{
	*out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	/* read, never mapped: the file's owner may truncate it meanwhile */
	return build_and_end(elf_begin(fd, ELF_C_READ, NULL), lim, out);
}

int unwind_table__from_fd(int fd, struct unwind_table **out)
{
	return unwind_table__from_fd_limited(fd, NULL, out);
}

int unwind_table__build(const char *path, struct unwind_table **out)
{
	int fd, err;

	*out = NULL;
	fd = file__open_regular(path, 0, NULL);
	if (fd < 0)
		return fd;
	err = unwind_table__from_fd(fd, out);
	close(fd);
	return err;
}

int unwind_table__from_memory(const void *img, size_t len,
			      struct unwind_table **out)
{
	*out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	/* elf_memory() takes char * but ELF_C_READ never writes through it */
	return build_and_end(elf_memory((char *)img, len), NULL, out);
}

void unwind_table__free(struct unwind_table *t)
{
	if (!t)
		return;
	free(t->rows);
	free(t);
}

const struct unwind_row *unwind_table__rows(const struct unwind_table *t,
					    size_t *n)
{
	*n = t->n;
	return t->rows;
}

uint64_t unwind_table__base(const struct unwind_table *t)
{
	return t->base;
}

void unwind_table__stats(const struct unwind_table *t, struct unwind_stats *st)
{
	*st = t->stats;
}

/* Index of the last row with pc_off <= @off; rows[0].pc_off is 0. */
static size_t row_index(const struct unwind_table *t, uint64_t off)
{
	size_t lo = 0, hi = t->n, mid;

	while (hi - lo > 1) {	/* rows[lo].pc_off <= off < rows[hi].pc_off */
		mid = lo + (hi - lo) / 2;
		if (t->rows[mid].pc_off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

const struct unwind_row *unwind_table__lookup(const struct unwind_table *t,
					      uint64_t vaddr)
{
	size_t i;

	if (t->n == 0 || vaddr < t->base || vaddr - t->base > UINT32_MAX)
		return NULL;
	i = row_index(t, vaddr - t->base);
	/* the last row only marks where coverage ends */
	return i == t->n - 1 ? NULL : &t->rows[i];
}
