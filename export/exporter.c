// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * exporter.c - store rows to any export format, with the encoders `record`
 * uses: the store hands out the same frames the symbolizer does.  The
 * kind/frame selection of the flame graph applies to every format.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

/* 99 Hz, the agent's default, for stores that did not record their period */
#define DEFAULT_PERIOD_NS (1000000000ULL / 99)

struct export_ctx {
	const struct export_select *sel;
	struct frame *kept;		/* the selected frames of one stack */
	struct folded *folded;
	struct pprof *pprof;
};

static int on_sample(void *ctx, const struct store_proc *proc, const struct frame *frames,
		     int nframes, uint64_t count)
{
	struct export_ctx *x = ctx;
	int n = nframes;

	if (x->sel) {
		if (nframes > STORE_MAX_FRAMES)
			return -E2BIG;
		if (!export_select__stack(x->sel, proc->comm, frames, nframes, x->kept, &n))
			return 0;
		frames = x->kept;
	}
	if (x->pprof)
		return pprof__add(x->pprof, proc->comm, proc->pid, frames, n, count);
	return folded__add(x->folded, proc->comm, proc->pid, frames, n, count);
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

static int write_flame(struct store *st, const struct store_filter *f,
		       const struct export_select *sel, enum export_format fmt,
		       const struct flame_info *info, FILE *out)
{
	struct flame *t = flame__new();
	int err;

	if (!t)
		return -ENOMEM;
	flame__select(t, 0, sel);
	err = store__query(st, f, flame__add, t);
	if (!err)
		err = fmt == EXPORT_HTML ? flame__write_html(t, info, out) :
					   flame__write_svg(t, info, out);
	flame__free(t);
	return err;
}

int exporter__write(struct store *st, const struct store_filter *f,
		    const struct export_select *sel, enum export_format fmt,
		    const struct flame_info *info, FILE *out)
{
	struct export_ctx x = { .sel = sel };
	int err = -ENOMEM;

	if (fmt == EXPORT_HTML || fmt == EXPORT_SVG)
		return write_flame(st, f, sel, fmt, info, out);
	if (fmt == EXPORT_PPROF)
		x.pprof = new_pprof(st, f);
	else
		x.folded = folded__new();
	if (sel)
		x.kept = malloc(STORE_MAX_FRAMES * sizeof(*x.kept));
	if ((!x.pprof && !x.folded) || (sel && !x.kept))
		goto cleanup;
	err = store__query(st, f, on_sample, &x);
	if (!err)
		err = x.pprof ? pprof__write(x.pprof, out) : folded__write(x.folded, out);
cleanup:
	pprof__free(x.pprof);
	folded__free(x.folded);
	free(x.kept);
	return err;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcasecmp(s + n - k, suffix);
}

enum export_format export__format_of(const char *path)
{
	if (!path)
		return EXPORT_FOLDED;
	if (ends_with(path, ".pb.gz") || ends_with(path, ".pprof"))
		return EXPORT_PPROF;
	if (ends_with(path, ".html") || ends_with(path, ".htm"))
		return EXPORT_HTML;
	if (ends_with(path, ".svg"))
		return EXPORT_SVG;
	return EXPORT_FOLDED;
}
