/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * unwind.h - compiles an ELF file's call frame information (.eh_frame and
 * .debug_frame) into a compact sorted table of 8-byte rows that the BPF
 * unwinder can binary-search, plus a C reference of the BPF unwind step.
 *
 * Tables are keyed by ELF virtual address: a pc in a process maps to
 * vaddr = pc - load bias, and rows are relative to unwind_table__base().
 */
#ifndef EMBER_UNWIND_H
#define EMBER_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "unwind_abi.h"

struct unwind_table;

/* Counters from one build; "CFI rows" are libdw's rows before merging. */
struct unwind_stats {
	size_t rows;		/* rows in the table, terminator included */
	size_t bytes;		/* rows * sizeof(struct unwind_row) */
	size_t fdes;		/* FDEs walked */
	size_t cfi_rows;	/* CFI rows seen */
	size_t expr_rows;	/* CFA is a DWARF expression (signal frames not counted) */
	size_t invalid_rows;	/* CFI rows classified INVALID (gaps not counted) */
	size_t gap_rows;	/* INVALID rows marking code without an FDE */
	/* Why CFI rows became INVALID (one row may count once, first cause). */
	size_t bad_cfa_reg;	/* CFA based on a register other than rsp/rbp */
	size_t bad_cfa_expr;	/* CFA expression other than the PLT one */
	size_t bad_cfa_off;	/* CFA offset outside s16 */
	size_t bad_ra;		/* return address not at cfa - 8 */
	size_t bad_rbp;		/* rbp saved somewhere an s8 cfa offset cannot say */
	size_t debug_frame_fdes;	/* FDEs taken from .debug_frame */
	bool cut;		/* over its budget: covers only the pcs up to the cut */
};

/*
 * What one table build may take.  libdw decodes an FDE's instructions from
 * its start for every row (dwarf_cfi_addrframe), so crafted CFI (one FDE
 * of a million rows) makes a build quadratic.  A build past either limit
 * stops there: the rows so far are kept, coverage ends at the cut, and
 * unwind_stats.cut is set.  0 in a field: no limit.
 */
struct unwind_limits {
	size_t max_cfi_rows;	/* CFI rows decoded */
	uint64_t max_ns;	/* CLOCK_MONOTONIC time spent */
};

/* The limits every build without its own gets (unwind_table__from_fd_limited()). */
#define UNWIND_MAX_CFI_ROWS	(4u << 20)
#define UNWIND_MAX_BUILD_MS	5000u

/*
 * Build the table for the ELF file at @path (executable, shared object),
 * within the default limits (struct unwind_limits).  On success returns 0 and stores a table in *@out, owned by the caller
 * (release with unwind_table__free()).  Returns -ENOENT when the file has
 * no CFI (use frame pointers), -ENOEXEC when it is not an x86_64 ELF file,
 * -EINVAL for corrupt CFI, -ENOMEM, or another -errno from open().
 */
int unwind_table__build(const char *path, struct unwind_table **out);

/* As unwind_table__build() for an open @fd; @fd stays the caller's. */
int unwind_table__from_fd(int fd, struct unwind_table **out);

/* As unwind_table__from_fd() within @lim (NULL: the default limits). */
int unwind_table__from_fd_limited(int fd, const struct unwind_limits *lim,
				  struct unwind_table **out);

/*
 * As unwind_table__build() for an ELF image of @len bytes at @img, such as
 * a vDSO read from /proc/PID/mem.  @img is not kept after the call.
 */
int unwind_table__from_memory(const void *img, size_t len,
			      struct unwind_table **out);

/* Release @t; NULL is a no-op. */
void unwind_table__free(struct unwind_table *t);

/* The rows, sorted by pc_off, count in *@n; valid until the table is freed. */
const struct unwind_row *unwind_table__rows(const struct unwind_table *t,
					    size_t *n);

/* Lowest ELF vaddr covered: row pc_off values are relative to it. */
uint64_t unwind_table__base(const struct unwind_table *t);

/*
 * The row in force at ELF vaddr @vaddr: the last row with pc_off <=
 * @vaddr - base.  NULL when @vaddr lies below the base or at/after the
 * end of coverage.  Callers look up a return address as ra - 1.
 */
const struct unwind_row *unwind_table__lookup(const struct unwind_table *t,
					      uint64_t vaddr);

/* Copy the build counters of @t into *@st. */
void unwind_table__stats(const struct unwind_table *t, struct unwind_stats *st);

/* Registers of one frame, absolute addresses in the unwound process. */
struct unwind_regs {
	uint64_t pc;
	uint64_t sp;
	uint64_t bp;
	bool is_ret;	/* pc is a return address: look its row up at pc - 1 */
};

/* Read 8 bytes at @addr of the unwound process; 0 or -EFAULT. */
typedef int (*unwind_read_fn)(uint64_t addr, uint64_t *val, void *ctx);

/*
 * Step @regs from a frame to its caller using @row (NULL: no row, as for
 * INVALID), reading memory through @read_mem(@ctx).  This is the BPF step
 * spelled out in C.  Returns 0 with @regs now the caller's frame;
 * -ENODATA when the stack ends cleanly (STOP row, return address 0);
 * -ESRCH when no rule applies and rbp is not a plausible frame pointer;
 * -EFAULT when a read fails; -ELOOP when the caller's sp is not above sp
 * (the walk would not make progress).
 */
int unwind__step(const struct unwind_row *row, struct unwind_regs *regs,
		 unwind_read_fn read_mem, void *ctx);

#endif /* EMBER_UNWIND_H */
