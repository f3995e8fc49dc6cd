// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * flame_json.c - writes a pruned flame tree as JSON: a frames table (name,
 * module, file, kind) and a nested tree whose nodes refer to it:
 *   {"f": frame, "v": total, "s": self, "b": base total, "bs": base self,
 *    "c": [children]}
 * Frames and children are written once each, so the answer stays small.
 */
#include <errno.h>
#include <stdlib.h>
#include "internal.h"

struct emit {
	struct flame *t;
	bool diff;
	bool *keep;
	uint64_t (*other)[2];
	uint32_t *remap;	/* tree frame -> output frame, FLAME_NONE when unused */
	uint32_t nout;
	struct wbuf *b;
};

static const char *kind_name(uint32_t flags)
{
	if (flags & TREE_F_ROOT)
		return "root";
	if (flags & TREE_F_PROC)
		return "process";
	if (flags & TREE_F_OTHER)
		return "other";
	if (flags & FRAME_F_UNKNOWN)
		return "unknown";
	if (flags & FRAME_F_INLINE)
		return "inline";
	if (flags & FRAME_F_JIT)
		return "jit";
	if (flags & FRAME_F_PYTHON)
		return "python";
	return flags & FRAME_F_KERNEL ? "kernel" : "user";
}

static void write_frame(struct emit *e, const struct tree_frame *f)
{
	struct wbuf *b = e->b;

	wbuf__puts(b, e->nout ? ",{\"name\":" : "{\"name\":");
	wbuf__json_str(b, f ? tree__str(e->t, f->name) : "[other]");
	if (f && f->module != FLAME_NONE) {
		wbuf__puts(b, ",\"module\":");
		wbuf__json_str(b, tree__str(e->t, f->module));
	}
	if (f && f->file != FLAME_NONE) {
		wbuf__puts(b, ",\"file\":");
		wbuf__json_str(b, tree__str(e->t, f->file));
	}
	wbuf__printf(b, ",\"kind\":\"%s\"}", kind_name(f ? f->flags : TREE_F_OTHER));
	e->nout++;
}

/* Numbers frames in first-use order; the "other" frame is always last. */
static void write_frames(struct emit *e)
{
	uint32_t i, f;

	wbuf__puts(e->b, "\"frames\":[");
	for (i = 0; i < e->t->nnodes; i++) {
		f = e->t->nodes[i].frame;
		if (!e->keep[i] || e->remap[f] != FLAME_NONE)
			continue;
		e->remap[f] = e->nout;
		write_frame(e, tree__frame(e->t, f));
	}
	write_frame(e, NULL);
	wbuf__puts(e->b, "]");
}

static void write_counts(struct emit *e, uint32_t frame, const uint64_t total[2],
			 const uint64_t self[2])
{
	wbuf__printf(e->b, "{\"f\":%u,\"v\":%llu,\"s\":%llu", frame,
		     (unsigned long long)total[0], (unsigned long long)self[0]);
	if (e->diff)
		wbuf__printf(e->b, ",\"b\":%llu,\"bs\":%llu", (unsigned long long)total[1],
			     (unsigned long long)self[1]);
}

static void write_node(struct emit *e, uint32_t n)
{
	const struct tree_node *node = &e->t->nodes[n];
	const uint64_t *oth = e->other[n];
	uint32_t c;
	bool first = true;

	write_counts(e, e->remap[node->frame], node->total, node->self);
	for (c = node->child; c != FLAME_NONE; c = e->t->nodes[c].next) {
		if (!e->keep[c])
			continue;
		wbuf__puts(e->b, first ? ",\"c\":[" : ",");
		first = false;
		write_node(e, c);
	}
	if (oth[0] || oth[1]) {
		wbuf__puts(e->b, first ? ",\"c\":[" : ",");
		first = false;
		write_counts(e, e->nout - 1, oth, oth);
		wbuf__puts(e->b, "}");
	}
	wbuf__puts(e->b, first ? "}" : "]}");
}

int flame__json(struct flame *t, uint32_t max_nodes, bool diff, struct wbuf *b)
{
	struct emit e = { .t = t, .diff = diff, .b = b };
	uint32_t i, nframes = t->frames.n, n, kept;
	int err = -ENOMEM;

	e.keep = malloc(t->nnodes * sizeof(*e.keep));
	e.other = malloc(t->nnodes * sizeof(*e.other));
	e.remap = malloc(nframes * sizeof(*e.remap));
	if (!e.keep || !e.other || !e.remap || tree__sort(t))
		goto out;
	for (i = 0; i < nframes; i++)
		e.remap[i] = FLAME_NONE;
	n = tree__prune(t, max_nodes ?: FLAME_DEFAULT_MAX_NODES, e.keep, e.other);
	if (!n)
		goto out;
	wbuf__printf(b, "\"total\":%llu,", (unsigned long long)tree__total(t, 0));
	if (diff)
		wbuf__printf(b, "\"base_total\":%llu,", (unsigned long long)tree__total(t, 1));
	for (i = 0, kept = 0; i < t->nnodes; i++)
		kept += e.keep[i];
	wbuf__printf(b, "\"nodes\":%u,\"pruned\":%u,", n, t->nnodes - kept);
	write_frames(&e);
	wbuf__puts(b, ",\"tree\":");
	write_node(&e, 0);
	err = b->err;
out:
	free(e.keep);
	free(e.other);
	free(e.remap);
	return err;
}
