// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * itab.c - byte-key intern table: open addressing over a key arena.
 *
 * One small structure serves every in-memory map of the store (strings,
 * frames, stack nodes and processes to database ids; a window's buffered
 * samples), because every key there can be written as a few bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "itab.h"

/* Multiply-xorshift over 8-byte words; keys are mostly small integers. */
static uint32_t hash_bytes(const void *key, uint32_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
	}
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return (uint32_t)(h ^ (h >> 32));
}

/* The slot holding @key, or the empty slot where it would go. */
static uint32_t *find_slot(const struct store_itab *t, const void *key, uint32_t len,
			   uint32_t hash)
{
	uint32_t mask = t->nslots - 1;
	uint32_t i;

	for (i = hash & mask;; i = (i + 1) & mask) {
		const struct store_itab_ent *e;

		if (!t->slots[i])
			return &t->slots[i];
		e = &t->ents[t->slots[i] - 1];
		if (e->hash == hash && e->len == len && !memcmp(t->arena + e->off, key, len))
			return &t->slots[i];
	}
}

/* Doubles the slot array (kept at most half full) and re-inserts every entry. */
static int grow_slots(struct store_itab *t)
{
	uint32_t n = t->nslots ? t->nslots * 2 : 64;
	uint32_t *old = t->slots;
	uint32_t i;

	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->nslots = n;
	for (i = 0; i < t->n; i++) {
		const struct store_itab_ent *e = &t->ents[i];

		*find_slot(t, t->arena + e->off, e->len, e->hash) = i + 1;
	}
	free(old);
	return 0;
}

static int grow_ents(struct store_itab *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 64;
	void *p;

	p = realloc(t->ents, (size_t)cap * sizeof(*t->ents));
	if (!p)
		return -ENOMEM;
	t->ents = p;
	t->cap = cap;
	return 0;
}

static int grow_arena(struct store_itab *t, uint64_t need)
{
	uint64_t cap = t->acap ? t->acap * 2 : 1024;
	void *p;

	while (cap < need)
		cap *= 2;
	p = realloc(t->arena, cap);
	if (!p)
		return -ENOMEM;
	t->arena = p;
	t->acap = cap;
	return 0;
}

/* Makes room for one more entry with a @len-byte key. */
static int reserve(struct store_itab *t, uint32_t len)
{
	if (t->n == UINT32_MAX - 1)
		return -ENOMEM;
	if ((uint64_t)(t->n + 1) * 2 > t->nslots && grow_slots(t))
		return -ENOMEM;
	if (t->n == t->cap && grow_ents(t))
		return -ENOMEM;
	if (t->alen + len + 1 > t->acap && grow_arena(t, t->alen + len + 1))
		return -ENOMEM;
	return 0;
}

int store_itab__intern(struct store_itab *t, const void *key, uint32_t len, uint32_t *idx,
		       bool *added)
{
	uint32_t hash = hash_bytes(key, len);
	uint32_t *slot = NULL;
	struct store_itab_ent *e;

	if (added)
		*added = false;
	if (t->nslots) {
		slot = find_slot(t, key, len, hash);
		if (*slot) {
			*idx = *slot - 1;
			return 0;
		}
	}
	if (reserve(t, len))
		return -ENOMEM;
	/* reserve() may have rehashed: find the empty slot again. */
	slot = find_slot(t, key, len, hash);
	e = &t->ents[t->n];
	e->off = t->alen;
	e->len = len;
	e->hash = hash;
	e->val = 0;
	if (len)
		memcpy(t->arena + t->alen, key, len);
	t->arena[t->alen + len] = '\0';	/* so string keys read as C strings */
	t->alen += len + 1;
	*idx = t->n++;
	*slot = t->n;
	if (added)
		*added = true;
	return 0;
}

int store_itab__find(const struct store_itab *t, const void *key, uint32_t len,
		     uint32_t *idx)
{
	uint32_t slot;

	if (!t->nslots)
		return -ENOENT;
	slot = *find_slot(t, key, len, hash_bytes(key, len));
	if (!slot)
		return -ENOENT;
	*idx = slot - 1;
	return 0;
}

const void *store_itab__key(const struct store_itab *t, uint32_t idx)
{
	return t->arena + t->ents[idx].off;
}

void store_itab__clear(struct store_itab *t)
{
	free(t->slots);
	free(t->ents);
	free(t->arena);
	memset(t, 0, sizeof(*t));
}
