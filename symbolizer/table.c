// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * table.c - the symbolizer's two containers: a u64 -> pointer hash map
 * (address and pid caches) and a string pool that interns every string a
 * frame hands out, so repeat names cost one copy and a whole pool is
 * released at once.  Open addressing keeps both to one allocation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Slot of @key, or of the empty slot where it would go; NULL values mark empty slots. */
static size_t hmap_slot(const struct hmap *m, uint64_t key)
{
	size_t i = mix64(key) & (m->cap - 1);

	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *hmap__get(const struct hmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	return m->vals[hmap_slot(m, key)];
}

static int hmap_grow(struct hmap *m)
{
	struct hmap n = { .cap = m->cap ? m->cap * 2 : 16 };
	size_t i;

	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return -ENOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		if (m->vals[i])
			hmap__put(&n, m->keys[i], m->vals[i]);
	}
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

/* Inserts or replaces; @val must not be NULL.  Returns 0 or -ENOMEM. */
int hmap__put(struct hmap *m, uint64_t key, void *val)
{
	size_t i;
	int err;

	if ((m->len + 1) * 2 > m->cap) {
		err = hmap_grow(m);
		if (err)
			return err;
	}
	i = hmap_slot(m, key);
	if (!m->vals[i])
		m->len++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

/* Removes @key and returns its value; later entries shift back (no tombstones). */
void *hmap__del(struct hmap *m, uint64_t key)
{
	size_t i, j, home, mask = m->cap - 1;
	void *val;

	if (!m->cap || !m->vals[i = hmap_slot(m, key)])
		return NULL;
	val = m->vals[i];
	m->vals[i] = NULL;
	m->len--;
	for (j = (i + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
		home = mix64(m->keys[j]) & mask;
		/* Move j into the hole unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) < ((j - i) & mask))
			continue;
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		m->vals[j] = NULL;
		i = j;
	}
	return val;
}

void hmap__clear(struct hmap *m, void (*fn)(void *val, void *ctx), void *ctx)
{
	size_t i;

	for (i = 0; fn && i < m->cap; i++) {
		if (m->vals[i])
			fn(m->vals[i], ctx);
	}
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

static int strpool_grow(struct strpool *p)
{
	size_t cap = p->cap ? p->cap * 2 : 256, i, j;
	char **slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < p->cap; i++) {
		if (!p->slots[i])
			continue;
		j = str_hash(p->slots[i]) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = p->slots[i];
	}
	free(p->slots);
	p->slots = slots;
	p->cap = cap;
	return 0;
}

const char *strpool__intern(struct strpool *p, const char *s)
{
	size_t i;

	if ((p->len + 1) * 2 > p->cap && strpool_grow(p)) {
		errno = ENOMEM;
		return NULL;
	}
	i = str_hash(s) & (p->cap - 1);
	while (p->slots[i] && strcmp(p->slots[i], s))
		i = (i + 1) & (p->cap - 1);
	if (!p->slots[i]) {
		p->slots[i] = strdup(s);
		if (!p->slots[i])
			return NULL;
		p->len++;
		p->bytes += strlen(s) + 1;
	}
	return p->slots[i];
}

void strpool__clear(struct strpool *p)
{
	size_t i;

	for (i = 0; i < p->cap; i++)
		free(p->slots[i]);
	free(p->slots);
	memset(p, 0, sizeof(*p));
}

/* Returns zeroed room for @n frames, or NULL with errno set. */
struct frames *frames__new(int n)
{
	struct frames *fr = calloc(1, sizeof(*fr) + n * sizeof(fr->f[0]));

	if (fr)
		fr->n = n;
	return fr;
}

struct frames *frames__one(struct hmap *cache, struct strpool *pool, const char *name,
			   const char *module, uint32_t flags)
{
	struct frames *fr = hmap__get(cache, (uintptr_t)name);

	if (fr)
		return fr;
	fr = frames__new(1);
	if (!fr)
		return NULL;
	fr->f[0].name = name;
	fr->f[0].module = strpool__intern(pool, module);
	fr->f[0].flags = flags;
	if (!fr->f[0].module || hmap__put(cache, (uintptr_t)name, fr)) {
		free(fr);
		errno = ENOMEM;
		return NULL;
	}
	return fr;
}
