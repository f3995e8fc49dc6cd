// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * window.c - one window's samples grouped by service, each service's in a
 * pprof built by the export module, cut into a new profile before it
 * passes Pyroscope's 16,000 samples or 4 MiB, and finally encoded into the
 * window's requests (one Push, or one /ingest per profile).
 */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "export.h"
#include "internal.h"

struct svc {
	char *name;
	struct pprof *cur;
	uint64_t cur_rows;
	struct push_chunk *chunks;
	int nchunks, cap;
};

struct push_collect {
	void *tree;
	struct svc **list;	/* in order of first sample */
	int n, cap;
	int64_t start_ms, end_ms;
	uint64_t period_ns;
};

/* A sample is far below this: room left for one more before the 4 MiB cap. */
#define SAMPLE_SLACK (256u << 10)

static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct svc *)a)->name, ((const struct svc *)b)->name);
}

static void svc_free(struct svc *s)
{
	int i;

	if (!s)
		return;
	pprof__free(s->cur);
	for (i = 0; i < s->nchunks; i++)
		free(s->chunks[i].gz);
	free(s->chunks);
	free(s->name);
	free(s);
}

static void keep_node(void *node)
{
	(void)node;
}

struct push_collect *push_collect__new(int64_t start_ms, int64_t end_ms, uint32_t freq)
{
	struct push_collect *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->start_ms = start_ms;
	c->end_ms = end_ms;
	c->period_ns = 1000000000ULL / (freq ? freq : 99);
	return c;
}

void push_collect__free(struct push_collect *c)
{
	int i;

	if (!c)
		return;
	tdestroy(c->tree, keep_node);	/* the nodes are freed through the list */
	for (i = 0; i < c->n; i++)
		svc_free(c->list[i]);
	free(c->list);
	free(c);
}

/* Closes @s's current profile into a gzipped chunk. */
static int svc_close(struct svc *s)
{
	struct push_chunk *chunks;
	char *data = NULL;
	size_t size = 0;
	FILE *f;
	int err;

	if (!s->cur)
		return 0;
	if (s->nchunks == s->cap) {
		chunks = realloc(s->chunks, (s->cap * 2 + 1) * sizeof(*chunks));
		if (!chunks)
			return -ENOMEM;
		s->chunks = chunks;
		s->cap = s->cap * 2 + 1;
	}
	f = open_memstream(&data, &size);
	if (!f)
		return -errno;
	err = pprof__write(s->cur, f);
	if (fclose(f) && !err)
		err = -errno;
	if (err) {
		free(data);
		return err;
	}
	s->chunks[s->nchunks++] = (struct push_chunk){ .gz = (uint8_t *)data, .len = size };
	pprof__free(s->cur);
	s->cur = NULL;
	s->cur_rows = 0;
	return 0;
}

static struct svc *svc_get(struct push_collect *c, const char *name)
{
	struct svc key = { .name = (char *)name }, **found, *s, **list;

	found = tfind(&key, &c->tree, svc_cmp);
	if (found)
		return *found;
	if (c->n == c->cap) {
		list = realloc(c->list, (c->cap * 2 + 8) * sizeof(*list));
		if (!list)
			return NULL;
		c->list = list;
		c->cap = c->cap * 2 + 8;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name)) || !tsearch(s, &c->tree, svc_cmp)) {
		svc_free(s);
		return NULL;
	}
	c->list[c->n++] = s;
	return s;
}

int push_collect__add(struct push_collect *c, const char *service, const struct store_proc *proc,
		      const struct frame *frames, int nframes, uint64_t count)
{
	struct svc *s = svc_get(c, service);
	int err;

	if (!s)
		return -ENOMEM;
	if (s->cur && (s->cur_rows >= PUSH_MAX_SAMPLES ||
		       pprof__size(s->cur) > PUSH_MAX_PROFILE_BYTES - SAMPLE_SLACK)) {
		err = svc_close(s);
		if (err)
			return err;
	}
	if (!s->cur) {
		s->cur = pprof__new(c->period_ns, c->start_ms, c->end_ms);
		if (!s->cur)
			return -ENOMEM;
		pprof__set_cpu_only(s->cur);	/* one profile type in Pyroscope, as Grafana's */
	}
	s->cur_rows++;
	return pprof__add(s->cur, proc->comm, proc->pid, frames, nframes, count);
}

void push_collect__set_span(struct push_collect *c, int64_t start_ms, int64_t end_ms)
{
	int i;

	c->start_ms = start_ms;
	c->end_ms = end_ms;
	for (i = 0; i < c->n; i++)
		if (c->list[i]->cur)
			pprof__set_end(c->list[i]->cur, end_ms);
}

static int add_req(struct push_window *w, char *path, struct wbuf *body, bool multipart)
{
	struct push_req *reqs;

	reqs = path && !body->err ? realloc(w->reqs, (w->nreqs + 1) * sizeof(*reqs)) : NULL;
	if (!reqs) {
		free(path);
		return -ENOMEM;
	}
	w->reqs = reqs;
	reqs[w->nreqs++] = (struct push_req){ .path = path, .body = (uint8_t *)body->p, .len = body->len,
					       .multipart = multipart };
	w->bytes += body->len;
	*body = (struct wbuf){};
	return 0;
}

struct push_window *push_collect__finish(struct push_collect *c, const struct push_enc *e,
					 int *err)
{
	struct push_series *series = NULL;
	struct push_window *w = NULL;
	struct wbuf body = {};
	int i, j;

	*err = 0;
	for (i = 0; i < c->n && !*err; i++)
		*err = svc_close(c->list[i]);
	if (*err || !c->n)
		return NULL;
	w = calloc(1, sizeof(*w));
	series = calloc(c->n, sizeof(*series));
	if (!w || !series) {
		*err = -ENOMEM;
		goto cleanup;
	}
	w->start_ms = c->start_ms;
	w->end_ms = c->end_ms;
	if (e->protocol == PUSH_CONNECT) {
		for (i = 0; i < c->n; i++)
			series[i] = (struct push_series){ .service = c->list[i]->name,
				.chunks = c->list[i]->chunks, .nchunks = c->list[i]->nchunks };
		*err = push_encode_connect(e, series, c->n, &body);
		if (!*err)
			*err = add_req(w, strdup("/push.v1.PusherService/Push"), &body, false);
	}
	for (i = 0; e->protocol != PUSH_CONNECT && i < c->n && !*err; i++) {
		for (j = 0; j < c->list[i]->nchunks && !*err; j++) {
			wbuf__put(&body, c->list[i]->chunks[j].gz, c->list[i]->chunks[j].len);
			*err = add_req(w, push_ingest_path(e, c->list[i]->name, c->start_ms,
							   c->end_ms), &body,
				       e->protocol == PUSH_INGEST_MULTIPART);
		}
	}
cleanup:
	wbuf__free(&body);
	free(series);
	if (*err) {
		push_window__free(w);
		w = NULL;
	}
	return w;
}

void push_window__free(struct push_window *w)
{
	int i;

	if (!w)
		return;
	for (i = 0; i < w->nreqs; i++) {
		free(w->reqs[i].path);
		free(w->reqs[i].body);
	}
	free(w->reqs);
	free(w);
}
