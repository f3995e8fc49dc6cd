// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * folded.c - builds one folded line per sample and sums identical lines.
 * Lines live in a search tree (tsearch), so output comes out sorted and a
 * repeated stack costs one lookup.
 */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include "export.h"

struct line {
	char *text;
	uint64_t count;
};

struct folded {
	void *lines;		/* tree of struct line */
	void *tgids;		/* tree of tgids (stored as pointers) */
	struct folded_stats stats;
	char *buf;		/* the line being built */
	size_t len, cap;
};

struct walk_ctx {
	FILE *out;
	int err;
};

static int line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->text, ((const struct line *)b)->text);
}

static int tgid_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return x < y ? -1 : x > y;
}

struct folded *folded__new(void)
{
	struct folded *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->cap = 4096;
	f->buf = malloc(f->cap);
	if (!f->buf) {
		free(f);
		return NULL;
	}
	return f;
}

static void line_free(void *node)
{
	struct line *l = node;

	free(l->text);
	free(l);
}

static void noop_free(void *node)
{
	(void)node;
}

void folded__free(struct folded *f)
{
	if (!f)
		return;
	tdestroy(f->lines, line_free);
	tdestroy(f->tgids, noop_free);
	free(f->buf);
	free(f);
}

static int reserve(struct folded *f, size_t more)
{
	char *p;

	if (f->len + more + 1 <= f->cap)
		return 0;
	while (f->len + more + 1 > f->cap)
		f->cap *= 2;
	p = realloc(f->buf, f->cap);
	if (!p)
		return -ENOMEM;
	f->buf = p;
	return 0;
}

/*
 * Appends one frame name.  Names are untrusted bytes: ';' would split the
 * frame and control characters would break the line, so both are replaced.
 */
static int append_name(struct folded *f, const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix), i;
	unsigned char c;

	if (reserve(f, n + s + 1))
		return -ENOMEM;
	if (f->len)
		f->buf[f->len++] = ';';
	for (i = 0; i < n; i++) {
		c = name[i];
		f->buf[f->len++] = c == ';' ? ':' : (c < 0x20 || c == 0x7f) ? '?' : c;
	}
	memcpy(f->buf + f->len, suffix, s);
	f->len += s;
	f->buf[f->len] = '\0';
	return 0;
}

static int add_line(struct folded *f, uint64_t count)
{
	struct line key = { .text = f->buf }, *l, **found;

	found = tfind(&key, &f->lines, line_cmp);
	if (found) {
		(*found)->count += count;
		return 0;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->text = strdup(f->buf);
	l->count = count;
	if (!l->text || !tsearch(l, &f->lines, line_cmp)) {
		line_free(l);
		return -ENOMEM;
	}
	f->stats.stacks++;
	return 0;
}

static int note_tgid(struct folded *f, uint32_t tgid)
{
	void *key = (void *)(uintptr_t)tgid;

	if (tfind(key, &f->tgids, tgid_cmp))
		return 0;
	if (!tsearch(key, &f->tgids, tgid_cmp))
		return -ENOMEM;
	f->stats.processes++;
	return 0;
}

int folded__add(struct folded *f, const char *comm, uint32_t tgid,
		const struct frame *frames, int nframes, uint64_t count)
{
	const struct frame *fr;
	int err, i;

	f->len = 0;
	err = append_name(f, comm && comm[0] ? comm : "[unknown]", "");
	for (i = 0; i < nframes && !err; i++) {
		fr = &frames[i];
		err = append_name(f, fr->name, (fr->flags & FRAME_F_KERNEL) ? "_[k]" :
				  (fr->flags & FRAME_F_INLINE) ? "_[i]" :
				  (fr->flags & FRAME_F_JIT) ? "_[j]" :
				  (fr->flags & FRAME_F_PYTHON) ? "_[py]" : "");
	}
	if (!err)
		err = add_line(f, count);
	if (!err)
		err = note_tgid(f, tgid);
	if (err)
		return err;
	f->stats.samples += count;
	return 0;
}

static void write_line(const void *node, VISIT which, void *ctx)
{
	const struct line *l = *(const struct line *const *)node;
	struct walk_ctx *w = ctx;

	if (which != postorder && which != leaf)
		return;
	if (fprintf(w->out, "%s %llu\n", l->text, (unsigned long long)l->count) < 0 && !w->err)
		w->err = -errno;
}

int folded__write(struct folded *f, FILE *out)
{
	struct walk_ctx w = { .out = out };

	twalk_r(f->lines, write_line, &w);
	if (fflush(out) && !w.err)
		w.err = -errno;
	return w.err ? w.err : (ferror(out) ? -EIO : 0);
}

void folded__stats(const struct folded *f, struct folded_stats *stats)
{
	*stats = f->stats;
}
