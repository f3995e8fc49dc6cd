// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * pyprefetch.c - names Python frames while their process still runs.
 * Code objects can only be read from the live process, and a short-lived
 * one is gone by the drain that would name its last samples; so, between
 * drains, BPF reports each sample key new in its half whose stack holds
 * CPython frames (EVENT_PY_STACK), and that stack's code objects are read
 * into the symbolizer's cache (keyed by process, address and checksum,
 * kept until the drain after the process's exit).  Each stack is looked
 * at once per drain and process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "internal.h"

#define SEEN_CAP 16384		/* stacks remembered per drain (power of two) */

struct py_prefetch {
	uint64_t *seen;		/* (tgid, stack hash) mixes; 0: empty */
	size_t nseen;
	struct dw_stack *stack;
};

struct py_prefetch *py_prefetch__new(void)
{
	struct py_prefetch *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->seen = calloc(SEEN_CAP, sizeof(*p->seen));
	p->stack = malloc(sizeof(*p->stack));
	if (!p->seen || !p->stack) {
		py_prefetch__free(p);
		return NULL;
	}
	return p;
}

void py_prefetch__free(struct py_prefetch *p)
{
	if (!p)
		return;
	free(p->seen);
	free(p->stack);
	free(p);
}

void py_prefetch__reset(struct py_prefetch *p)
{
	memset(p->seen, 0, SEEN_CAP * sizeof(*p->seen));
	p->nseen = 0;
}

/* True the first time (tgid, hash) is offered since the last reset (or when full). */
static bool first_look(struct py_prefetch *p, uint32_t tgid, uint64_t hash)
{
	uint64_t k = ((hash ^ tgid) * 0x9e3779b97f4a7c15ULL) | 1;
	size_t i = k & (SEEN_CAP - 1);

	if (p->nseen >= SEEN_CAP / 2)
		return true;
	while (p->seen[i]) {
		if (p->seen[i] == k)
			return false;
		i = (i + 1) & (SEEN_CAP - 1);
	}
	p->seen[i] = k;
	p->nseen++;
	return true;
}

/* Reads the code objects of one stack's Python frames into the cache. */
static void prefetch_stack(struct collector *c, uint32_t tgid, const struct dw_stack *st)
{
	const struct frame *fr;
	uint64_t n = st->len < MAX_STACK_DEPTH ? st->len : MAX_STACK_DEPTH, i;

	for (i = 0; i + 1 < n; i++) {
		if ((st->ips[i] & PY_FRAME_MASK) != PY_FRAME_MARK)
			continue;
		python__frame(c->python, c->sym, tgid, st->ips[i], st->ips[i + 1], &fr);
		i++;
	}
}

void py_prefetch__stack(struct collector *c, struct py_prefetch *p,
			const struct ember_py_stack_event *e)
{
	struct profile_bpf *skel = c->sampler->skel;
	int fd = bpf_map__fd(e->half & 1 ? skel->maps.ustacks_dw1 : skel->maps.ustacks_dw0);

	/* a stack of an earlier half is gone: the drain named what it could */
	if (!p || !python__knows(c->python, e->tgid) || !first_look(p, e->tgid, e->uhash) ||
	    bpf_map_lookup_elem(fd, &e->uhash, p->stack))
		return;
	prefetch_stack(c, e->tgid, p->stack);
}
