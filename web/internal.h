/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * internal.h - what the web module's files share: a growable output buffer
 * with JSON/XML escaping, a byte-key intern table, the flame tree, the
 * embedded assets and the API handlers.
 */
#ifndef EMBER_WEB_INTERNAL_H
#define EMBER_WEB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "web.h"
#include "itab.h"

#define WEB_DEFAULT_MAX_NODES 20000
#define WEB_NONE UINT32_MAX	/* "no string" in a frame's module/file */

/* An output buffer whose first failure sticks (err), so writers check once. */
struct wbuf {
	char *p;
	size_t len, cap;
	size_t max;	/* 0: no cap, else -E2BIG past this many bytes */
	int err;	/* 0, -ENOMEM or -E2BIG */
};

void wbuf__put(struct wbuf *b, const void *s, size_t n);
void wbuf__puts(struct wbuf *b, const char *s);
void wbuf__printf(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal of untrusted bytes (NULL: null); < > & are \u-escaped too. */
void wbuf__json_str(struct wbuf *b, const char *s);
/* XML text of untrusted bytes: entities, and U+FFFD for what XML cannot hold. */
void wbuf__xml_str(struct wbuf *b, const char *s, size_t maxlen);
/* Leaves the buffer empty and usable; frees nothing when it was never written. */
void wbuf__free(struct wbuf *b);


/* Frame kinds beyond FRAME_F_*, for the synthetic frames of the tree. */
enum {
	TREE_F_ROOT = 1 << 8,
	TREE_F_PROC = 1 << 9,
	TREE_F_OTHER = 1 << 10,
};

/* Which frames web_tree__add() keeps. */
enum tree_kind { TREE_ALL, TREE_KERNEL, TREE_USER };

struct tree_frame {
	uint32_t name, module, file;	/* string indices, WEB_NONE when absent */
	uint32_t line, flags;
};

struct tree_node {
	uint32_t frame;
	uint32_t parent, child, next;	/* first child, next sibling: WEB_NONE ends */
	uint64_t total[2], self[2];	/* [0] the profile (comparison), [1] the baseline */
};

struct web_tree {
	struct store_itab strs, frames, edges;
	struct tree_node *nodes;
	uint32_t nnodes, cap;
	int side;			/* which of total[]/self[] web_tree__add() fills */
	enum tree_kind kind;
	const char *match;		/* keep only stacks with a frame containing this */
	uint32_t *path;			/* scratch: node per depth */
};

/* How the JSON tree is written. */
struct tree_out {
	uint32_t max_nodes;
	bool diff;			/* also write baseline numbers (b, bs) */
};

/* Appends the pruned tree as a JSON object's members ("total": ..., "tree": {...}). */
int tree__json(struct web_tree *t, const struct tree_out *o, struct wbuf *b);
/* Total samples on @side. */
uint64_t tree__total(const struct web_tree *t, int side);
const char *tree__str(const struct web_tree *t, uint32_t idx);
const struct tree_frame *tree__frame(const struct web_tree *t, uint32_t idx);
/* Sorts each node's children by name, "other" last (flame graph order). */
int tree__sort(struct web_tree *t);
/*
 * Marks the nodes kept under a budget of @max_nodes (keep[i]) and the
 * weight of each kept node's dropped children (other[i]).  Arrays are
 * nnodes long and owned by the caller.  Returns the number of kept nodes
 * plus "other" nodes.
 */
uint32_t tree__prune(const struct web_tree *t, uint32_t max_nodes, bool *keep,
		     uint64_t (*other)[2]);

/* One embedded file of web/assets/ (generated into .output/web/assets.c). */
struct web_asset {
	const char *name;
	const unsigned char *data;
	unsigned int len;
};
extern const struct web_asset web_assets[];
const struct web_asset *web__asset(const char *name);

/* An API answer: status, content type and body. */
struct web_reply {
	int status;
	const char *type;
	struct wbuf body;
	const char *disposition;	/* Content-Disposition or NULL */
	int stream_fd;			/* > 0: the body is read from this pipe instead */
};

/* Request parameters, looked up by name (NULL when absent). */
typedef const char *(*web_param_fn)(void *ctx, const char *name);

struct api_req {
	const char *db;
	const char *path;
	web_param_fn param;
	void *param_ctx;
	const struct web_metrics_source *metrics;
};

/* Runs the API endpoint for @r->path; fills @rep.  Returns 0, or -ENOENT for no such path. */
int api__handle(const struct api_req *r, struct web_reply *rep);
/* Sets @rep to a JSON error {"error": msg} with @status. */
void api__error(struct web_reply *rep, int status, const char *msg);
/* /metrics: store metrics, then the source's. */
int api__metrics(const struct api_req *r, struct web_reply *rep);

#endif /* EMBER_WEB_INTERNAL_H */
