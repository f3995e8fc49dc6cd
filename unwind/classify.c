// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * classify.c - maps one libdw CFI row onto the few rules the BPF unwinder
 * can evaluate (rsp/rbp + offset, the PLT expression, signal frame, end of
 * stack).  Anything else becomes INVALID so BPF falls back to rbp.
 */
#include <dwarf.h>
#include "internal.h"

#define DWARF_RBP	6
#define DWARF_RSP	7
#define DWARF_RIP	16

/* The PLT CFA: breg7 8; breg16 0; lit15; and; litK; ge; lit3; shl; plus. */
static const uint8_t plt_shape[] = {
	DW_OP_breg7, DW_OP_breg16, DW_OP_lit15, DW_OP_and, 0 /* litK */,
	DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus,
};

/* UNWIND_PLT10/11 when @ops is the PLT expression, else UNWIND_INVALID. */
static int plt_kind(const Dwarf_Op *ops, size_t nops)
{
	size_t i;

	if (nops != sizeof(plt_shape))
		return UNWIND_INVALID;
	for (i = 0; i < nops; i++) {
		if (i != 4 && ops[i].atom != plt_shape[i])
			return UNWIND_INVALID;
	}
	if (ops[0].number != 8 || ops[1].number != 0)
		return UNWIND_INVALID;
	if (ops[4].atom == DW_OP_lit10)
		return UNWIND_PLT10;
	if (ops[4].atom == DW_OP_lit11)
		return UNWIND_PLT11;
	return UNWIND_INVALID;
}

/* True when the register rule is "saved at CFA + *@off" (off != 0). */
static bool saved_at_cfa(const Dwarf_Op *ops, size_t nops, int64_t *off)
{
	if (nops != 2 || ops[0].atom != DW_OP_call_frame_cfa ||
	    ops[1].atom != DW_OP_plus_uconst)
		return false;
	*off = (int64_t)ops[1].number;
	return true;
}

/* A CFA expression: only the PLT one is understood in BPF. */
static int classify_expr(const Dwarf_Op *ops, size_t nops,
			 struct unwind_row *r, struct unwind_stats *st)
{
	st->expr_rows++;
	r->kind = plt_kind(ops, nops);
	if (r->kind != UNWIND_INVALID)
		return 0;
	st->bad_cfa_expr++;
	return -1;
}

/* Fill kind and cfa_off from the CFA rule; 0, or -1 when unusable. */
static int classify_cfa(Dwarf_Frame *fr, struct unwind_row *r,
			struct unwind_stats *st)
{
	Dwarf_Op *ops;
	size_t nops;
	int64_t off;

	if (dwarf_frame_cfa(fr, &ops, &nops) != 0 || nops == 0) {
		st->bad_cfa_expr++;
		return -1;
	}
	if (nops != 1 || ops[0].atom != DW_OP_bregx)
		return classify_expr(ops, nops, r, st);
	off = (int64_t)ops[0].number2;
	if (ops[0].number != DWARF_RSP && ops[0].number != DWARF_RBP) {
		st->bad_cfa_reg++;
		return -1;
	}
	if (off < INT16_MIN || off > INT16_MAX) {
		st->bad_cfa_off++;
		return -1;
	}
	r->kind = ops[0].number == DWARF_RSP ? UNWIND_RSP : UNWIND_RBP;
	r->cfa_off = off;
	return 0;
}

/* Fill rbp_off from rbp's rule; 0, or -1 when an s8 cannot say it. */
static int classify_rbp(Dwarf_Frame *fr, struct unwind_row *r,
			struct unwind_stats *st)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;
	int64_t off;

	if (dwarf_frame_register(fr, DWARF_RBP, mem, &ops, &nops) != 0)
		goto bad;
	if (nops == 0)		/* same value, or undefined */
		return 0;
	if (!saved_at_cfa(ops, nops, &off) || off % 8 != 0 ||
	    off < INT8_MIN || off > INT8_MAX)
		goto bad;
	r->rbp_off = off;
	return 0;
bad:
	st->bad_rbp++;
	return -1;
}

/* UNWIND_STOP when RA is undefined, 0 when RA is at cfa - 8, else -1. */
static int classify_ra(Dwarf_Frame *fr, int ra_reg, struct unwind_stats *st)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;
	int64_t off;

	if (ra_reg != DWARF_RIP)
		goto bad;
	if (dwarf_frame_register(fr, ra_reg, mem, &ops, &nops) != 0)
		goto bad;
	if (nops == 0 && ops != NULL)
		return UNWIND_STOP;
	if (saved_at_cfa(ops, nops, &off) && off == -8)
		return 0;
bad:
	st->bad_ra++;
	return -1;
}

struct unwind_row row__classify(Dwarf_Frame *fr, int ra_reg, bool signal,
				struct unwind_stats *st)
{
	struct unwind_row r = { .kind = UNWIND_INVALID };
	int ra;

	st->cfi_rows++;
	if (signal) {
		r.kind = UNWIND_SIGNAL;
		return r;
	}
	ra = classify_ra(fr, ra_reg, st);
	if (ra == UNWIND_STOP) {
		r.kind = UNWIND_STOP;
		return r;
	}
	if (ra < 0 || classify_cfa(fr, &r, st) < 0 ||
	    classify_rbp(fr, &r, st) < 0) {
		st->invalid_rows++;
		return (struct unwind_row){ .kind = UNWIND_INVALID };
	}
	return r;
}
