/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * itab.h - a byte-key intern table (open addressing over a key arena), used
 * by the store for its id caches and window buffers, and by the web layer
 * for flame trees.
 */
#ifndef EMBER_STORE_ITAB_H
#define EMBER_STORE_ITAB_H

#include <stdbool.h>
#include <stdint.h>

/*
 * An intern table: byte keys (copied into an arena) map to dense indices
 * 0, 1, 2... in insertion order, each with a free int64 value.
 */
struct store_itab_ent {
	uint64_t off;		/* key offset in the arena */
	uint32_t len;
	uint32_t hash;
	int64_t val;
};

struct store_itab {
	uint32_t *slots;	/* 0 = empty, else entry index + 1 */
	uint32_t nslots;	/* power of two, or 0 before the first insert */
	struct store_itab_ent *ents;
	uint32_t n, cap;
	unsigned char *arena;
	uint64_t alen, acap;
};

/*
 * Interns @key; sets *idx to its index and *added to whether it is new
 * (@added may be NULL).  Returns 0 or -ENOMEM.
 */
int store_itab__intern(struct store_itab *t, const void *key, uint32_t len, uint32_t *idx,
		       bool *added);

/* Sets *idx to @key's index.  Returns 0 or -ENOENT. */
int store_itab__find(const struct store_itab *t, const void *key, uint32_t len,
		     uint32_t *idx);

/* The key bytes of entry @idx, NUL-terminated (valid until the next intern). */
const void *store_itab__key(const struct store_itab *t, uint32_t idx);

/* Forgets every entry and frees the memory. */
void store_itab__clear(struct store_itab *t);

#endif /* EMBER_STORE_ITAB_H */
