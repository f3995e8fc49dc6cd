// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * exporter.c - store rows to folded stacks or pprof.  Store frames carry the
 * same fields as symbolizer frames, so the encoders used by `record` serve
 * exports unchanged.
 */
#include <errno.h>
#include <stdlib.h>
#include "export.h"

/* 99 Hz, the agent's default, for stores that did not record their period */
#define DEFAULT_PERIOD_NS (1000000000ULL / 99)

struct export_ctx {
	struct folded *folded;
	struct pprof *pprof;
	struct sym_frame *frames;
	int cap;
};

static int on_sample(void *ctx, const struct store_proc *proc, const struct store_frame *frames,
		     int nframes, uint64_t count)
{
	struct export_ctx *x = ctx;
	struct sym_frame *p;
	int i;

	if (nframes > x->cap) {
		p = realloc(x->frames, nframes * sizeof(*p));
		if (!p)
			return -ENOMEM;
		x->frames = p;
		x->cap = nframes;
	}
	for (i = 0; i < nframes; i++)
		x->frames[i] = (struct sym_frame){
			.name = frames[i].name, .module = frames[i].module,
			.build_id = frames[i].build_id, .file = frames[i].file,
			.line = frames[i].line, .flags = frames[i].flags,
		};
	if (x->pprof)
		return pprof__add(x->pprof, proc->comm, proc->pid, x->frames, nframes, count);
	return folded__add(x->folded, proc->comm, proc->pid, x->frames, nframes, count);
}

/* A pprof profile spanning the data actually in range, not the bare filter. */
static struct pprof *new_pprof(struct store *st, const struct store_filter *f)
{
	int64_t from = f->from_ms, to = f->to_ms;
	struct store_stats ss;

	if (!store__stats(st, &ss) && ss.windows) {
		from = from > ss.first_ms ? from : ss.first_ms;
		to = to < ss.last_ms ? to : ss.last_ms;
	}
	return pprof__new(store__period_ns(st) ?: DEFAULT_PERIOD_NS, from, to > from ? to : from);
}

int exporter__write(struct store *st, const struct store_filter *f, enum export_format fmt,
		    FILE *out)
{
	struct export_ctx x = {};
	int err;

	if (fmt == EXPORT_PPROF)
		x.pprof = new_pprof(st, f);
	else
		x.folded = folded__new();
	if (!x.pprof && !x.folded)
		return -ENOMEM;
	err = store__query(st, f, on_sample, &x);
	if (!err)
		err = x.pprof ? pprof__write(x.pprof, out) : folded__write(x.folded, out);
	pprof__free(x.pprof);
	folded__free(x.folded);
	free(x.frames);
	return err;
}
