// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * write.c - windows: buffering samples in memory, then writing them in one
 * transaction.
 *
 * store__window_add() interns everything inside the window (strings,
 * frames, stacks, processes, (process, stack) rows) so a window costs
 * memory per distinct item, not per sample, and can be committed again
 * unchanged after a failed attempt.  The commit maps each local item to a
 * database id through the store's id caches, touching SQLite only for
 * items this connection has not seen before.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* Local id of a NULL string. */
#define NONE UINT32_MAX

/* A frame as buffered: local string ids. */
struct wframe {
	uint32_t name, module, file, line, flags, build_id;
};

/* A process as buffered: local string ids. */
struct wproc {
	uint32_t comm, pid, exe, cgroup;
};

/* A sample row: local process and stack ids. */
struct wrow {
	uint32_t proc, stack;
};

struct store_window {
	struct store *st;
	int64_t start_ms, dur_ms;
	bool committed;
	uint64_t truncated;		/* stacks cut to STORE_MAX_FRAMES */
	/* Each val is the database id found by the last commit attempt. */
	struct store_itab strs;		/* string bytes */
	struct store_itab frames;	/* struct wframe */
	struct store_itab stacks;	/* local frame ids, root first */
	struct store_itab procs;	/* struct wproc */
	struct store_itab rows;		/* struct wrow; val is the summed count */
	uint32_t key[STORE_MAX_FRAMES];	/* scratch for a stack key */
	uint32_t dbkey[STORE_MAX_FRAMES];	/* the same stack as database frame ids */
};

int store__window_begin(struct store *st, int64_t start_ms, int64_t dur_ms,
			struct store_window **out)
{
	struct store_window *w;

	if (!st || !out || dur_ms <= 0)
		return -EINVAL;
	*out = NULL;
	if (st->flags & STORE_READONLY)
		return -EROFS;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->st = st;
	w->start_ms = start_ms;
	w->dur_ms = dur_ms;
	*out = w;
	return 0;
}

int store__window_set_span(struct store_window *w, int64_t start_ms, int64_t dur_ms)
{
	if (!w || dur_ms <= 0)
		return -EINVAL;
	if (w->committed)
		return -EALREADY;
	w->start_ms = start_ms;
	w->dur_ms = dur_ms;
	return 0;
}

uint64_t store__window_truncated(const struct store_window *w)
{
	return w ? w->truncated : 0;
}

void store__window_free(struct store_window *w)
{
	if (!w)
		return;
	store_itab__clear(&w->strs);
	store_itab__clear(&w->frames);
	store_itab__clear(&w->stacks);
	store_itab__clear(&w->procs);
	store_itab__clear(&w->rows);
	free(w);
}

static int add_str(struct store_window *w, const char *s, uint32_t *id)
{
	size_t len;

	if (!s) {
		*id = NONE;
		return 0;
	}
	len = strlen(s);
	if (len > STORE_MAX_NAME)
		return -E2BIG;
	return store_itab__intern(&w->strs, s, (uint32_t)len, id, NULL);
}

/*
 * A frame's module and build id as the frame before it in one stack had
 * them: neighbours mostly share them, and within one call the caller's
 * strings stay as they are, so the same pointer is the same string.
 */
struct str_memo {
	const char *module, *build_id;
	uint32_t module_id, build_id_id;
};

/* add_str() of @s, unless it is *@last (then *@last_id). */
static int add_str_memo(struct store_window *w, const char *s, const char **last,
			uint32_t *last_id, uint32_t *id)
{
	int err;

	if (s && s == *last) {
		*id = *last_id;
		return 0;
	}
	err = add_str(w, s, id);
	if (!err) {
		*last = s;
		*last_id = *id;
	}
	return err;
}

static int add_frame(struct store_window *w, const struct frame *f, struct str_memo *m,
		     uint32_t *id)
{
	struct wframe k = { .line = f->line, .flags = f->flags };
	int err;

	if (!f->name)
		return -EINVAL;
	err = add_str(w, f->name, &k.name);
	if (!err)
		err = add_str_memo(w, f->module, &m->module, &m->module_id, &k.module);
	if (!err)
		err = add_str(w, f->file, &k.file);
	if (!err)
		err = add_str_memo(w, f->build_id, &m->build_id, &m->build_id_id, &k.build_id);
	if (!err)
		err = store_itab__intern(&w->frames, &k, sizeof(k), id, NULL);
	return err;
}

/* Interns the stack @head (NULL or one frame, the root) + @frames[0..@n). */
static int add_stack(struct store_window *w, const struct frame *head,
		     const struct frame *frames, int n, uint32_t *id)
{
	struct str_memo m = { 0 };
	int i, k = 0, err = 0;

	if (head)
		err = add_frame(w, head, &m, &w->key[k++]);
	for (i = 0; i < n && !err; i++)
		err = add_frame(w, &frames[i], &m, &w->key[k++]);
	if (!err)
		err = store_itab__intern(&w->stacks, w->key, k * sizeof(w->key[0]), id, NULL);
	return err;
}

/* Whether local stack @stack starts with the "[truncated]" marker. */
static bool is_cut(const struct store_window *w, uint32_t stack)
{
	uint32_t root;
	struct wframe f;

	memcpy(&root, store_itab__key(&w->stacks, stack), sizeof(root));
	memcpy(&f, store_itab__key(&w->frames, root), sizeof(f));
	return f.flags == FRAME_F_UNKNOWN && f.module == NONE && f.file == NONE &&
	       w->strs.ents[f.name].len == 11 &&
	       !memcmp(store_itab__key(&w->strs, f.name), "[truncated]", 11);
}

static int add_proc(struct store_window *w, const struct store_proc *p, uint32_t *id)
{
	struct wproc k = { .pid = p->pid };
	int err;

	err = add_str(w, p->comm, &k.comm);
	if (!err)
		err = add_str(w, p->exe, &k.exe);
	if (!err)
		err = add_str(w, p->cgroup, &k.cgroup);
	if (!err)
		err = store_itab__intern(&w->procs, &k, sizeof(k), id, NULL);
	return err;
}

int store__window_add_stack(struct store_window *w, const struct frame *frames, int nframes,
			    uint32_t *stack)
{
	static const struct frame cut = { .name = "[truncated]", .flags = FRAME_F_UNKNOWN };

	if (!w || !stack || nframes < 0 || (nframes && !frames))
		return -EINVAL;
	if (w->committed)
		return -EALREADY;
	if (nframes <= STORE_MAX_FRAMES)
		return add_stack(w, NULL, frames, nframes, stack);
	/* keep the leaf end, where the time is spent, under one marker frame */
	return add_stack(w, &cut, frames + nframes - (STORE_MAX_FRAMES - 1), STORE_MAX_FRAMES - 1,
			 stack);
}

int store__window_add_row(struct store_window *w, const struct store_proc *proc, uint32_t stack,
			  uint64_t count)
{
	struct wrow row = { .stack = stack };
	uint32_t idx, n;
	int err;

	if (!w || !proc || !proc->comm || stack >= w->stacks.n)
		return -EINVAL;
	if (w->committed)
		return -EALREADY;
	if (!count)
		return 0;
	err = add_proc(w, proc, &row.proc);
	if (!err)
		err = store_itab__intern(&w->rows, &row, sizeof(row), &idx, NULL);
	if (err)
		return err;
	/* Counts are SQLite integers: keep the sum within int64. */
	if (count > (uint64_t)(INT64_MAX - w->rows.ents[idx].val))
		return -EOVERFLOW;
	w->rows.ents[idx].val += (int64_t)count;
	n = w->stacks.ents[stack].len / sizeof(uint32_t);
	if (n == STORE_MAX_FRAMES && is_cut(w, stack))
		w->truncated += count;
	return 0;
}

int store__window_add(struct store_window *w, const struct store_proc *proc,
		      const struct frame *frames, int nframes, uint64_t count)
{
	uint32_t stack;
	int err;

	if (!w || !proc || !proc->comm)
		return -EINVAL;
	if (!count)
		return w->committed ? -EALREADY : 0;
	err = store__window_add_stack(w, frames, nframes, &stack);
	return err ? err : store__window_add_row(w, proc, stack, count);
}

/* Remembers @id for @key in @cache. */
static int cache_put(struct store_itab *cache, const void *key, uint32_t len, int64_t id)
{
	uint32_t idx;
	int err;

	err = store_itab__intern(cache, key, len, &idx, NULL);
	if (!err)
		cache->ents[idx].val = id;
	return err;
}

/* Looks a string up by its exact bytes (statement @i = 0), inserting it if missing. */
static int db_string(struct store *st, const void *p, uint32_t len, int64_t *id)
{
	static const enum store_stmt ids[2] = { S_STR_GET, S_STR_PUT };
	int i, rc = SQLITE_OK;

	for (i = 0; i < 2; i++) {
		sqlite3_stmt *s = st->stmt[ids[i]];

		sqlite3_reset(s);
		rc = sqlite3_bind_blob(s, 1, p, (int)len, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*id = sqlite3_column_int64(s, 0);
		else if (rc == SQLITE_DONE && i == 1)
			*id = sqlite3_last_insert_rowid(st->db);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE || i == 1)
			break;
	}
	return rc == SQLITE_ROW ? 0 : store_rc(st, rc);
}

static int intern_str(struct store *st, const void *p, uint32_t len, int64_t *id)
{
	uint32_t idx;
	int err;

	if (!store_itab__find(&st->strs, p, len, &idx)) {
		*id = st->strs.ents[idx].val;
		return 0;
	}
	err = db_string(st, p, len, id);
	if (!err)
		err = cache_put(&st->strs, p, len, *id);
	return err;
}

/*
 * Database id of the row whose key columns are @k[0..@n), through @cache;
 * statement @get finds it and the one after @get inserts it.  With @fresh
 * (may be NULL), *@fresh says on entry that the row cannot be there yet
 * (a key holding a row inserted just now), and on return whether it was
 * inserted.
 */
static int intern_ints(struct store *st, struct store_itab *cache, enum store_stmt get,
		       const int64_t *k, int n, int64_t *id, bool *fresh)
{
	uint32_t len = n * sizeof(*k), idx;
	bool known_new = fresh && *fresh;
	int err;

	if (fresh)
		*fresh = false;
	if (!known_new && !store_itab__find(cache, k, len, &idx)) {
		*id = cache->ents[idx].val;
		return 0;
	}
	err = known_new ? -ENOENT : store_run(st, get, k, n, id);
	if (err == -ENOENT) {
		err = store_run(st, get + 1, k, n, NULL);
		if (!err) {
			*id = sqlite3_last_insert_rowid(st->db);
			if (fresh)
				*fresh = true;
		} else if (err == -EEXIST && known_new) {
			/* the unique index has the last word */
			err = store_run(st, get, k, n, id);
		}
	}
	if (!err)
		err = cache_put(cache, k, len, *id);
	return err;
}

/* Database id of local string @id (0 for NULL). */
static int64_t str_id(const struct store_window *w, uint32_t id)
{
	return id == NONE ? 0 : w->strs.ents[id].val;
}

static int resolve_strings(struct store_window *w)
{
	struct store_itab *t = &w->strs;
	uint32_t i;
	int err = 0;

	for (i = 0; i < t->n && !err; i++)
		err = intern_str(w->st, store_itab__key(t, i), t->ents[i].len, &t->ents[i].val);
	return err;
}

static int resolve_frames(struct store_window *w)
{
	struct store_itab *t = &w->frames;
	uint32_t i;
	int err = 0;

	for (i = 0; i < t->n && !err; i++) {
		struct wframe f;
		int64_t k[6];

		memcpy(&f, store_itab__key(t, i), sizeof(f));
		k[0] = str_id(w, f.name);
		k[1] = str_id(w, f.module);
		k[2] = str_id(w, f.file);
		k[3] = f.line;
		k[4] = f.flags;
		k[5] = str_id(w, f.build_id);
		err = intern_ints(w->st, &w->st->frames, S_FRAME_GET, k, 6, &t->ents[i].val, NULL);
	}
	return err;
}

/* Walks the trie from the root along w->key[0..@n), adding the nodes it lacks. */
static int walk_stack(struct store_window *w, uint32_t n, int64_t *node)
{
	int64_t k[2] = { 0, 0 }, id = 0;
	bool fresh = false;	/* below a node inserted now, every node is new */
	uint32_t j;
	int err = 0;

	for (j = 0; j < n && !err; j++, k[0] = id) {
		/* not into k[0]: the cache must keep the key as it was looked up */
		k[1] = w->frames.ents[w->key[j]].val;
		err = intern_ints(w->st, &w->st->nodes, S_NODE_GET, k, 2, &id, &fresh);
	}
	*node = id;
	return err;
}

/*
 * Finds stack @i's leaf node, first in the store's whole-stack cache (one
 * lookup instead of one per frame), which holds frame ids that fit 32 bits.
 */
static int resolve_stack(struct store_window *w, uint32_t i)
{
	struct store_itab *t = &w->stacks, *cache = &w->st->stacks;
	uint32_t j, idx, n = t->ents[i].len / sizeof(uint32_t);
	bool cacheable = true;
	int err;

	memcpy(w->key, store_itab__key(t, i), t->ents[i].len);
	for (j = 0; j < n; j++) {
		int64_t id = w->frames.ents[w->key[j]].val;

		cacheable &= id <= UINT32_MAX;
		w->dbkey[j] = (uint32_t)id;
	}
	if (cacheable && !store_itab__find(cache, w->dbkey, n * 4, &idx)) {
		t->ents[i].val = cache->ents[idx].val;
		return 0;
	}
	err = walk_stack(w, n, &t->ents[i].val);
	if (!err && cacheable)
		err = cache_put(cache, w->dbkey, n * 4, t->ents[i].val);
	return err;
}

static int resolve_procs(struct store_window *w)
{
	struct store_itab *t = &w->procs;
	uint32_t i;
	int err = 0;

	for (i = 0; i < t->n && !err; i++) {
		struct wproc p;
		int64_t k[4];

		memcpy(&p, store_itab__key(t, i), sizeof(p));
		k[0] = str_id(w, p.comm);
		k[1] = p.pid;
		k[2] = str_id(w, p.exe);
		k[3] = str_id(w, p.cgroup);
		err = intern_ints(w->st, &w->st->procs, S_PROC_GET, k, 4, &t->ents[i].val, NULL);
	}
	return err;
}

/* The window's samples summed per process, into win_procs (window @win). */
static int write_proc_sums(struct store_window *w, int64_t win)
{
	struct store_itab *t = &w->rows;
	struct store_agg g = {};
	uint32_t i;
	int err = 0;

	for (i = 0; i < t->n && !err; i++) {
		struct wrow r;

		memcpy(&r, store_itab__key(t, i), sizeof(r));
		err = store_agg__add(&g, 0, w->procs.ents[r.proc].val, t->ents[i].val);
	}
	if (!err)
		err = store_sums__window(w->st, win, &g, t->n);
	store_agg__free(&g);
	return err;
}

static int write_samples(struct store_window *w)
{
	struct store_itab *t = &w->rows;
	int64_t v[4] = { w->start_ms, w->dur_ms, 0, 0 };
	uint32_t i;
	int err;

	for (i = 0; i < t->n; i++)
		v[2] += t->ents[i].val;
	err = store_run(w->st, S_WIN_PUT, v, 3, NULL);
	v[0] = sqlite3_last_insert_rowid(w->st->db);
	for (i = 0; i < t->n && !err; i++) {
		struct wrow r;

		memcpy(&r, store_itab__key(t, i), sizeof(r));
		v[1] = w->procs.ents[r.proc].val;
		v[2] = w->stacks.ents[r.stack].val;
		v[3] = t->ents[i].val;
		err = store_run(w->st, S_SAMPLE_PUT, v, 4, NULL);
	}
	if (!err)
		err = write_proc_sums(w, v[0]);
	if (!err)
		err = store_hour_drop(w->st, w->start_ms);
	return err;
}

/*
 * Called inside the write transaction: drops caches that grew past their
 * bound, and all of them if another connection committed (it may have
 * deleted rows, e.g. by retention).
 */
static int check_caches(struct store *st)
{
	struct store_itab *caches[] = {
		&st->strs, &st->frames, &st->nodes, &st->procs, &st->stacks,
	};
	int64_t version = 0;
	size_t i;
	int err;

	err = store_run(st, S_DATA_VERSION, NULL, 0, &version);
	if (err)
		return err;
	if (version != st->data_version)
		store_caches_clear(st);
	st->data_version = version;
	for (i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
		if (caches[i]->n > STORE_CACHE_MAX || caches[i]->alen > STORE_CACHE_BYTES)
			store_itab__clear(caches[i]);
	return 0;
}

/* Everything a commit does inside its transaction. */
static int write_window(struct store_window *w)
{
	uint32_t i;
	int err;

	err = check_caches(w->st);
	if (!err)
		err = resolve_strings(w);
	if (!err)
		err = resolve_frames(w);
	for (i = 0; i < w->stacks.n && !err; i++)
		err = resolve_stack(w, i);
	if (!err)
		err = resolve_procs(w);
	if (!err)
		err = write_samples(w);
	return err;
}

int store__window_commit(struct store_window *w)
{
	int err;

	if (!w)
		return -EINVAL;
	if (w->committed)
		return -EALREADY;
	err = store_begin(w->st, true);
	if (err)
		return err;
	err = write_window(w);
	if (!err)
		err = store_commit(w->st);
	if (err) {
		/* The rolled-back ids may be in the caches: forget them all. */
		store_rollback(w->st);
		store_caches_clear(w->st);
		return err;
	}
	w->committed = true;
	return 0;
}
