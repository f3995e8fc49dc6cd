/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * extents.h - free ranges of the unwind row pool (collector-private; used
 * by unwinder.c).
 */
#ifndef EMBER_EXTENTS_H
#define EMBER_EXTENTS_H

#include <stdint.h>

struct extent {
	uint32_t first, n;
};

struct extents {
	struct extent *v;	/* sorted by first, never adjacent */
	int n, cap;
};

/* One free extent of @n rows.  Returns 0 or -ENOMEM. */
int extents__init(struct extents *x, uint32_t n);

/* Releases the list; safe on a zeroed or freed one. */
void extents__free(struct extents *x);

/* Returns rows to the free list.  -ENOMEM: they leak from the pool, nothing worse. */
int extents__put(struct extents *x, uint32_t first, uint32_t n);

/* Takes @n rows, first fit.  Returns 0 with *first set, or -ENOSPC. */
int extents__get(struct extents *x, uint32_t n, uint32_t *first);

#endif /* EMBER_EXTENTS_H */
