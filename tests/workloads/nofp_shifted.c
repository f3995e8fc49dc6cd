// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * nofp_shifted.c - nofp_chain with 64 KiB of code ahead of its functions:
 * the same chain at other addresses, so a table built for nofp_chain is
 * wrong for it.  tests/e2e/test_unwind_slots.py writes it over a copy of
 * nofp_chain in place (same inode) and expects the agent to notice.
 */
__attribute__((used, noinline)) void nofp_pad(void)
{
	__asm__ volatile(".fill 65536, 1, 0x90");
}

#include "nofp_chain.c"
