// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * resolve.c - turning process and stack ids back into strings for one
 * query.  Processes, stack nodes, frames and strings are loaded once into
 * memo tables, since neighbouring stacks share most of their frames.
 *
 * Stack nodes are looked up one by one when a query needs few of them; when
 * it needs many (a day of a busy host), one sequential read of the whole
 * trie is several times cheaper than as many index lookups.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* Read the whole trie once a query has more than 1/BULK_RATIO of its size in stacks. */
#define BULK_RATIO 64

/* Per-query memo: database id (as the itab key) -> loaded item (same index). */
struct store_resolver {
	struct store *st;
	struct store_itab str_ids;
	char **strs;
	uint32_t strs_cap;
	struct store_itab frame_ids;
	struct frame *frames;
	uint32_t frames_cap;
	struct store_itab node_ids;	/* val: parent node */
	int64_t *node_fid;		/* the node's frame id */
	uint32_t node_cap;
	int64_t *all_parent, *all_fid;	/* the whole trie by node id (fid 0: none) */
	int64_t nall;
	uint32_t *frame_ix;		/* with the whole trie: frame id -> memo index + 1 */
	int64_t nframe_ix;
	struct store_itab proc_ids;
	struct store_proc *procs;
	uint32_t procs_cap;
	int64_t path[STORE_MAX_FRAMES];	/* frame ids, leaf first */
	struct frame out[STORE_MAX_FRAMES];
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
static int fetch_row(struct store_resolver *q, enum store_stmt sid, int64_t id,
		     sqlite3_stmt **out)
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
static int get_str(struct store_resolver *q, int64_t id, const char **out)
{
	sqlite3_stmt *s;
	uint32_t idx;
	bool added;
	int err;

	*out = NULL;
	if (!id)
		return 0;
	/* Room first, so every memo entry has a slot store_resolver__free() can free. */
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
static int load_frame(struct store_resolver *q, int64_t id, uint32_t idx)
{
	struct frame f;
	sqlite3_stmt *s;
	int64_t name, module, file, build_id;
	int err;

	err = fetch_row(q, S_FRAME_BY_ID, id, &s);
	if (err)
		return err;
	name = sqlite3_column_int64(s, 0);
	module = sqlite3_column_int64(s, 1);
	file = sqlite3_column_int64(s, 2);
	f.line = sqlite3_column_int64(s, 3);
	f.flags = sqlite3_column_int64(s, 4);
	build_id = sqlite3_column_int64(s, 5);
	sqlite3_reset(s);
	err = get_str(q, name, &f.name);
	if (!err)
		err = get_str(q, module, &f.module);
	if (!err)
		err = get_str(q, file, &f.file);
	if (!err)
		err = get_str(q, build_id, &f.build_id);
	if (!err && !f.name)
		err = -EUCLEAN;
	if (!err)
		q->frames[idx] = f;
	return err;
}

static int get_frame(struct store_resolver *q, int64_t id, uint32_t *idx)
{
	bool direct = id > 0 && id < q->nframe_ix, added;
	int err;

	if (direct && q->frame_ix[id]) {
		*idx = q->frame_ix[id] - 1;
		return 0;
	}
	err = memo(&q->frame_ids, id, idx, &added);
	if (!err && direct)
		q->frame_ix[id] = *idx + 1;
	if (!err && added)
		err = grow(&q->frames, &q->frames_cap, *idx + 1, sizeof(*q->frames));
	if (!err && added)
		err = load_frame(q, id, *idx);
	return err;
}

/* Records node @id (parent, frame id); returns its memo index in *idx. */
static int put_node(struct store_resolver *q, int64_t id, int64_t parent, int64_t fid,
		    uint32_t *idx, bool *added)
{
	int err;

	err = memo(&q->node_ids, id, idx, added);
	if (!err && *added)
		err = grow(&q->node_fid, &q->node_cap, *idx + 1, sizeof(*q->node_fid));
	if (err || !*added)
		return err;
	q->node_ids.ents[*idx].val = parent;
	q->node_fid[*idx] = fid;
	return 0;
}

/* Sets *parent and *fid for stack node @id. */
static int get_node(struct store_resolver *q, int64_t id, int64_t *parent, int64_t *fid)
{
	sqlite3_stmt *s;
	uint32_t idx;
	bool added;
	int err;

	if (id > 0 && id < q->nall && q->all_fid[id]) {
		*parent = q->all_parent[id];
		*fid = q->all_fid[id];
		return 0;
	}
	err = store_itab__find(&q->node_ids, &id, sizeof(id), &idx);
	if (err) {
		err = fetch_row(q, S_NODE_BY_ID, id, &s);
		if (!err)
			err = put_node(q, id, sqlite3_column_int64(s, 0),
				       sqlite3_column_int64(s, 1), &idx, &added);
		sqlite3_reset(s);
	}
	if (!err) {
		*parent = q->node_ids.ents[idx].val;
		*fid = q->node_fid[idx];
	}
	return err;
}

int store_resolver__stack(struct store_resolver *q, int64_t id,
			  const struct frame **frames)
{
	uint32_t fi;
	int i, n = 0, err = 0;

	while (id && !err) {
		if (n == STORE_MAX_FRAMES)
			return -EUCLEAN;	/* a cycle, or deeper than we ever write */
		err = get_node(q, id, &id, &q->path[n++]);
	}
	for (i = 0; i < n && !err; i++) {
		err = get_frame(q, q->path[n - 1 - i], &fi);
		if (!err)
			q->out[i] = q->frames[fi];
	}
	*frames = q->out;
	return err ? err : n;
}

/*
 * Reads every node of the trie (ids below @max + 1) in one sequential pass,
 * and makes frames findable by id without hashing.
 */
static int load_all_nodes(struct store_resolver *q, int64_t max)
{
	sqlite3_stmt *s = NULL;
	int64_t id, maxf = 0;
	int rc, err;

	err = store_query_int(q->st, "SELECT ifnull(max(id), 0) FROM frames", &maxf);
	if (err)
		return err;
	/* frames are fewer than nodes; a file claiming otherwise gets no shortcut */
	if (maxf > 0 && maxf <= max) {
		q->frame_ix = calloc(maxf + 1, sizeof(*q->frame_ix));
		if (!q->frame_ix)
			return -ENOMEM;
		q->nframe_ix = maxf + 1;
	}

	q->all_parent = calloc(max + 1, sizeof(*q->all_parent));
	q->all_fid = calloc(max + 1, sizeof(*q->all_fid));
	if (!q->all_parent || !q->all_fid)
		return -ENOMEM;
	q->nall = max + 1;
	err = store_rc(q->st, sqlite3_prepare_v2(q->st->db, "SELECT id, parent, frame FROM stacks"
						 " WHERE id > 0 AND id <= ?1", -1, &s, NULL));
	if (!err)
		sqlite3_bind_int64(s, 1, max);
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		id = sqlite3_column_int64(s, 0);
		q->all_parent[id] = sqlite3_column_int64(s, 1);
		q->all_fid[id] = sqlite3_column_int64(s, 2);
	}
	if (!err && rc != SQLITE_DONE)
		err = store_rc(q->st, rc);
	sqlite3_finalize(s);
	return err;
}

int store_resolver__prepare(struct store_resolver *q, uint32_t nstacks)
{
	sqlite3_stmt *s = NULL;
	int64_t max = 0;
	int rc, err;

	err = store_rc(q->st, sqlite3_prepare_v2(q->st->db, "SELECT ifnull(max(id), 0) FROM stacks",
						 -1, &s, NULL));
	if (!err) {
		rc = sqlite3_step(s);
		max = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		err = rc == SQLITE_ROW ? 0 : store_rc(q->st, rc);
	}
	sqlite3_finalize(s);
	if (!err && max > 0 && (int64_t)nstacks * BULK_RATIO >= max)
		err = load_all_nodes(q, max);
	return err;
}

static int load_proc(struct store_resolver *q, int64_t id, struct store_proc *p)
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

int store_resolver__proc(struct store_resolver *q, int64_t id, struct store_proc *out)
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

struct store_resolver *store_resolver__new(struct store *st)
{
	struct store_resolver *q = calloc(1, sizeof(*q));

	if (q)
		q->st = st;
	return q;
}

void store_resolver__free(struct store_resolver *q)
{
	uint32_t i;

	if (!q)
		return;
	for (i = 0; i < q->str_ids.n; i++)
		free(q->strs[i]);
	free(q->strs);
	free(q->frames);
	free(q->node_fid);
	free(q->all_parent);
	free(q->all_fid);
	free(q->frame_ix);
	free(q->procs);
	store_itab__clear(&q->str_ids);
	store_itab__clear(&q->frame_ids);
	store_itab__clear(&q->node_ids);
	store_itab__clear(&q->proc_ids);
	free(q);
}
