// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * query.c - reading samples back: summed counts per (process, stack) over
 * a time range, and the window timeline.
 *
 * SQLite does the filtering and summing (GROUP BY process and stack node);
 * this file turns each process and stack id back into strings.  Stacks,
 * frames, processes and strings are loaded once per query into memo
 * tables, since neighbouring stacks share most of their frames.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static const char query_sql[] =
	"SELECT s.proc, s.stack, sum(s.count) FROM windows w"
	" JOIN samples s ON s.win = w.id JOIN procs p ON p.id = s.proc"
	" WHERE w.start_ms >= ?1 AND w.start_ms < ?2 AND (?3 = 0 OR p.comm = ?3)"
	" AND (?4 < 0 OR p.pid = ?4) GROUP BY s.proc, s.stack";

/* Per-query memo: database id (as the itab key) -> loaded item (same index). */
struct qctx {
	struct store *st;
	struct store_itab str_ids;
	char **strs;
	uint32_t strs_cap;
	struct store_itab frame_ids;
	struct store_frame *frames;
	uint32_t frames_cap;
	struct store_itab node_ids;	/* val: parent node */
	uint32_t *node_frame;		/* index into frames */
	uint32_t node_cap;
	struct store_itab proc_ids;
	struct store_proc *procs;
	uint32_t procs_cap;
	uint32_t path[STORE_MAX_FRAMES];	/* frame indices, leaf first */
	struct store_frame out[STORE_MAX_FRAMES];
};

/* Grows *@arr (of @size-byte items) to hold at least @n items. */
static int grow(void *arr, uint32_t *cap, uint32_t n, size_t size)
{
	void **p = arr;
	uint32_t c = *cap ? *cap : 64;
	void *np;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	np = realloc(*p, c * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = c;
	return 0;
}

/*
 * Finds @id in @t or adds it.  Returns 0 with *idx set and *added telling
 * whether the caller must load the item, or -ENOMEM.
 */
static int memo(struct store_itab *t, int64_t id, uint32_t *idx, bool *added)
{
	return store_itab__intern(t, &id, sizeof(id), idx, added);
}

/* Steps @s (bound to one id) to its row, or fails with -EUCLEAN if it is missing. */
static int fetch_row(struct qctx *q, enum store_stmt sid, int64_t id, sqlite3_stmt **out)
{
	sqlite3_stmt *s = q->st->stmt[sid];
	int rc;

	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	*out = s;
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return -EUCLEAN;	/* a dangling id */
	}
	rc = store_rc(q->st, rc);
	sqlite3_reset(s);
	return rc;
}

/* Sets *out to string @id (NULL for 0), owned by the memo. */
static int get_str(struct qctx *q, int64_t id, const char **out)
{
	sqlite3_stmt *s;
	uint32_t idx;
	bool added;
	int err;

	*out = NULL;
	if (!id)
		return 0;
	/* Room first, so every memo entry has a slot qctx_fini() can free. */
	err = grow(&q->strs, &q->strs_cap, q->str_ids.n + 1, sizeof(*q->strs));
	if (!err)
		err = memo(&q->str_ids, id, &idx, &added);
	if (err)
		return err;
	if (added) {
		q->strs[idx] = NULL;
		err = fetch_row(q, S_STR_BY_ID, id, &s);
		if (!err)
			err = store_column_str(s, 0, &q->strs[idx]);
		sqlite3_reset(s);
	}
	*out = q->strs[idx];
	return err;
}

/* Loads frame @id into q->frames[idx]. */
static int load_frame(struct qctx *q, int64_t id, uint32_t idx)
{
	struct store_frame f;
	sqlite3_stmt *s;
	int64_t name, module, file;
	int err;

	err = fetch_row(q, S_FRAME_BY_ID, id, &s);
	if (err)
		return err;
	name = sqlite3_column_int64(s, 0);
	module = sqlite3_column_int64(s, 1);
	file = sqlite3_column_int64(s, 2);
	f.line = sqlite3_column_int64(s, 3);
	f.flags = sqlite3_column_int64(s, 4);
	sqlite3_reset(s);
	err = get_str(q, name, &f.name);
	if (!err)
		err = get_str(q, module, &f.module);
	if (!err)
		err = get_str(q, file, &f.file);
	if (!err && !f.name)
		err = -EUCLEAN;
	if (!err)
		q->frames[idx] = f;
	return err;
}

static int get_frame(struct qctx *q, int64_t id, uint32_t *idx)
{
	bool added;
	int err;

	err = memo(&q->frame_ids, id, idx, &added);
	if (!err && added)
		err = grow(&q->frames, &q->frames_cap, *idx + 1, sizeof(*q->frames));
	if (!err && added)
		err = load_frame(q, id, *idx);
	return err;
}

/* Sets *parent and *frame (an index into q->frames) for stack node @id. */
static int get_node(struct qctx *q, int64_t id, int64_t *parent, uint32_t *frame)
{
	sqlite3_stmt *s;
	uint32_t idx;
	int64_t fid;
	bool added;
	int err;

	err = memo(&q->node_ids, id, &idx, &added);
	if (!err && added)
		err = grow(&q->node_frame, &q->node_cap, idx + 1, sizeof(*q->node_frame));
	if (err || !added)
		goto out;
	err = fetch_row(q, S_NODE_BY_ID, id, &s);
	if (err)
		goto out;
	q->node_ids.ents[idx].val = sqlite3_column_int64(s, 0);
	fid = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	err = get_frame(q, fid, &q->node_frame[idx]);
out:
	if (!err) {
		*parent = q->node_ids.ents[idx].val;
		*frame = q->node_frame[idx];
	}
	return err;
}

/* Fills q->out with stack @id, root first; returns its depth or -errno. */
static int get_stack(struct qctx *q, int64_t id)
{
	int i, n = 0, err = 0;

	while (id && !err) {
		if (n == STORE_MAX_FRAMES)
			return -EUCLEAN;	/* a cycle, or deeper than we ever write */
		err = get_node(q, id, &id, &q->path[n++]);
	}
	if (err)
		return err;
	for (i = 0; i < n; i++)
		q->out[i] = q->frames[q->path[n - 1 - i]];
	return n;
}

static int load_proc(struct qctx *q, int64_t id, struct store_proc *p)
{
	int64_t comm, exe, cgroup;
	sqlite3_stmt *s;
	int err;

	err = fetch_row(q, S_PROC_BY_ID, id, &s);
	if (err)
		return err;
	comm = sqlite3_column_int64(s, 0);
	p->pid = sqlite3_column_int64(s, 1);
	exe = sqlite3_column_int64(s, 2);
	cgroup = sqlite3_column_int64(s, 3);
	sqlite3_reset(s);
	err = get_str(q, comm, &p->comm);
	if (!err)
		err = get_str(q, exe, &p->exe);
	if (!err)
		err = get_str(q, cgroup, &p->cgroup);
	if (!err && !p->comm)
		err = -EUCLEAN;
	return err;
}

static int get_proc(struct qctx *q, int64_t id, struct store_proc *out)
{
	uint32_t idx;
	bool added;
	int err;

	err = memo(&q->proc_ids, id, &idx, &added);
	if (!err && added)
		err = grow(&q->procs, &q->procs_cap, idx + 1, sizeof(*q->procs));
	if (!err && added)
		err = load_proc(q, id, &q->procs[idx]);
	if (!err)
		*out = q->procs[idx];
	return err;
}

static void qctx_fini(struct qctx *q)
{
	uint32_t i;

	for (i = 0; i < q->str_ids.n; i++)
		free(q->strs[i]);
	free(q->strs);
	free(q->frames);
	free(q->node_frame);
	free(q->procs);
	store_itab__clear(&q->str_ids);
	store_itab__clear(&q->frame_ids);
	store_itab__clear(&q->node_ids);
	store_itab__clear(&q->proc_ids);
	free(q);
}

/* String id of @comm, 0 for any, -1 (matches nothing) when never stored. */
static int comm_id(struct store *st, const char *comm, int64_t *id)
{
	sqlite3_stmt *s = st->stmt[S_STR_GET];
	int rc;

	*id = 0;
	if (!comm)
		return 0;
	sqlite3_reset(s);
	rc = sqlite3_bind_blob(s, 1, comm, (int)strlen(comm), SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : store_rc(st, rc);
}

/* Binds the filter to query_sql's parameters. */
static int bind_filter(struct store *st, sqlite3_stmt *s, const struct store_filter *f)
{
	int64_t comm;
	int err;

	err = comm_id(st, f->comm, &comm);
	if (err)
		return err;
	sqlite3_bind_int64(s, 1, f->from_ms);
	sqlite3_bind_int64(s, 2, f->to_ms);
	sqlite3_bind_int64(s, 3, comm);
	sqlite3_bind_int64(s, 4, f->pid < 0 ? -1 : f->pid);
	return 0;
}

/* Calls @fn per result row of @s. */
static int emit_rows(struct qctx *q, sqlite3_stmt *s, store_sample_fn fn, void *ctx)
{
	struct store_proc proc;
	int rc = SQLITE_DONE, n, err = 0;

	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		err = get_proc(q, sqlite3_column_int64(s, 0), &proc);
		if (err)
			break;
		n = get_stack(q, sqlite3_column_int64(s, 1));
		if (n < 0)
			err = n;
		else
			err = fn(ctx, &proc, q->out, n, sqlite3_column_int64(s, 2));
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(q->st, rc);
	return err;
}

int store__query(struct store *st, const struct store_filter *f, store_sample_fn fn,
		 void *ctx)
{
	sqlite3_stmt *s = NULL;
	struct qctx *q = NULL;
	int err;

	if (!st || !f || !fn)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->st = st;
	err = store_begin(st, false);	/* one snapshot for the whole walk */
	if (err)
		goto out;
	err = store_rc(st, sqlite3_prepare_v2(st->db, query_sql, -1, &s, NULL));
	if (!err)
		err = bind_filter(st, s, f);
	if (!err)
		err = emit_rows(q, s, fn, ctx);
	sqlite3_finalize(s);
	store_rollback(st);	/* read only: ending it is all that is needed */
out:
	qctx_fini(q);
	return err;
}

int store__windows(struct store *st, int64_t from_ms, int64_t to_ms, store_window_fn fn,
		   void *ctx)
{
	struct store_window_info wi;
	sqlite3_stmt *s = NULL;
	int rc, err;

	if (!st || !fn)
		return -EINVAL;
	rc = sqlite3_prepare_v2(st->db, "SELECT start_ms, dur_ms, samples FROM windows"
				" WHERE start_ms >= ?1 AND start_ms < ?2 ORDER BY start_ms, id",
				-1, &s, NULL);
	err = store_rc(st, rc);
	if (err)
		goto out;
	sqlite3_bind_int64(s, 1, from_ms);
	sqlite3_bind_int64(s, 2, to_ms);
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		wi.start_ms = sqlite3_column_int64(s, 0);
		wi.dur_ms = sqlite3_column_int64(s, 1);
		wi.samples = sqlite3_column_int64(s, 2);
		err = fn(ctx, &wi);
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(st, rc);
out:
	sqlite3_finalize(s);
	return err;
}
