// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * sums.c - the packed sums queries read instead of samples: per window,
 * its samples summed per process (win_procs.data, the timeline and the
 * process list); per settled hour, per (process, stack) (hours.data,
 * flame graphs; see hours.c).
 *
 * A table row per sum would cost ~20 bytes each, a fifth of the samples
 * again; packed as varints sorted by id, deltas from the previous entry,
 * a sum takes 3 to 5 bytes, and decoding it in C is cheaper than stepping
 * SQLite through a row.  The blobs come from a file: decoding checks
 * every length and fails with -EUCLEAN on anything malformed.
 *
 *   procs:  { varint proc - previous proc, varint count } ...
 *   stacks: { varint proc - previous proc, varint stack (- previous stack
 *             when the proc delta is 0 and not first), varint count } ...
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* Fewer sample rows per process than this in a window: no sums for it. */
#define SUMS_MIN_ROWS_PER_PROC 2

static void blob_varint(struct store_blob *b, uint64_t v)
{
	unsigned char *p;
	size_t cap;

	if (b->err)
		return;
	if (b->len + 10 > b->cap) {
		cap = b->cap ? b->cap * 2 : 256;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	while (v >= 0x80) {
		b->p[b->len++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (unsigned char)v;
}

void store_blob__free(struct store_blob *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Reads one varint of at most 10 bytes.  Returns 0 or -EUCLEAN. */
static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	unsigned shift = 0;

	*v = 0;
	while (*p < end && shift < 64) {
		unsigned char c = *(*p)++;

		if (shift == 63 && c > 1)
			return -EUCLEAN;	/* past 64 bits */
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
		shift += 7;
	}
	return -EUCLEAN;
}

int store_blob__procs(struct store_blob *b, const struct store_agg_ent *e, uint32_t n)
{
	int64_t prev = 0;
	uint32_t i;

	b->len = 0;
	for (i = 0; i < n; i++) {
		if (e[i].b <= prev && i)
			return -EINVAL;	/* not sorted */
		blob_varint(b, (uint64_t)(e[i].b - prev));
		blob_varint(b, e[i].sum);
		prev = e[i].b;
	}
	return b->err;
}

int store_blob__stacks(struct store_blob *b, const struct store_agg_ent *e, uint32_t n)
{
	int64_t proc = 0, stack = 0;
	uint32_t i;

	b->len = 0;
	for (i = 0; i < n; i++) {
		if (i && (e[i].a < proc || (e[i].a == proc && e[i].b <= stack)))
			return -EINVAL;	/* not sorted */
		blob_varint(b, (uint64_t)(e[i].a - proc));
		blob_varint(b, (uint64_t)(i && e[i].a == proc ? e[i].b - stack : e[i].b));
		blob_varint(b, e[i].sum);
		proc = e[i].a;
		stack = e[i].b;
	}
	return b->err;
}

/* Adds @d to the id *@id; a sum past INT64_MAX means a damaged blob. */
static int add_id(int64_t *id, uint64_t d)
{
	if (d > (uint64_t)INT64_MAX - (uint64_t)*id)
		return -EUCLEAN;
	*id += (int64_t)d;
	return 0;
}

static bool wanted(const struct store_procset *ok, int64_t proc)
{
	const int64_t *lo, *hi, *mid;

	if (!ok)
		return true;
	for (lo = ok->ids, hi = ok->ids + ok->n; lo < hi;) {
		mid = lo + (hi - lo) / 2;
		if (*mid == proc)
			return true;
		if (*mid < proc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int store_blob__add_procs(const void *blob, size_t len, int64_t bucket,
			  const struct store_procset *ok, struct store_agg *g)
{
	const unsigned char *p = blob, *end = p + len;
	int64_t proc = 0;
	uint64_t d, count;
	int err = 0;

	while (p < end && !err) {
		err = get_varint(&p, end, &d);
		if (!err)
			err = get_varint(&p, end, &count);
		if (!err)
			err = add_id(&proc, d);
		if (!err && wanted(ok, proc))
			err = store_agg__add(g, bucket, proc, count);
	}
	return err;
}

int store_blob__add_stacks(const void *blob, size_t len, const struct store_procset *ok,
			   struct store_agg *g)
{
	const unsigned char *p = blob, *end = p + len;
	int64_t proc = 0, stack = 0;
	uint64_t d, s, count;
	bool first = true, want = false;
	uint32_t next = UINT32_MAX;	/* the entry after the last one added to */
	int err = 0;

	while (p < end && !err) {
		err = get_varint(&p, end, &d);
		if (!err)
			err = get_varint(&p, end, &s);
		if (!err)
			err = get_varint(&p, end, &count);
		if (err)
			break;
		if (d || first) {
			err = add_id(&proc, d);
			stack = 0;
			want = wanted(ok, proc);
		}
		first = false;
		if (!err)
			err = add_id(&stack, s);
		if (err || !want)
			continue;
		/* hours hold mostly the same pairs, in the same order: try the next entry first */
		if (next < g->n && g->ents[next].a == proc && g->ents[next].b == stack) {
			g->ents[next++].sum += count;
			continue;
		}
		err = store_agg__add_at(g, proc, stack, count, &next);
		next++;
	}
	return err;
}

int store_procset__load(struct store *st, const struct store_filter *f, int64_t comm,
			struct store_procset **out)
{
	struct store_procset *set;
	sqlite3_stmt *s = NULL;
	int64_t *ids;
	size_t cap = 0;
	int rc, err;

	*out = NULL;
	if (!f->comm && f->pid < 0)
		return 0;	/* any */
	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	/* by id: the order store_blob__add_*() search in */
	err = store_rc(st, sqlite3_prepare_v2(st->db, "SELECT id FROM procs WHERE (?1 = 0 OR"
					      " comm = ?1) AND (?2 < 0 OR pid = ?2) ORDER BY id",
					      -1, &s, NULL));
	if (!err) {
		sqlite3_bind_int64(s, 1, comm);
		sqlite3_bind_int64(s, 2, f->pid < 0 ? -1 : f->pid);
	}
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (set->n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = realloc(set->ids, cap * sizeof(*ids));
			if (!ids) {
				err = -ENOMEM;
				break;
			}
			set->ids = ids;
		}
		set->ids[set->n++] = sqlite3_column_int64(s, 0);
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(st, rc);
	sqlite3_finalize(s);
	if (err)
		store_procset__free(set);
	else
		*out = set;
	return err;
}

void store_procset__free(struct store_procset *set)
{
	if (!set)
		return;
	free(set->ids);
	free(set);
}

int store_sums__window(struct store *st, int64_t win, struct store_agg *g, uint64_t rows)
{
	struct store_blob b = { 0 };
	sqlite3_stmt *s = st->stmt[S_WPROC_PUT];
	int rc, err;

	/*
	 * A window of processes with a stack or two each (churn) spares a
	 * query few rows: its samples are read instead, and the sums cost the
	 * store at most ~2 bytes per sample row.
	 */
	if (rows < (uint64_t)g->n * SUMS_MIN_ROWS_PER_PROC)
		return 0;
	store_agg__sort(g);
	err = store_blob__procs(&b, g->ents, g->n);
	if (!err) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, win);
		sqlite3_bind_blob(s, 2, b.p ? (const void *)b.p : "", (int)b.len, SQLITE_STATIC);
		rc = sqlite3_step(s);
		err = rc == SQLITE_DONE ? 0 : store_rc(st, rc);
		sqlite3_reset(s);
	}
	store_blob__free(&b);
	return err;
}

int store_sums__rolled(struct store *st)
{
	sqlite3_stmt *s = NULL;
	struct store_agg g = { 0 };
	int64_t win = 0, w;
	uint64_t rows = 0;
	int rc, err;

	/* the receiving windows of a rollup batch (temp.rb), summed again per process */
	err = store_rc(st, sqlite3_prepare_v2(st->db, "SELECT rb.win, s.proc, sum(s.count), count(*)"
					      " FROM temp.rb CROSS JOIN samples s WHERE s.win = rb.win"
					      " GROUP BY rb.win, s.proc ORDER BY rb.win, s.proc",
					      -1, &s, NULL));
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		w = sqlite3_column_int64(s, 0);
		if (g.n && w != win) {
			err = store_sums__window(st, win, &g, rows);
			store_agg__free(&g);
			rows = 0;
		}
		win = w;
		rows += (uint64_t)sqlite3_column_int64(s, 3);
		if (!err)
			err = store_agg__add(&g, 0, sqlite3_column_int64(s, 1),
					     sqlite3_column_int64(s, 2));
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(st, rc);
	if (!err && g.n)
		err = store_sums__window(st, win, &g, rows);
	sqlite3_finalize(s);
	store_agg__free(&g);
	return err;
}
