// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * extents.c - the free list of the unwind row pool: sorted extents, first
 * fit, merged with their neighbours when given back, so files of any size
 * come and go without the pool fragmenting for good.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "extents.h"

int extents__init(struct extents *x, uint32_t n)
{
	x->v = malloc(sizeof(*x->v));
	if (!x->v)
		return -ENOMEM;
	x->v[0] = (struct extent){ 0, n };
	x->n = x->cap = 1;
	return 0;
}

void extents__free(struct extents *x)
{
	free(x->v);
	x->v = NULL;
	x->n = x->cap = 0;
}

/* Returns rows to the free list, merging with neighbours. */
int extents__put(struct extents *x, uint32_t first, uint32_t n)
{
	struct extent *e;
	int i;

	for (i = 0; i < x->n && x->v[i].first < first; i++)
		;
	if (i > 0 && x->v[i - 1].first + x->v[i - 1].n == first) {
		x->v[i - 1].n += n;
		if (i < x->n && first + n == x->v[i].first) {
			x->v[i - 1].n += x->v[i].n;
			memmove(&x->v[i], &x->v[i + 1], (--x->n - i) * sizeof(*e));
		}
		return 0;
	}
	if (i < x->n && first + n == x->v[i].first) {
		x->v[i].first = first;
		x->v[i].n += n;
		return 0;
	}
	if (x->n == x->cap) {
		e = realloc(x->v, 2 * x->cap * sizeof(*e));
		if (!e)
			return -ENOMEM;	/* the rows leak from the pool, nothing worse */
		x->v = e;
		x->cap *= 2;
	}
	memmove(&x->v[i + 1], &x->v[i], (x->n++ - i) * sizeof(*e));
	x->v[i] = (struct extent){ first, n };
	return 0;
}

/* First fit.  Returns 0 with *first set, or -ENOSPC. */
int extents__get(struct extents *x, uint32_t n, uint32_t *first)
{
	int i;

	for (i = 0; i < x->n; i++) {
		if (x->v[i].n < n)
			continue;
		*first = x->v[i].first;
		x->v[i].first += n;
		x->v[i].n -= n;
		if (!x->v[i].n)
			memmove(&x->v[i], &x->v[i + 1], (--x->n - i) * sizeof(x->v[0]));
		return 0;
	}
	return -ENOSPC;
}
