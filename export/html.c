// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * html.c - the flame tree as one self-contained HTML file: the embedded
 * viewer (export/assets/, also what the web server serves) with its
 * scripts, styles and the data inlined, so it opens from disk with no
 * network access.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* The file has no origin to talk to, so it may talk to nothing at all. */
static const char html_csp[] = "<meta http-equiv=\"Content-Security-Policy\" content=\""
	"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'\">\n";

/* Appends asset @name, or the tag @tag wrapped around it when @tag is set. */
static void put_asset(struct wbuf *b, const char *name, const char *tag)
{
	const struct export_asset *a = export__asset(name);

	if (!a) {
		b->err = b->err ?: -ENOENT;
		return;
	}
	if (tag)
		wbuf__printf(b, "<%s>\n", tag);
	wbuf__put(b, a->data, a->len);
	if (tag)
		wbuf__printf(b, "</%s>\n", tag);
}

/*
 * Copies index.html, replacing each external reference by its file's text:
 * `<link rel="stylesheet" href="X">` and `<script src="X"></script>`.
 */
static void inline_index(struct wbuf *b, const struct wbuf *data)
{
	const struct export_asset *idx = export__asset("index.html");
	const char *p, *end, *q, *r;
	char name[64];

	if (!idx) {
		b->err = -ENOENT;
		return;
	}
	p = (const char *)idx->data;
	end = p + idx->len;
	while (p < end && (q = memmem(p, end - p, "<link rel=\"stylesheet\" href=\"", 29)) &&
	       (r = memchr(q + 29, '"', end - q - 29)) && r - q - 29 < (long)sizeof(name)) {
		wbuf__put(b, p, q - p);
		snprintf(name, sizeof(name), "%.*s", (int)(r - q - 29), q + 29);
		wbuf__puts(b, html_csp);
		put_asset(b, name, "style");
		p = memchr(r, '>', end - r) + 1;
	}
	q = memmem(p, end - p, "<script src=", 12);
	if (!q) {
		b->err = -ENOENT;
		return;
	}
	wbuf__put(b, p, q - p);
	wbuf__puts(b, "<script type=\"application/json\" id=\"ember-data\">");
	wbuf__put(b, data->p, data->len);
	wbuf__puts(b, "</script>\n");
	for (p = q; (q = memmem(p, end - p, "<script src=\"", 13)); p = strstr(q, "</script>") + 10) {
		r = memchr(q + 13, '"', end - q - 13);
		snprintf(name, sizeof(name), "%.*s", (int)(r - q - 13), q + 13);
		put_asset(b, name, "script");
	}
	wbuf__put(b, p, end - p);
}

const struct export_asset *export__asset(const char *name)
{
	const struct export_asset *a;

	for (a = export_assets; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

int wbuf__flush(struct wbuf *b, FILE *out)
{
	int err = b->err;

	if (!err && fwrite(b->p, 1, b->len, out) != b->len)
		err = -EIO;
	wbuf__free(b);
	return err;
}

int flame__write_html(struct flame *t, const struct flame_info *info, FILE *out)
{
	struct wbuf data = {}, page = {};
	int err;

	wbuf__printf(&data, "{\"from\":%lld,\"to\":%lld,\"title\":",
		     info ? (long long)info->from_ms : 0LL, info ? (long long)info->to_ms : 0LL);
	wbuf__json_str(&data, info && info->title ? info->title : "ember");
	wbuf__puts(&data, ",");
	err = flame__json(t, info ? info->max_nodes : 0, false, &data);
	wbuf__puts(&data, "}");
	if (!err)
		inline_index(&page, &data);
	wbuf__free(&data);
	if (err) {
		wbuf__free(&page);
		return err;
	}
	return wbuf__flush(&page, out);
}

