/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * export.h - the export formats, in one place: folded stacks
 * (`comm;outer;...;leaf COUNT`, what flamegraph.pl reads), gzipped
 * profile.proto (what `go tool pprof` reads), and the flame tree with its
 * renderings (JSON for the viewer, one self-contained HTML file, an
 * interactive SVG), built from symbolized stacks, and a range of the store
 * written in any of them.  Used by `ember record`, `ember export` and the
 * web API, which also serves the viewer files embedded here.
 */
#ifndef EMBER_EXPORT_H
#define EMBER_EXPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "store.h"
#include "symbolizer.h"
#include "wbuf.h"

/* Which stacks and frames an export keeps (the flame graph's kind and frame filters). */
enum export_kind { EXPORT_KIND_ALL, EXPORT_KIND_KERNEL, EXPORT_KIND_USER };

struct export_select {
	enum export_kind kind;		/* kernel/user: only those frames, stacks with any */
	const char *match;		/* NULL, or keep stacks whose comm or a kept frame's
					   name contains this */
};

/*
 * Whether a stack passes @sel (NULL passes everything); @keep, when not
 * NULL, gets the frames kept (at most @nframes) and *nkeep their number.
 */
bool export_select__stack(const struct export_select *sel, const char *comm,
			  const struct frame *frames, int nframes, struct frame *keep, int *nkeep);

/* folded.c */
struct folded;

struct folded_stats {
	uint64_t samples;		/* sum of all counts */
	uint64_t stacks;		/* distinct folded lines */
	uint64_t processes;		/* distinct tgids */
};

/* Returns an empty profile, or NULL with errno set. */
struct folded *folded__new(void);

/* NULL is a no-op. */
void folded__free(struct folded *f);

/*
 * Adds @count samples of one stack (@frames root first) of process @tgid,
 * whose thread is named @comm (NULL or empty: "[unknown]").  Returns 0 or
 * -ENOMEM.
 */
int folded__add(struct folded *f, const char *comm, uint32_t tgid,
		const struct frame *frames, int nframes, uint64_t count);

/* Writes every line, sorted.  Returns 0 or -errno (e.g. -ENOSPC). */
int folded__write(struct folded *f, FILE *out);

void folded__stats(const struct folded *f, struct folded_stats *stats);

/* pprof.c */
struct pprof;

/*
 * Returns an empty profile whose samples are worth @period_ns of CPU time
 * each, spanning [@start_ms, @end_ms); NULL with errno set on failure.
 */
struct pprof *pprof__new(uint64_t period_ns, int64_t start_ms, int64_t end_ms);

/* NULL is a no-op. */
void pprof__free(struct pprof *p);

/*
 * Adds @count samples of one stack (@frames root first; FRAME_F_INLINE frames
 * fold into the Location of the real function before them), labelled with
 * the process's @comm and @pid.  Returns 0 or -ENOMEM.
 */
int pprof__add(struct pprof *p, const char *comm, uint32_t pid,
	       const struct frame *frames, int nframes, uint64_t count);

/*
 * Gives samples one value, cpu/nanoseconds, as Grafana's profilers send
 * them (by default there is a samples/count value too).  Call it before
 * adding samples.
 */
void pprof__set_cpu_only(struct pprof *p);

/* Moves the end of the profile's span (e.g. when a recording stops). */
void pprof__set_end(struct pprof *p, int64_t end_ms);

/* About how many bytes the profile takes uncompressed (what limits apply to). */
size_t pprof__size(const struct pprof *p);

/* Writes the gzip-compressed profile.  Returns 0 or -errno. */
int pprof__write(struct pprof *p, FILE *out);

/* flame.c, flame_json.c: the flame tree */
struct flame;

#define FLAME_DEFAULT_MAX_NODES 20000

/* An empty flame tree, or NULL with errno set. */
struct flame *flame__new(void);

/* NULL is a no-op. */
void flame__free(struct flame *t);

/*
 * Where the following flame__add() calls go: @side 0 is the profile, 1 a
 * diff's baseline; @sel (copied; its match string must outlive the adds)
 * filters stacks and frames, NULL keeps all.
 */
void flame__select(struct flame *t, int side, const struct export_select *sel);

/*
 * Adds @count samples of one stack (root first) in process @proc; the
 * process's comm becomes the first frame under the root.  Same shape as
 * store_sample_fn, so it can be handed to store__query() with the tree as
 * @ctx.  Returns 0 or -ENOMEM.
 */
int flame__add(void *tree, const struct store_proc *proc, const struct frame *frames,
	       int nframes, uint64_t count);

/*
 * Appends the tree pruned to @max_nodes as a JSON object's members
 * ("total": ..., "frames": [...], "tree": {...}); @diff adds the baseline's
 * numbers.  Returns 0 or -ENOMEM.
 */
int flame__json(struct flame *t, uint32_t max_nodes, bool diff, struct wbuf *b);

/* html.c, svg.c: what the renderings print next to the graph. */
struct flame_info {
	const char *title;		/* e.g. "ember: web-1, last hour"; NULL: "ember" */
	int64_t from_ms, to_ms;
	uint32_t max_nodes;		/* pruning budget, 0: FLAME_DEFAULT_MAX_NODES */
};

/*
 * Writes one self-contained HTML file holding the viewer (no network
 * access) and the tree.  Returns 0 or -errno (-EIO when writing failed).
 */
int flame__write_html(struct flame *t, const struct flame_info *info, FILE *out);

/*
 * Writes an SVG flame graph in the manner of flamegraph.pl: a <title> per
 * frame for hover, and an inline script (no network) for click-to-zoom,
 * reset and search; without script it is still the whole static graph.
 * Returns 0 or -errno.
 */
int flame__write_svg(struct flame *t, const struct flame_info *info, FILE *out);

/* One file of the viewer (export/assets/), embedded at build time. */
struct export_asset {
	const char *name;
	const unsigned char *data;
	unsigned int len;
};

/* The embedded file @name (e.g. "index.html"), or NULL. */
const struct export_asset *export__asset(const char *name);

/* exporter.c */
enum export_format { EXPORT_FOLDED, EXPORT_PPROF, EXPORT_HTML, EXPORT_SVG };

/*
 * Queries @f from @st, keeps what @sel selects (NULL: everything) and
 * writes it to @out in @fmt (folded: the same format as `ember record`;
 * pprof: gzipped profile.proto spanning the data in range; html, svg: the
 * flame graph titled @info's title).  Returns 0 or -errno; @out may hold a
 * partial result on error.
 */
int exporter__write(struct store *st, const struct store_filter *f,
		    const struct export_select *sel, enum export_format fmt,
		    const struct flame_info *info, FILE *out);

/* The format a file name asks for by extension: .pb.gz/.pprof, .html, .svg; else folded. */
enum export_format export__format_of(const char *path);

#endif /* EMBER_EXPORT_H */
