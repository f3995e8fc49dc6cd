/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * unwind_abi.h - the compact unwind row shared by the table builder and BPF.
 *
 * Fixed-width kernel types only, so the BPF programs can include it next to
 * vmlinux.h (define UNWIND_ABI_NO_LINUX_TYPES there to skip linux/types.h).
 */
#ifndef EMBER_UNWIND_ABI_H
#define EMBER_UNWIND_ABI_H

#ifndef UNWIND_ABI_NO_LINUX_TYPES
#include <linux/types.h>
#endif

/*
 * What a row says about the frame whose pc falls in
 * [base + pc_off, base + next row's pc_off).  "cfa" is the caller's sp.
 */
enum unwind_kind {
	UNWIND_RSP = 0,		/* cfa = rsp + cfa_off */
	UNWIND_RBP = 1,		/* cfa = rbp + cfa_off */
	UNWIND_PLT10 = 2,	/* cfa = rsp + 8, + 8 more when (rip & 15) >= 10 */
	UNWIND_PLT11 = 3,	/* cfa = rsp + 8, + 8 more when (rip & 15) >= 11 */
	UNWIND_SIGNAL = 4,	/* rt_sigreturn trampoline: regs in the ucontext at rsp */
	UNWIND_STOP = 5,	/* return address undefined: bottom of the stack */
	UNWIND_INVALID = 6,	/* no usable rule here (or no FDE): try frame pointers */
};

/*
 * Eight bytes, sorted by pc_off.  For RSP/RBP/PLT rows the return address
 * is at cfa - 8; rbp_off != 0 means the caller's rbp is saved at
 * cfa + rbp_off, 0 means rbp is unchanged.  cfa_off is 0 for other kinds.
 * A table always ends with an INVALID row marking the end of coverage.
 */
struct unwind_row {
	__u32 pc_off;		/* ELF vaddr - table base */
	__s16 cfa_off;
	__s8 rbp_off;
	__u8 kind;		/* enum unwind_kind */
};

/* Where the signal frame keeps the interrupted registers (x86_64 ucontext). */
#define UNWIND_SIGFRAME_MCONTEXT	40	/* uc_mcontext.gregs from rsp */
#define UNWIND_SIGFRAME_RBP		10	/* gregs[REG_RBP] */
#define UNWIND_SIGFRAME_RSP		15	/* gregs[REG_RSP] */
#define UNWIND_SIGFRAME_RIP		16	/* gregs[REG_RIP] */

/* The frame-pointer fallback trusts rbp only within this window above rsp. */
#ifndef UNWIND_FP_MAX_FRAME
#define UNWIND_FP_MAX_FRAME		(8u << 20)
#endif

#endif /* EMBER_UNWIND_ABI_H */
