// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * render.c - the export formats built on the flame tree: one
 * self-contained HTML file (the embedded viewer with its scripts, styles
 * and the data inlined) and a static SVG flame graph in the manner of
 * flamegraph.pl (a <title> per frame for hover).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define SVG_WIDTH 1200
#define SVG_ROW 16
#define SVG_MIN_PX 0.3

/* The file has no origin to talk to, so it may talk to nothing at all. */
static const char html_csp[] = "<meta http-equiv=\"Content-Security-Policy\" content=\""
	"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'\">\n";

/* Appends asset @name, or the tag @tag wrapped around it when @tag is set. */
static void put_asset(struct wbuf *b, const char *name, const char *tag)
{
	const struct web_asset *a = web__asset(name);

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
	const struct web_asset *idx = web__asset("index.html");
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

static int flush(struct wbuf *b, FILE *out)
{
	int err = b->err;

	if (!err && fwrite(b->p, 1, b->len, out) != b->len)
		err = -EIO;
	wbuf__free(b);
	return err;
}

int web__write_html(FILE *out, struct web_tree *t, const struct web_export_info *info)
{
	struct tree_out o = { .max_nodes = info && info->max_nodes ? info->max_nodes :
				  WEB_DEFAULT_MAX_NODES };
	struct wbuf data = {}, page = {};
	int err;

	wbuf__printf(&data, "{\"from\":%lld,\"to\":%lld,\"title\":",
		     info ? (long long)info->from_ms : 0LL, info ? (long long)info->to_ms : 0LL);
	wbuf__json_str(&data, info && info->title ? info->title : "ember");
	wbuf__puts(&data, ",");
	err = tree__json(t, &o, &data);
	wbuf__puts(&data, "}");
	if (!err)
		inline_index(&page, &data);
	wbuf__free(&data);
	if (err) {
		wbuf__free(&page);
		return err;
	}
	return flush(&page, out);
}

struct svg {
	struct web_tree *t;
	struct wbuf *b;
	double scale;
	int height;
};

static const char *svg_fill(const struct tree_frame *f, uint32_t h)
{
	static const char *const user[] = { "#e5573f", "#ea7a44", "#f0a04b", "#f3c15a" };
	static const char *const kernel[] = { "#59b4c9", "#6cc4c4", "#4fa3c0", "#7fcfd0" };
	static const char *const python[] = { "#5b8fd9", "#6f9fe0", "#4f7fcc", "#84b0e6" };

	if (f->flags & (TREE_F_ROOT | TREE_F_PROC))
		return "#c9c3dd";
	if (f->flags & FRAME_F_UNKNOWN)
		return "#b5b5b5";
	if (f->flags & FRAME_F_INLINE)
		return "#8fcf7a";
	if (f->flags & FRAME_F_PYTHON)
		return python[h % 4];
	return (f->flags & FRAME_F_KERNEL ? kernel : user)[h % 4];
}

static void svg_node(struct svg *s, uint32_t n, uint64_t x, int depth)
{
	const struct tree_node *node = &s->t->nodes[n];
	const struct tree_frame *f = tree__frame(s->t, node->frame);
	const char *name = tree__str(s->t, f->name);
	double w = node->total[0] * s->scale, px = x * s->scale;
	uint64_t total = tree__total(s->t, 0), cx = x;
	uint32_t c;

	if (w < SVG_MIN_PX)
		return;
	wbuf__puts(s->b, "<g><title>");
	wbuf__xml_str(s->b, name, 4096);
	if (f->module != WEB_NONE) {
		wbuf__puts(s->b, " [");
		wbuf__xml_str(s->b, tree__str(s->t, f->module), 256);
		wbuf__puts(s->b, "]");
	}
	wbuf__printf(s->b, " (%llu samples, %.2f%%)</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\""
		     " height=\"%d\" fill=\"%s\"/>", (unsigned long long)node->total[0],
		     total ? 100.0 * node->total[0] / total : 0, px,
		     s->height - (depth + 1) * SVG_ROW, w, SVG_ROW - 1, svg_fill(f, f->name));
	if (w > 30) {
		wbuf__printf(s->b, "<text x=\"%.1f\" y=\"%d\">", px + 3,
			     s->height - depth * SVG_ROW - 4);
		wbuf__xml_str(s->b, name, (size_t)(w / 7) > 2 ? (size_t)(w / 7) - 2 : 1);
		wbuf__puts(s->b, "</text>");
	}
	wbuf__puts(s->b, "</g>\n");
	for (c = node->child; c != WEB_NONE; c = s->t->nodes[c].next) {
		svg_node(s, c, cx, depth + 1);
		cx += s->t->nodes[c].total[0];
	}
}

static int max_depth(const struct web_tree *t, uint32_t n, double scale)
{
	int d = 0, k;
	uint32_t c;

	for (c = t->nodes[n].child; c != WEB_NONE; c = t->nodes[c].next) {
		if (t->nodes[c].total[0] * scale < SVG_MIN_PX)
			continue;
		k = max_depth(t, c, scale) + 1;
		d = k > d ? k : d;
	}
	return d;
}

int web__write_svg(FILE *out, struct web_tree *t, const struct web_export_info *info)
{
	uint64_t total = tree__total(t, 0);
	struct wbuf b = {};
	struct svg s = { .t = t, .b = &b, .scale = total ? (double)SVG_WIDTH / total : 0 };
	int err = tree__sort(t);

	if (err)
		return err;
	s.height = (max_depth(t, 0, s.scale) + 1) * SVG_ROW + 30;
	wbuf__printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns="
		     "\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
		     " font-family=\"monospace\" font-size=\"11\">\n<text x=\"4\" y=\"16\" "
		     "font-size=\"14\">", SVG_WIDTH, s.height, SVG_WIDTH, s.height);
	wbuf__xml_str(&b, info && info->title ? info->title : "ember", 200);
	wbuf__printf(&b, " (%llu samples)</text>\n", (unsigned long long)total);
	s.height -= 2;
	svg_node(&s, 0, 0, 0);
	wbuf__puts(&b, "</svg>\n");
	return flush(&b, out);
}
