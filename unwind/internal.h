/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * internal.h - what the unwind table builder's files share: the table
 * itself, the FDE list the builder walks, and the row classifier.
 */
#ifndef EMBER_UNWIND_INTERNAL_H
#define EMBER_UNWIND_INTERNAL_H

#include <elfutils/libdw.h>
#include <gelf.h>
#include "unwind.h"

struct unwind_table {
	struct unwind_row *rows;
	size_t n;
	size_t cap;
	uint64_t base;
	struct unwind_stats stats;
};

/* Which CFI an FDE came from; .eh_frame wins when both cover a pc. */
enum fde_src {
	FDE_EH = 0,
	FDE_DEBUG = 1,
};

struct fde_ref {
	uint64_t start;		/* ELF vaddr of the FDE's first instruction */
	enum fde_src src;
};

/* Scratch state for one build. */
struct builder {
	Elf *elf;
	Dwarf *dw;		/* only to reach .debug_frame */
	Dwarf_CFI *cfi[2];	/* indexed by enum fde_src */
	struct fde_ref *fdes;
	size_t nfdes;
	size_t capfdes;
	struct unwind_table *t;
	struct unwind_limits lim;
	uint64_t deadline;	/* CLOCK_MONOTONIC ns; 0: none */
	size_t walked;		/* CFI rows decoded so far */
};

/* Find the section called @name; NULL when absent. */
Elf_Scn *elf_scn_by_name(Elf *elf, const char *name);

/*
 * Fill b->fdes with the start of every FDE in b->cfi[], sorted by start,
 * duplicates and starts outside executable segments dropped.
 * Returns 0, -EINVAL on malformed CFI, or -ENOMEM.
 */
int fdes__collect(struct builder *b);

/*
 * Turn one libdw frame @fr (return address in DWARF register @ra_reg,
 * @signal from dwarf_frame_info()) into a row without pc_off.  Never
 * fails: rules a row cannot express become UNWIND_INVALID, counted in @st.
 */
struct unwind_row row__classify(Dwarf_Frame *fr, int ra_reg, bool signal,
				struct unwind_stats *st);

#endif /* EMBER_UNWIND_INTERNAL_H */
