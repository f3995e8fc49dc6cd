/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * folded.h - aggregates symbolized samples into folded stacks
 * (`comm;outer;...;leaf COUNT`), the format flamegraph.pl reads.
 */
#ifndef EMBER_FOLDED_H
#define EMBER_FOLDED_H

#include <stdint.h>
#include <stdio.h>
#include "collector.h"

struct folded;

struct folded_stats {
	uint64_t samples;		/* sum of all counts */
	uint64_t stacks;		/* distinct folded lines */
	uint64_t processes;		/* distinct tgids */
};

/* Returns an empty profile, or NULL with errno set. */
struct folded *folded__new(void);

/* NULL is a no-op. */
void folded__free(struct folded *f);

/* Adds one symbolized sample.  Returns 0 or -ENOMEM. */
int folded__add(struct folded *f, const struct collector_sample *s);

/* Writes every line, sorted.  Returns 0 or -errno (e.g. -ENOSPC). */
int folded__write(struct folded *f, FILE *out);

void folded__stats(const struct folded *f, struct folded_stats *stats);

#endif /* EMBER_FOLDED_H */
