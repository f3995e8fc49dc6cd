// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * tree.c - the flame tree: samples merged by call path (root, comm, then
 * frames outermost first), with a total and self count per node on two
 * sides (the profile and, for diffs, its baseline), and pruning to a node
 * budget that moves the dropped weight into explicit "other" nodes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static int intern_str(struct web_tree *t, const char *s, uint32_t *idx)
{
	bool added;

	if (!s) {
		*idx = WEB_NONE;
		return 0;
	}
	return store_itab__intern(&t->strs, s, strlen(s), idx, &added);
}

static int intern_frame(struct web_tree *t, const char *name, const char *module,
			const char *file, uint32_t line, uint32_t flags, uint32_t *idx)
{
	struct tree_frame f = { .line = line, .flags = flags };
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

/* The child of @parent for @frame, created when missing. */
static int child(struct web_tree *t, uint32_t parent, uint32_t frame, uint32_t *out)
{
	uint32_t key[2] = { parent, frame }, idx;
	struct tree_node *n;
	bool added;
	int err;

	err = store_itab__intern(&t->edges, key, sizeof(key), &idx, &added);
	if (err)
		return err;
	*out = idx + 1;		/* edge i leads to node i + 1; node 0 is the root */
	if (!added)
		return 0;
	if (t->nnodes == t->cap) {
		uint32_t cap = t->cap * 2;

		n = realloc(t->nodes, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->nodes = n;
		t->cap = cap;
	}
	n = &t->nodes[t->nnodes++];
	*n = (struct tree_node){ .frame = frame, .parent = parent, .child = WEB_NONE,
				 .next = t->nodes[parent].child };
	t->nodes[parent].child = *out;
	return 0;
}

struct web_tree *web_tree__new(void)
{
	struct web_tree *t = calloc(1, sizeof(*t));
	uint32_t root;

	if (!t)
		return NULL;
	t->cap = 1024;
	t->nodes = malloc(t->cap * sizeof(*t->nodes));
	t->path = malloc((STORE_MAX_FRAMES + 2) * sizeof(*t->path));
	if (!t->nodes || !t->path || intern_frame(t, "all", NULL, NULL, 0, TREE_F_ROOT, &root)) {
		web_tree__free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->nodes[0] = (struct tree_node){ .frame = root, .parent = WEB_NONE,
					  .child = WEB_NONE, .next = WEB_NONE };
	t->nnodes = 1;
	return t;
}

void web_tree__free(struct web_tree *t)
{
	if (!t)
		return;
	store_itab__clear(&t->strs);
	store_itab__clear(&t->frames);
	store_itab__clear(&t->edges);
	free(t->nodes);
	free(t->path);
	free(t);
}

static bool frame_wanted(const struct web_tree *t, const struct frame *f)
{
	bool kernel = f->flags & FRAME_F_KERNEL;

	return t->kind == TREE_ALL || (t->kind == TREE_KERNEL) == kernel;
}

/* Whether a stack passes the kind and substring filters. */
static bool stack_wanted(const struct web_tree *t, const struct store_proc *proc,
			 const struct frame *frames, int nframes)
{
	bool any = t->kind == TREE_ALL, match = !t->match || strstr(proc->comm, t->match);
	int i;

	for (i = 0; i < nframes && !(any && match); i++) {
		if (!frame_wanted(t, &frames[i]))
			continue;
		any = true;
		if (!match && strstr(frames[i].name, t->match))
			match = true;
	}
	return any && match;
}

int web_tree__add(void *tree, const struct store_proc *proc, const struct frame *frames,
		  int nframes, uint64_t count)
{
	struct web_tree *t = tree;
	uint32_t fi, node = 0;
	int i, depth = 0, err, s = t->side;

	if (!stack_wanted(t, proc, frames, nframes))
		return 0;
	err = intern_frame(t, proc->comm, NULL, NULL, 0, TREE_F_PROC, &fi);
	if (!err)
		err = child(t, node, fi, &node);
	t->path[depth++] = node;
	for (i = 0; i < nframes && !err; i++) {
		const struct frame *f = &frames[i];

		if (!frame_wanted(t, f))
			continue;
		err = intern_frame(t, f->name, f->module, f->file, f->line,
				   f->flags & (FRAME_F_KERNEL | FRAME_F_INLINE | FRAME_F_UNKNOWN |
					       FRAME_F_PYTHON), &fi);
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

uint64_t tree__total(const struct web_tree *t, int side)
{
	return t->nodes[0].total[side];
}

const char *tree__str(const struct web_tree *t, uint32_t idx)
{
	return idx == WEB_NONE ? NULL : store_itab__key(&t->strs, idx);
}

const struct tree_frame *tree__frame(const struct web_tree *t, uint32_t idx)
{
	return (const struct tree_frame *)store_itab__key(&t->frames, idx);
}

static int cmp_by_name(const void *a, const void *b, void *ctx)
{
	const struct web_tree *t = ctx;
	uint32_t na = *(const uint32_t *)a, nb = *(const uint32_t *)b;
	const struct tree_frame *fa = tree__frame(t, t->nodes[na].frame);
	const struct tree_frame *fb = tree__frame(t, t->nodes[nb].frame);
	int c = strcmp(tree__str(t, fa->name), tree__str(t, fb->name));

	if (c)
		return c;
	return t->nodes[na].frame < t->nodes[nb].frame ? -1 : 1;
}

int tree__sort(struct web_tree *t)
{
	uint32_t *kids = malloc(t->nnodes * sizeof(*kids)), i, n, c;

	if (!kids)
		return -ENOMEM;
	for (i = 0; i < t->nnodes; i++) {
		n = 0;
		for (c = t->nodes[i].child; c != WEB_NONE; c = t->nodes[c].next)
			kids[n++] = c;
		if (n < 2)
			continue;
		qsort_r(kids, n, sizeof(*kids), cmp_by_name, t);
		t->nodes[i].child = kids[0];
		for (c = 0; c + 1 < n; c++)
			t->nodes[kids[c]].next = kids[c + 1];
		t->nodes[kids[n - 1]].next = WEB_NONE;
	}
	free(kids);
	return 0;
}

/* Heaviest first (both sides summed); ties keep creation order, parents first. */
static int cmp_by_weight(const void *a, const void *b, void *ctx)
{
	const struct web_tree *t = ctx;
	uint32_t na = *(const uint32_t *)a, nb = *(const uint32_t *)b;
	uint64_t wa = t->nodes[na].total[0] + t->nodes[na].total[1];
	uint64_t wb = t->nodes[nb].total[0] + t->nodes[nb].total[1];

	if (wa != wb)
		return wa > wb ? -1 : 1;
	return na < nb ? -1 : 1;
}

/*
 * Keeps nodes heaviest first while the kept nodes plus one "other" node
 * per kept node with dropped children fit the budget.  A child never
 * outweighs its parent, so the kept set is always a connected subtree.
 */
static uint32_t greedy_keep(const struct web_tree *t, const uint32_t *order, uint32_t max,
			    uint32_t *nkids, uint32_t *kept_kids, bool *keep)
{
	uint32_t kept = 0, others = 0, i, n, p;
	int delta;

	for (i = 0; i < t->nnodes; i++) {
		n = order[i];
		p = t->nodes[n].parent;
		delta = 1 + (nkids[n] > 0);
		if (p != WEB_NONE && kept_kids[p] + 1 == nkids[p])
			delta--;
		if (i && kept + others + delta > max)
			break;
		keep[n] = true;
		kept++;
		others += nkids[n] > 0;
		if (p != WEB_NONE && ++kept_kids[p] == nkids[p])
			others--;
	}
	return kept + others;
}

uint32_t tree__prune(const struct web_tree *t, uint32_t max_nodes, bool *keep,
		     uint64_t (*other)[2])
{
	uint32_t *order = malloc(t->nnodes * sizeof(*order));
	uint32_t *nkids = calloc(t->nnodes, sizeof(*nkids));
	uint32_t *kept_kids = calloc(t->nnodes, sizeof(*kept_kids));
	uint32_t i, n = 0, p;
	int s;

	if (!order || !nkids || !kept_kids)
		goto out;
	for (i = 0; i < t->nnodes; i++) {
		order[i] = i;
		keep[i] = false;
		if (t->nodes[i].parent != WEB_NONE)
			nkids[t->nodes[i].parent]++;
	}
	qsort_r(order, t->nnodes, sizeof(*order), cmp_by_weight, (void *)t);
	n = greedy_keep(t, order, max_nodes < 2 ? 2 : max_nodes, nkids, kept_kids, keep);
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
