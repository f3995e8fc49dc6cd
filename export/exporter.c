// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * exporter.c - store rows to folded stacks or pprof, with the encoders
 * `record` uses: the store hands out the same frames the symbolizer does.
 */
#include <errno.h>
#include <stdlib.h>
#include "export.h"

/* 99 Hz, the agent's default, for stores that did not record their period */
#define DEFAULT_PERIOD_NS (1000000000ULL / 99)

struct export_ctx {
	struct folded *folded;
	struct pprof *pprof;
};

static int on_sample(void *ctx, const struct store_proc *proc, const struct frame *frames,
		     int nframes, uint64_t count)
{
	struct export_ctx *x = ctx;

	if (x->pprof)
		return pprof__add(x->pprof, proc->comm, proc->pid, frames, nframes, count);
	return folded__add(x->folded, proc->comm, proc->pid, frames, nframes, count);
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
	return err;
}
