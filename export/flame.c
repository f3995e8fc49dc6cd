// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * flame.c - the flame tree: samples merged by call path (root, comm, then
 * frames outermost first), with a total and self count per node on two
 * sides (the profile and, for diffs, its baseline), and pruning to a node
 * budget that moves the dropped weight into explicit "other" nodes; and the
 * kind/frame selection every export applies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static int intern_str(struct flame *t, const char *s, uint32_t *idx)
{
	bool added;

	if (!s) {
		*idx = FLAME_NONE;
		return 0;
	}
	return store_itab__intern(&t->strs, s, strlen(s), idx, &added);
}

/* Interns a frame by its strings and flags, each string once in t->strs. */
static int intern_frame_slow(struct flame *t, const char *name, const char *module,
			     const char *file, uint32_t flags, uint32_t *idx)
{
	struct tree_frame f = { .flags = flags };
	bool added;
	int err;

	err = intern_str(t, name, &f.name);
	if (!err)
		err = intern_str(t, module, &f.module);
	if (!err)
		err = intern_str(t, file, &f.file);
	if (!err)
		err = store_itab__intern(&t->frames, &f, sizeof(f), idx, &added);
	return err;
}

/*
 * The tree frame for (name, module, file, flags): one lookup of them all
 * written out as one key (t->frame_keys), the strings interned one by one
 * only for a frame not seen before.
 */
static int intern_frame_key(struct flame *t, const char *name, const char *module,
			    const char *file, uint32_t flags, uint32_t *idx)
{
	size_t ln = strlen(name), lm = module ? strlen(module) + 1 : 0;
	size_t lf = file ? strlen(file) + 1 : 0, len = 7 + ln + lm + lf;
	char *k = t->key;
	uint32_t ki;
	bool added;
	int err;

	if (len > t->key_cap) {
		k = realloc(t->key, len);
		if (!k)
			return -ENOMEM;
		t->key = k;
		t->key_cap = len;
	}
	/* flags, then each string with its NUL; a missing one is a lone 0xff */
	memcpy(k, &flags, 4);
	memcpy(k + 4, name, ln + 1);
	len = 5 + ln;
	k[len++] = module ? 1 : (char)0xff;
	if (module) {
		memcpy(k + len, module, lm);
		len += lm;
	}
	k[len++] = file ? 1 : (char)0xff;
	if (file) {
		memcpy(k + len, file, lf);
		len += lf;
	}
	err = store_itab__intern(&t->frame_keys, k, (uint32_t)len, &ki, &added);
	if (err || !added) {
		*idx = err ? 0 : (uint32_t)t->frame_keys.ents[ki].val;
		return err;
	}
	err = intern_frame_slow(t, name, module, file, flags, idx);
	if (!err)
		t->frame_keys.ents[ki].val = *idx;
	return err;
}

/* Whether string @s is string @idx of the tree (FLAME_NONE: NULL). */
static bool same_str(const struct flame *t, const char *s, uint32_t idx)
{
	return s ? idx != FLAME_NONE && !strcmp(s, tree__str(t, idx)) : idx == FLAME_NONE;
}

/*
 * The tree frame last seen for these very strings (a caller hands out the
 * same pointers for the same frame, as a store query does), checked
 * against its strings, since a pointer may have been freed and reused.
 */
static struct flame_recent *recent_slot(struct flame *t, const char *name, const char *module,
					 const char *file, uint32_t flags)
{
	uintptr_t h = (uintptr_t)name * 31 + (uintptr_t)module * 7 + (uintptr_t)file + flags;

	return &t->recent[(h ^ h >> 12) % FLAME_RECENT];
}

static int intern_frame(struct flame *t, const char *name, const char *module,
			const char *file, uint32_t flags, uint32_t *idx)
{
	struct flame_recent *r = recent_slot(t, name, module, file, flags);
	const struct tree_frame *f;
	int err;

	if (r->name == name && r->module == module && r->file == file) {
		f = tree__frame(t, r->frame);
		if (f->flags == flags && same_str(t, name, f->name) &&
		    same_str(t, module, f->module) && same_str(t, file, f->file)) {
			*idx = r->frame;
			return 0;
		}
	}
	err = intern_frame_key(t, name, module, file, flags, idx);
	if (!err)
		*r = (struct flame_recent){ name, module, file, *idx };
	return err;
}

static uint32_t edge_hash(uint32_t parent, uint32_t frame)
{
	uint64_t h = ((uint64_t)parent << 32 | frame) * 0x9e3779b97f4a7c15ULL;

	return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* The slot of edge (@parent, @frame), or the empty one where it would go. */
static struct flame_edge *edge_slot(struct flame *t, uint32_t parent, uint32_t frame)
{
	uint32_t mask = t->nedges - 1, i;

	for (i = edge_hash(parent, frame) & mask;; i = (i + 1) & mask) {
		struct flame_edge *e = &t->edges[i];

		if (!e->node || (e->parent == parent && e->frame == frame))
			return e;
	}
}

/* Puts node @i in the edge table, which has room. */
static void edge_put(struct flame *t, uint32_t i)
{
	struct flame_edge *e = edge_slot(t, t->nodes[i].parent, t->nodes[i].frame);

	*e = (struct flame_edge){ t->nodes[i].parent, t->nodes[i].frame, i };
	t->nbusy++;
}

/* Makes room for @n more edges (the table kept at most half full), refilled from the nodes. */
static int edges_reserve(struct flame *t, uint32_t n)
{
	uint32_t size = t->nedges ? t->nedges : 1024, i, p;
	struct flame_edge *old = t->edges;

	if ((uint64_t)(t->nbusy + n) * 2 <= t->nedges)
		return 0;
	while ((uint64_t)(t->nbusy + n) * 2 > size)
		size *= 2;
	t->edges = calloc(size, sizeof(*t->edges));
	if (!t->edges) {
		t->edges = old;
		return -ENOMEM;
	}
	free(old);
	t->nedges = size;
	t->nbusy = 0;
	for (i = 1; i < t->nnodes; i++) {
		p = t->nodes[i].parent;
		if (t->nodes[p].nkids >= FLAME_FEW_KIDS)
			edge_put(t, i);
	}
	return 0;
}

/*
 * The child of @parent for @frame, created when missing.  Most nodes have
 * a child or two, found on their list; only busy ones (the processes, the
 * main functions) go through the edge table.  A new node's own children
 * are new too, so a new branch costs no lookup at all.
 */
static int child(struct flame *t, uint32_t parent, uint32_t frame, uint32_t *out)
{
	struct flame_edge *e = NULL;
	struct tree_node *n;
	uint32_t c;

	if (t->nodes[parent].nkids < FLAME_FEW_KIDS) {
		for (c = t->nodes[parent].child; c != FLAME_NONE; c = t->nodes[c].next) {
			if (t->nodes[c].frame == frame) {
				*out = c;
				return 0;
			}
		}
	} else {
		if (edges_reserve(t, 1))
			return -ENOMEM;
		e = edge_slot(t, parent, frame);
		if (e->node) {
			*out = e->node;
			return 0;
		}
	}
	if (t->nnodes == t->cap) {
		uint32_t cap = t->cap * 2;

		n = realloc(t->nodes, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->nodes = n;
		t->cap = cap;
	}
	*out = t->nnodes++;
	n = &t->nodes[*out];
	*n = (struct tree_node){ .frame = frame, .parent = parent, .child = FLAME_NONE,
				 .next = t->nodes[parent].child };
	t->nodes[parent].child = *out;
	if (e) {
		*e = (struct flame_edge){ parent, frame, *out };
		t->nbusy++;
	} else if (t->nodes[parent].nkids + 1 == FLAME_FEW_KIDS) {
		/* busy from now on: its children move to the table */
		if (edges_reserve(t, FLAME_FEW_KIDS))
			return -ENOMEM;
		for (c = t->nodes[parent].child; c != FLAME_NONE; c = t->nodes[c].next)
			edge_put(t, c);
	}
	t->nodes[parent].nkids++;
	return 0;
}

struct flame *flame__new(void)
{
	struct flame *t = calloc(1, sizeof(*t));
	uint32_t root;

	if (!t)
		return NULL;
	t->cap = 1024;
	t->nodes = malloc(t->cap * sizeof(*t->nodes));
	t->path = malloc((STORE_MAX_FRAMES + 2) * sizeof(*t->path));
	t->kept = malloc(STORE_MAX_FRAMES * sizeof(*t->kept));
	t->recent = calloc(FLAME_RECENT, sizeof(*t->recent));
	if (!t->nodes || !t->path || !t->kept || !t->recent ||
	    intern_frame(t, "all", NULL, NULL, TREE_F_ROOT, &root)) {
		flame__free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->nodes[0] = (struct tree_node){ .frame = root, .parent = FLAME_NONE,
					  .child = FLAME_NONE, .next = FLAME_NONE };
	t->nnodes = 1;
	return t;
}

void flame__free(struct flame *t)
{
	if (!t)
		return;
	store_itab__clear(&t->strs);
	store_itab__clear(&t->frames);
	store_itab__clear(&t->frame_keys);
	free(t->edges);
	free(t->key);
	free(t->recent);
	free(t->nodes);
	free(t->path);
	free(t->kept);
	free(t);
}

static bool frame_wanted(const struct export_select *sel, const struct frame *f)
{
	bool kernel = f->flags & FRAME_F_KERNEL;

	return sel->kind == EXPORT_KIND_ALL || (sel->kind == EXPORT_KIND_KERNEL) == kernel;
}

bool export_select__stack(const struct export_select *sel, const char *comm,
			  const struct frame *frames, int nframes, struct frame *keep, int *nkeep)
{
	bool any, match;
	int i, n = 0;

	if (!sel) {
		for (i = 0; keep && i < nframes; i++)
			keep[i] = frames[i];
		if (nkeep)
			*nkeep = nframes;
		return true;
	}
	any = sel->kind == EXPORT_KIND_ALL;
	match = !sel->match || (comm && strstr(comm, sel->match));
	for (i = 0; i < nframes; i++) {
		if (!frame_wanted(sel, &frames[i]))
			continue;
		any = true;
		if (!match && strstr(frames[i].name, sel->match))
			match = true;
		if (keep)
			keep[n] = frames[i];
		n++;
	}
	if (nkeep)
		*nkeep = n;
	return any && match;
}

void flame__select(struct flame *t, int side, const struct export_select *sel)
{
	t->side = side ? 1 : 0;
	t->sel = sel ? *sel : (struct export_select){ .kind = EXPORT_KIND_ALL };
}

int flame__add(void *tree, const struct store_proc *proc, const struct frame *frames,
	       int nframes, uint64_t count)
{
	struct flame *t = tree;
	uint32_t fi, node = 0;
	int i, depth = 0, err, s = t->side, n;

	if (nframes > STORE_MAX_FRAMES)
		nframes = STORE_MAX_FRAMES;
	if (!export_select__stack(&t->sel, proc->comm, frames, nframes, t->kept, &n))
		return 0;
	err = intern_frame(t, proc->comm, NULL, NULL, TREE_F_PROC, &fi);
	if (!err)
		err = child(t, node, fi, &node);
	t->path[depth++] = node;
	for (i = 0; i < n && !err; i++) {
		const struct frame *f = &t->kept[i];

		/* one node per function, as flame graphs go: not one per sampled line */
		err = intern_frame(t, f->name, f->module, f->file,
				   f->flags & (FRAME_F_KERNEL | FRAME_F_INLINE | FRAME_F_UNKNOWN |
					       FRAME_F_JIT | FRAME_F_PYTHON), &fi);
		if (!err)
			err = child(t, node, fi, &node);
		t->path[depth++] = node;
	}
	if (err)
		return err;
	t->nodes[0].total[s] += count;
	for (i = 0; i < depth; i++)
		t->nodes[t->path[i]].total[s] += count;
	t->nodes[node].self[s] += count;
	return 0;
}

uint64_t tree__total(const struct flame *t, int side)
{
	return t->nodes[0].total[side];
}

const char *tree__str(const struct flame *t, uint32_t idx)
{
	return idx == FLAME_NONE ? NULL : store_itab__key(&t->strs, idx);
}

const struct tree_frame *tree__frame(const struct flame *t, uint32_t idx)
{
	return (const struct tree_frame *)store_itab__key(&t->frames, idx);
}

static int cmp_by_name(const void *a, const void *b, void *ctx)
{
	const struct flame *t = ctx;
	uint32_t na = *(const uint32_t *)a, nb = *(const uint32_t *)b;
	const struct tree_frame *fa = tree__frame(t, t->nodes[na].frame);
	const struct tree_frame *fb = tree__frame(t, t->nodes[nb].frame);
	int c = strcmp(tree__str(t, fa->name), tree__str(t, fb->name));

	if (c)
		return c;
	return t->nodes[na].frame < t->nodes[nb].frame ? -1 : 1;
}

int tree__sort(struct flame *t)
{
	uint32_t *kids = malloc(t->nnodes * sizeof(*kids)), i, n, c;

	if (!kids)
		return -ENOMEM;
	for (i = 0; i < t->nnodes; i++) {
		n = 0;
		for (c = t->nodes[i].child; c != FLAME_NONE; c = t->nodes[c].next)
			kids[n++] = c;
		if (n < 2)
			continue;
		qsort_r(kids, n, sizeof(*kids), cmp_by_name, t);
		t->nodes[i].child = kids[0];
		for (c = 0; c + 1 < n; c++)
			t->nodes[kids[c]].next = kids[c + 1];
		t->nodes[kids[n - 1]].next = FLAME_NONE;
	}
	free(kids);
	return 0;
}

/* A node in weight order: heaviest first (both sides summed), ties in creation order (parents first). */
struct weighed {
	uint64_t w;
	uint32_t node;
};

static bool heavier(const struct weighed *a, const struct weighed *b)
{
	return a->w != b->w ? a->w > b->w : a->node < b->node;
}

static int cmp_by_weight(const void *a, const void *b)
{
	return heavier(a, b) ? -1 : 1;	/* nodes differ: never equal */
}

static void swap_weighed(struct weighed *k, uint32_t i, uint32_t j)
{
	struct weighed x = k[i];

	k[i] = k[j];
	k[j] = x;
}

/*
 * Moves the @m heaviest of @k[0..@n) to its front, in no order (a
 * quickselect with a median-of-three pivot), so only they need sorting.
 */
static void select_heaviest(struct weighed *k, uint32_t n, uint32_t m)
{
	uint32_t lo = 0, hi = n, mid, i, at;

	while (hi - lo > 2) {
		mid = lo + (hi - lo) / 2;
		if (heavier(&k[mid], &k[lo]))
			swap_weighed(k, mid, lo);
		if (heavier(&k[hi - 1], &k[lo]))
			swap_weighed(k, hi - 1, lo);
		if (heavier(&k[mid], &k[hi - 1]))
			swap_weighed(k, mid, hi - 1);
		/* the pivot, k[hi - 1], is the median of the three */
		for (i = at = lo; i < hi - 1; i++)
			if (heavier(&k[i], &k[hi - 1]))
				swap_weighed(k, i, at++);
		swap_weighed(k, at, hi - 1);
		if (at == m || at + 1 == m)
			return;
		if (at > m)
			hi = at;
		else
			lo = at + 1;
	}
	if (hi - lo == 2 && heavier(&k[lo + 1], &k[lo]))
		swap_weighed(k, lo, lo + 1);
}

/*
 * Keeps nodes heaviest first while the kept nodes plus one "other" node
 * per kept node with dropped children fit the budget.  A child never
 * outweighs its parent, so the kept set is always a connected subtree.
 */
static uint32_t greedy_keep(const struct flame *t, const struct weighed *order, uint32_t norder,
			    uint32_t max, uint32_t *nkids, uint32_t *kept_kids, bool *keep)
{
	uint32_t kept = 0, others = 0, i, n, p;
	int delta;

	for (i = 0; i < norder; i++) {
		n = order[i].node;
		p = t->nodes[n].parent;
		delta = 1 + (nkids[n] > 0);
		if (p != FLAME_NONE && kept_kids[p] + 1 == nkids[p])
			delta--;
		if (i && kept + others + delta > max)
			break;
		keep[n] = true;
		kept++;
		others += nkids[n] > 0;
		if (p != FLAME_NONE && ++kept_kids[p] == nkids[p])
			others--;
	}
	return kept + others;
}

uint32_t tree__prune(const struct flame *t, uint32_t max_nodes, bool *keep,
		     uint64_t (*other)[2])
{
	struct weighed *order = malloc(t->nnodes * sizeof(*order));
	uint32_t *nkids = calloc(t->nnodes, sizeof(*nkids));
	uint32_t *kept_kids = calloc(t->nnodes, sizeof(*kept_kids));
	uint32_t i, n = 0, p, m;
	int s;

	if (!order || !nkids || !kept_kids)
		goto out;
	if (max_nodes < 2)
		max_nodes = 2;
	for (i = 0; i < t->nnodes; i++) {
		order[i] = (struct weighed){ t->nodes[i].total[0] + t->nodes[i].total[1], i };
		keep[i] = false;
		if (t->nodes[i].parent != FLAME_NONE)
			nkids[t->nodes[i].parent]++;
	}
	/* every step of greedy_keep() but its last keeps a node: it sees max_nodes + 1 at most */
	m = max_nodes < t->nnodes ? max_nodes + 1 : t->nnodes;
	select_heaviest(order, t->nnodes, m);
	qsort(order, m, sizeof(*order), cmp_by_weight);
	n = greedy_keep(t, order, m, max_nodes, nkids, kept_kids, keep);
	for (i = 0; i < t->nnodes; i++)
		for (s = 0; s < 2; s++)
			other[i][s] = keep[i] ? t->nodes[i].total[s] - t->nodes[i].self[s] : 0;
	for (i = 1; i < t->nnodes; i++) {
		p = t->nodes[i].parent;
		if (keep[i])
			for (s = 0; s < 2; s++)
				other[p][s] -= t->nodes[i].total[s];
	}
out:
	free(order);
	free(nkids);
	free(kept_kids);
	return n;
}
