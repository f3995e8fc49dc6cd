// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * svg.c - the flame tree as an SVG flame graph in the manner of
 * flamegraph.pl: a <title> per frame for hover, frames laid out as a
 * static image, and an inline script (export/assets/svg.js) that adds
 * click-to-zoom, reset and search when a browser opens the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define SVG_WIDTH 1200
#define SVG_ROW 16
#define SVG_MIN_PX 0.3
#define SVG_TOP 24		/* title, Reset Zoom, Search */
#define SVG_BOTTOM 22		/* details of the frame under the mouse, Matched: */

struct svg {
	struct flame *t;
	struct wbuf *b;
	double scale;
	int height;
};

static const char *svg_fill(const struct tree_frame *f, uint32_t h)
{
	static const char *const user[] = { "#e5573f", "#ea7a44", "#f0a04b", "#f3c15a" };
	static const char *const kernel[] = { "#59b4c9", "#6cc4c4", "#4fa3c0", "#7fcfd0" };

	if (f->flags & (TREE_F_ROOT | TREE_F_PROC))
		return "#c9c3dd";
	if (f->flags & FRAME_F_UNKNOWN)
		return "#b5b5b5";
	if (f->flags & FRAME_F_INLINE)
		return "#8fcf7a";
	if (f->flags & FRAME_F_JIT)
		return "#d98cc4";
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
	/* data-x/-w: position and width in samples, for the script's zoom */
	wbuf__printf(s->b, "<g data-x=\"%llu\" data-w=\"%llu\" data-n=\"", (unsigned long long)x,
		     (unsigned long long)node->total[0]);
	wbuf__xml_str(s->b, name, 4096);
	wbuf__puts(s->b, "\"><title>");
	wbuf__xml_str(s->b, name, 4096);
	if (f->module != FLAME_NONE) {
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
	for (c = node->child; c != FLAME_NONE; c = s->t->nodes[c].next) {
		svg_node(s, c, cx, depth + 1);
		cx += s->t->nodes[c].total[0];
	}
}

static int max_depth(const struct flame *t, uint32_t n, double scale)
{
	int d = 0, k;
	uint32_t c;

	for (c = t->nodes[n].child; c != FLAME_NONE; c = t->nodes[c].next) {
		if (t->nodes[c].total[0] * scale < SVG_MIN_PX)
			continue;
		k = max_depth(t, c, scale) + 1;
		d = k > d ? k : d;
	}
	return d;
}

int flame__write_svg(struct flame *t, const struct flame_info *info, FILE *out)
{
	uint64_t total = tree__total(t, 0);
	const struct export_asset *a;
	struct wbuf b = {};
	struct svg s = { .t = t, .b = &b, .scale = total ? (double)SVG_WIDTH / total : 0 };
	int err = tree__sort(t);

	if (err)
		return err;
	s.height = (max_depth(t, 0, s.scale) + 1) * SVG_ROW + SVG_TOP + SVG_BOTTOM;
	wbuf__printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns="
		     "\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
		     " font-family=\"monospace\" font-size=\"11\" data-total=\"%llu\">\n"
		     "<text x=\"%d\" y=\"16\" font-size=\"14\" text-anchor=\"middle\">",
		     SVG_WIDTH, s.height, SVG_WIDTH, s.height, (unsigned long long)total,
		     SVG_WIDTH / 2);
	wbuf__xml_str(&b, info && info->title ? info->title : "ember", 200);
	wbuf__printf(&b, " (%llu samples)</text>\n", (unsigned long long)total);
	/* controls: invisible until the script runs, so a static view shows none */
	wbuf__printf(&b, "<text id=\"reset\" x=\"6\" y=\"16\" visibility=\"hidden\" "
		     "cursor=\"pointer\">Reset Zoom</text>\n<text id=\"search\" x=\"%d\" y=\"16\" "
		     "text-anchor=\"end\" visibility=\"hidden\" cursor=\"pointer\">Search</text>\n"
		     "<text id=\"details\" x=\"6\" y=\"%d\"> </text>\n<text id=\"matched\" "
		     "x=\"%d\" y=\"%d\" text-anchor=\"end\"> </text>\n<g id=\"frames\">\n",
		     SVG_WIDTH - 6, s.height - 6, SVG_WIDTH - 6, s.height - 6);
	s.height -= SVG_BOTTOM;
	svg_node(&s, 0, 0, 0);
	wbuf__puts(&b, "</g>\n<script type=\"text/ecmascript\"><![CDATA[\n");
	if (!(a = export__asset("svg.js")))
		b.err = b.err ?: -ENOENT;
	else
		wbuf__put(&b, a->data, a->len);
	wbuf__puts(&b, "]]></script>\n</svg>\n");
	return wbuf__flush(&b, out);
}
