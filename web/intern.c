// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * intern.c - byte-key intern table (open addressing over a key arena), the
 * one map the flame tree needs: strings, frames and parent->child edges.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define LEN_BITS 21
#define LEN_MASK ((1ULL << LEN_BITS) - 1)

/* Multiply-xorshift over 8-byte words. */
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

const char *intern__key(const struct intern *t, uint32_t idx, uint32_t *len)
{
	uint64_t e = t->ents[idx];

	if (len)
		*len = e & LEN_MASK;
	return t->arena + (e >> LEN_BITS);
}

static bool key_eq(const struct intern *t, uint32_t idx, const void *key, uint32_t len)
{
	uint32_t l;
	const char *k = intern__key(t, idx, &l);

	return l == len && !memcmp(k, key, len);
}

static uint32_t *find_slot(const struct intern *t, const void *key, uint32_t len, uint32_t h)
{
	uint32_t mask = t->nslots - 1, i;

	for (i = h & mask;; i = (i + 1) & mask) {
		uint32_t s = t->slots[i];

		if (!s || key_eq(t, s - 1, key, len))
			return &t->slots[i];
	}
}

/* Doubles the slot array (kept at most half full) and re-inserts every key. */
static int rehash(struct intern *t)
{
	uint32_t n = t->nslots ? t->nslots * 2 : 1024, i, len;
	uint32_t *old = t->slots, oldn = t->nslots;
	const char *k;

	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->nslots = n;
	for (i = 0; i < oldn; i++) {
		if (!old[i])
			continue;
		k = intern__key(t, old[i] - 1, &len);
		*find_slot(t, k, len, hash_bytes(k, len)) = old[i];
	}
	free(old);
	return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 256;
	void *np;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	np = realloc(*p, c * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

static int append(struct intern *t, const void *key, uint32_t len)
{
	size_t cap = t->cap;
	int err;

	err = grow((void **)&t->arena, &t->acap, t->alen + len + 1, 1);
	if (!err)
		err = grow((void **)&t->ents, &cap, t->n + 1, sizeof(*t->ents));
	if (err)
		return err;
	t->cap = cap;
	memcpy(t->arena + t->alen, key, len);
	t->arena[t->alen + len] = '\0';	/* so string keys read as C strings */
	t->ents[t->n++] = (uint64_t)t->alen << LEN_BITS | len;
	t->alen += len + 1;
	return 0;
}

int intern__get(struct intern *t, const void *key, uint32_t len, uint32_t *idx, bool *added)
{
	uint32_t h = hash_bytes(key, len), *slot;
	int err;

	if (len > LEN_MASK)
		return -E2BIG;
	if ((t->n + 1) * 2 > t->nslots) {
		err = rehash(t);
		if (err)
			return err;
	}
	slot = find_slot(t, key, len, h);
	*added = !*slot;
	if (*slot) {
		*idx = *slot - 1;
		return 0;
	}
	err = append(t, key, len);
	if (err)
		return err;
	*slot = t->n;
	*idx = t->n - 1;
	return 0;
}

void intern__fini(struct intern *t)
{
	free(t->slots);
	free(t->ents);
	free(t->arena);
	memset(t, 0, sizeof(*t));
}
