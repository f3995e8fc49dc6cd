// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * api_export.c - /api/export?format=folded|pprof: a range of the store in
 * the interchange formats, with the flame graph's kind and frame filters,
 * written by the same encoders as `ember export` into memory
 * (open_memstream) and sent as a download.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "export.h"

/* Encodes the range into memory; the reply body takes the bytes. */
static int encode(struct store *st, const struct api_filter *f, enum export_format fmt,
		  struct web_reply *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int err;

	if (!out)
		return -errno;
	err = exporter__write(st, &f->f, &f->sel, fmt, NULL, out);
	if (fclose(out) && !err)
		err = -EIO;
	if (err) {
		free(buf);
		return err;
	}
	wbuf__free(&rep->body);
	rep->body = (struct wbuf){ .p = buf, .len = len, .cap = len + 1 };
	return 0;
}

int api__export(const struct api_req *r, struct web_reply *rep)
{
	const char *fmt = api__param(r, "", "format");
	struct store *st = NULL;
	struct api_filter f;
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
	err = encode(st, &f, pprof ? EXPORT_PPROF : EXPORT_FOLDED, rep);
	if (err) {
		api__error(rep, 500, store__strerror(err));
		goto out;
	}
	rep->type = pprof ? "application/octet-stream" : "text/plain; charset=utf-8";
	rep->disposition = pprof ? "attachment; filename=\"ember.pb.gz\"" :
				   "attachment; filename=\"ember.folded\"";
out:
	store__free(st);
	return err;
}
