// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * agg.c - summing samples per pair of ids in one pass, and the per-process
 * totals per time bucket (timeline, process list) built on it.
 *
 * SQLite's GROUP BY sorts its input unless an index already gives the
 * order; over a day of samples that sort of millions of rows is most of
 * a query's time.  Instead the scan feeds ember_sum(?agg, a, b, count), an
 * aggregate function that adds into a hash table of (a, b) pairs here, so
 * the only per-row work is the scan itself and one hash probe.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define AGG_PTR_TYPE "ember_agg"

static uint32_t pair_hash(int64_t a, int64_t b)
{
	uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ULL + (uint64_t)b;

	/* murmur3's finalizer: every input bit reaches the low bits we index by */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

/* Doubles the slot array (kept at most half full) and rehashes. */
static int agg_rehash(struct store_agg *g)
{
	uint32_t n = g->nslots ? g->nslots * 2 : 1024, i, h;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < g->n; i++) {
		h = pair_hash(g->ents[i].a, g->ents[i].b) & (n - 1);
		while (slots[h])
			h = (h + 1) & (n - 1);
		slots[h] = i + 1;
	}
	free(g->slots);
	g->slots = slots;
	g->nslots = n;
	return 0;
}

static int agg_append(struct store_agg *g, int64_t a, int64_t b, uint32_t *idx)
{
	struct store_agg_ent *e;
	uint32_t cap;

	if (g->n == g->cap) {
		cap = g->cap ? g->cap * 2 : 512;
		e = realloc(g->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		g->ents = e;
		g->cap = cap;
	}
	g->ents[g->n] = (struct store_agg_ent){ .a = a, .b = b };
	*idx = g->n++;
	return 0;
}

int store_agg__add_at(struct store_agg *g, int64_t a, int64_t b, uint64_t count, uint32_t *at)
{
	uint32_t h, i;
	int err;

	if ((g->n + 1) * 2 > g->nslots && agg_rehash(g))
		return -ENOMEM;
	h = pair_hash(a, b) & (g->nslots - 1);
	while ((i = g->slots[h])) {
		if (g->ents[i - 1].a == a && g->ents[i - 1].b == b) {
			g->ents[i - 1].sum += count;
			*at = i - 1;
			return 0;
		}
		h = (h + 1) & (g->nslots - 1);
	}
	err = agg_append(g, a, b, &i);
	if (err)
		return err;
	g->slots[h] = i + 1;
	g->ents[i].sum = count;
	*at = i;
	return 0;
}

int store_agg__add(struct store_agg *g, int64_t a, int64_t b, uint64_t count)
{
	uint32_t at;

	return store_agg__add_at(g, a, b, count, &at);
}

static int cmp_pair(const void *x, const void *y)
{
	const struct store_agg_ent *p = x, *q = y;

	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	if (p->b != q->b)
		return p->b < q->b ? -1 : 1;
	return 0;
}

void store_agg__sort(struct store_agg *g)
{
	/* The slots would point at the wrong entries now: drop them. */
	free(g->slots);
	g->slots = NULL;
	g->nslots = 0;
	if (g->n > 1)
		qsort(g->ents, g->n, sizeof(*g->ents), cmp_pair);
}

void store_agg__free(struct store_agg *g)
{
	free(g->ents);
	free(g->slots);
	memset(g, 0, sizeof(*g));
}

/* ember_sum(agg, a, b, count): adds count to pair (a, b) of the bound table. */
static void sum_step(sqlite3_context *cx, int argc, sqlite3_value **v)
{
	struct store_agg **pg = sqlite3_aggregate_context(cx, sizeof(*pg)), *g;

	(void)argc;
	if (!pg) {
		sqlite3_result_error_nomem(cx);
		return;
	}
	/* Looked up once per query: sqlite3_value_pointer() compares the type name. */
	if (!*pg)
		*pg = sqlite3_value_pointer(v[0], AGG_PTR_TYPE);
	g = *pg;
	if (!g) {
		sqlite3_result_error(cx, "ember_sum: no table bound", -1);
		return;
	}
	if (store_agg__add(g, sqlite3_value_int64(v[1]), sqlite3_value_int64(v[2]),
			   sqlite3_value_int64(v[3])))
		sqlite3_result_error_nomem(cx);
}

static void sum_final(sqlite3_context *cx)
{
	sqlite3_result_null(cx);
}

int store_agg__register(struct store *st)
{
	return store_rc(st, sqlite3_create_function_v2(st->db, "ember_sum", 4,
						      SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL,
						      NULL, sum_step, sum_final, NULL));
}

int store_agg__run(struct store *st, sqlite3_stmt *s, int param, struct store_agg *g)
{
	int rc;

	rc = sqlite3_bind_pointer(s, param, g, AGG_PTR_TYPE, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW)
		rc = sqlite3_step(s);
	return store_rc(st, rc);
}
