/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * internal.h - what the export module's files share: the flame tree's
 * layout (read by its JSON, HTML and SVG writers) and the embedded viewer.
 */
#ifndef EMBER_EXPORT_INTERNAL_H
#define EMBER_EXPORT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "export.h"
#include "itab.h"

#define FLAME_NONE UINT32_MAX	/* "no string" in a frame's module/file */

/* Frame kinds beyond FRAME_F_*, for the synthetic frames of the tree. */
enum {
	TREE_F_ROOT = 1 << 8,
	TREE_F_PROC = 1 << 9,
	TREE_F_OTHER = 1 << 10,
};

struct tree_frame {
	uint32_t name, module, file;	/* string indices, FLAME_NONE when absent */
	uint32_t flags;		/* no line: a node is a function, whatever line was sampled */
};

struct tree_node {
	uint32_t frame;
	uint32_t parent, child, next;	/* first child, next sibling: FLAME_NONE ends */
	uint32_t nkids;			/* children; from FLAME_FEW_KIDS on they are in edges */
	uint64_t total[2], self[2];	/* [0] the profile (comparison), [1] the baseline */
};

/* A node with fewer children finds them on its list, not in the edge table. */
#define FLAME_FEW_KIDS 8

/* A slot of the tree's edge table: (parent, frame) -> child node; node 0 (the root): empty. */
struct flame_edge {
	uint32_t parent, frame, node;
};

/* Frames the tree saw last, by their strings' addresses (intern_frame()). */
#define FLAME_RECENT 4096

struct flame_recent {
	const char *name, *module, *file;	/* NULL name: empty */
	uint32_t frame;
};

struct flame {
	struct store_itab strs, frames;
	struct store_itab frame_keys;	/* a frame's flags and strings in one key -> frame */
	char *key;			/* scratch: such a key */
	struct flame_recent *recent;	/* FLAME_RECENT of them */
	size_t key_cap;
	struct flame_edge *edges;	/* children of busy nodes; open addressing, at most half full */
	uint32_t nedges;		/* slots, a power of two (0 before the first) */
	uint32_t nbusy;			/* edges in the table */
	struct tree_node *nodes;
	uint32_t nnodes, cap;
	int side;			/* which of total[]/self[] flame__add() fills */
	struct export_select sel;
	struct frame *kept;		/* scratch: the selected frames of a stack */
	uint32_t *path;			/* scratch: node per depth */
};

/* Total samples on @side. */
uint64_t tree__total(const struct flame *t, int side);
const char *tree__str(const struct flame *t, uint32_t idx);
const struct tree_frame *tree__frame(const struct flame *t, uint32_t idx);
/* Sorts each node's children by name, "other" last (flame graph order). */
int tree__sort(struct flame *t);
/*
 * Marks the nodes kept under a budget of @max_nodes (keep[i]) and the
 * weight of each kept node's dropped children (other[i]).  Arrays are
 * nnodes long and owned by the caller.  Returns the number of kept nodes
 * plus "other" nodes.
 */
uint32_t tree__prune(const struct flame *t, uint32_t max_nodes, bool *keep,
		     uint64_t (*other)[2]);

/* Writes @b to @out and empties it.  Returns 0, the buffer's error or -EIO. */
int wbuf__flush(struct wbuf *b, FILE *out);

/* The viewer's files (generated into .output/export/assets.c). */
extern const struct export_asset export_assets[];

#endif /* EMBER_EXPORT_INTERNAL_H */
