// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * api_export.c - /api/export?format=folded|pprof: a range of the store in
 * the interchange formats, written by the same encoders as `ember export`
 * into memory (open_memstream) and sent as a download.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "folded.h"
#include "pprof.h"

/* 99 Hz, the agent's default, for stores that did not record theirs */
#define DEFAULT_PERIOD_NS (1000000000ULL / 99)

struct exp {
	struct folded *folded;
	struct pprof *pprof;
	struct sym_frame *frames;
	int cap;
};

static int exp_add(void *ctx, const struct store_proc *proc, const struct store_frame *frames,
		   int nframes, uint64_t count)
{
	struct exp *x = ctx;
	struct sample_key key = { .tgid = proc->pid, .pid = proc->pid };
	struct collector_sample s = { .key = &key, .count = count, .nframes = nframes };
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
			.file = frames[i].file, .line = frames[i].line, .flags = frames[i].flags,
		};
	if (x->pprof)
		return pprof__add(x->pprof, proc->comm, proc->pid, x->frames, nframes, count);
	snprintf(key.comm, sizeof(key.comm), "%s", proc->comm);
	s.frames = x->frames;
	return folded__add(x->folded, &s);
}

/* Runs the encoder into memory; the reply body takes the bytes. */
static int encode(struct exp *x, struct web_reply *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int err;

	if (!f)
		return -errno;
	err = x->pprof ? pprof__write(x->pprof, f) : folded__write(x->folded, f);
	if (fclose(f) && !err)
		err = -EIO;
	if (err) {
		free(buf);
		return err;
	}
	wbuf__free(&rep->body);
	rep->body = (struct wbuf){ .p = buf, .len = len, .cap = len + 1 };
	return 0;
}

static int new_encoder(struct exp *x, struct store *st, const struct store_filter *f,
		       bool pprof)
{
	if (!pprof) {
		x->folded = folded__new();
		return x->folded ? 0 : -ENOMEM;
	}
	x->pprof = pprof__new(store__period_ns(st) ?: DEFAULT_PERIOD_NS, f->from_ms, f->to_ms);
	return x->pprof ? 0 : -ENOMEM;
}

int api__export(const struct api_req *r, struct web_reply *rep)
{
	const char *fmt = api__param(r, "", "format");
	struct store *st = NULL;
	struct api_filter f;
	struct exp x = {};
	bool pprof;
	int err;

	if (!fmt || (strcmp(fmt, "folded") && strcmp(fmt, "pprof")))
		return api__bad(rep, "format (folded or pprof)", "format", fmt ? fmt : "");
	pprof = !strcmp(fmt, "pprof");
	api__default_filter(&f);
	err = api__filter(r, rep, "", &f);
	if (!err)
		err = api__open(r, rep, &st);
	if (err)
		goto out;
	err = new_encoder(&x, st, &f.f, pprof);
	if (!err)
		err = store__query(st, &f.f, exp_add, &x);
	if (!err)
		err = encode(&x, rep);
	if (err) {
		api__error(rep, 500, store__strerror(err));
		goto out;
	}
	rep->type = pprof ? "application/octet-stream" : "text/plain; charset=utf-8";
	rep->disposition = pprof ? "attachment; filename=\"ember.pb.gz\"" :
				   "attachment; filename=\"ember.folded\"";
out:
	pprof__free(x.pprof);
	folded__free(x.folded);
	free(x.frames);
	store__free(st);
	return err;
}
