// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * step.c - the reference unwind step: one frame from a table row, exactly
 * as the BPF unwinder does it, so tests can walk real stacks with the
 * tables and the BPF code has a spec to be checked against.
 */
#include <errno.h>
#include "unwind.h"

/* Move to the caller whose sp is @cfa; rbp saved at cfa + @rbp_off if set. */
static int step_cfa(struct unwind_regs *regs, uint64_t cfa, int rbp_off,
		    unwind_read_fn read_mem, void *ctx)
{
	uint64_t ra, bp = regs->bp;
	int err;

	if (cfa <= regs->sp)
		return -ELOOP;
	err = read_mem(cfa - 8, &ra, ctx);
	if (!err && rbp_off)
		err = read_mem(cfa + rbp_off, &bp, ctx);
	if (err)
		return err;
	if (ra == 0)
		return -ENODATA;
	regs->pc = ra;
	regs->sp = cfa;
	regs->bp = bp;
	regs->is_ret = true;
	return 0;
}

/* No usable row: trust rbp as a frame pointer if it points just above sp. */
static int step_fp(struct unwind_regs *regs, unwind_read_fn read_mem,
		   void *ctx)
{
	if (regs->bp <= regs->sp || regs->bp - regs->sp >= UNWIND_FP_MAX_FRAME)
		return -ESRCH;
	return step_cfa(regs, regs->bp + 16, -16, read_mem, ctx);
}

/* rt_sigreturn trampoline: the interrupted registers sit in the ucontext. */
static int step_signal(struct unwind_regs *regs, unwind_read_fn read_mem,
		       void *ctx)
{
	uint64_t g = regs->sp + UNWIND_SIGFRAME_MCONTEXT, bp, sp, pc;
	int err;

	err = read_mem(g + 8 * UNWIND_SIGFRAME_RBP, &bp, ctx);
	if (!err)
		err = read_mem(g + 8 * UNWIND_SIGFRAME_RSP, &sp, ctx);
	if (!err)
		err = read_mem(g + 8 * UNWIND_SIGFRAME_RIP, &pc, ctx);
	if (err)
		return err;
	if (pc == 0)
		return -ENODATA;
	regs->pc = pc;
	regs->sp = sp;
	regs->bp = bp;
	regs->is_ret = false;	/* an exact pc, not a return address */
	return 0;
}

/* The caller's sp under a RSP, RBP or PLT row. */
static uint64_t row_cfa(const struct unwind_row *row,
			const struct unwind_regs *regs)
{
	uint64_t k = row->kind == UNWIND_PLT10 ? 10 : 11;

	switch (row->kind) {
	case UNWIND_RSP:
		return regs->sp + row->cfa_off;
	case UNWIND_RBP:
		return regs->bp + row->cfa_off;
	default:	/* PLT: 8 more once the entry's push has run */
		return regs->sp + 8 + ((regs->pc & 15) >= k ? 8 : 0);
	}
}

int unwind__step(const struct unwind_row *row, struct unwind_regs *regs,
		 unwind_read_fn read_mem, void *ctx)
{
	switch (row ? row->kind : UNWIND_INVALID) {
	case UNWIND_RSP:
	case UNWIND_RBP:
	case UNWIND_PLT10:
	case UNWIND_PLT11:
		return step_cfa(regs, row_cfa(row, regs), row->rbp_off,
				read_mem, ctx);
	case UNWIND_SIGNAL:
		return step_signal(regs, read_mem, ctx);
	case UNWIND_STOP:
		return -ENODATA;
	default:
		return step_fp(regs, read_mem, ctx);
	}
}
