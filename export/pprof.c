// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * pprof.c - a minimal profile.proto encoder.  Protobuf's wire format is a few
 * varints and length prefixes, so it is written directly rather than pulling
 * in a protobuf runtime.  Strings, functions, locations and mappings are
 * interned through search trees keyed by their encoded identity.  There is
 * one Mapping per (module, build id), so tools can fetch the exact binary.
 */
#include <errno.h>
#include <search.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "export.h"
#include "pb.h"

/* Maps a byte key to a 1-based id (string ids are 0-based: "" is 0). */
struct intern {
	char *key;
	size_t len;
	uint64_t id;
};

struct pprof {
	void *strings, *functions, *locations, *mappings;
	uint64_t nstrings, nfunctions, nlocations, nmappings;
	struct wbuf body;	/* samples, functions, locations, mappings, strings */
	struct wbuf scratch;
	uint64_t period_ns;
	bool cpu_only;		/* one sample type, cpu/nanoseconds (Pyroscope's) */
	int64_t start_ms, end_ms;
	uint64_t *locs;		/* one sample's location ids, leaf first */
	int nlocs_cap;
};

static int intern_cmp(const void *a, const void *b)
{
	const struct intern *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void intern_free(void *node)
{
	struct intern *i = node;

	free(i->key);
	free(i);
}

/* Looks @key up in @tree; when new, gives it id *next and sets *is_new. */
static uint64_t intern(void **tree, uint64_t *next, const void *key, size_t len, bool *is_new)
{
	struct intern probe = { .key = (char *)key, .len = len }, *n, **found;

	*is_new = false;
	found = tfind(&probe, tree, intern_cmp);
	if (found)
		return (*found)->id;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->key = malloc(len ? len : 1)))
		goto fail;
	memcpy(n->key, key, len);
	n->len = len;
	n->id = (*next)++;
	if (!tsearch(n, tree, intern_cmp))
		goto fail;
	*is_new = true;
	return n->id;
fail:
	if (n)
		free(n->key);
	free(n);
	return UINT64_MAX;
}

static uint64_t str_id(struct pprof *p, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	bool is_new;
	uint64_t id = intern(&p->strings, &p->nstrings, s ? s : "", len, &is_new);

	if (id == UINT64_MAX)
		p->body.err = -ENOMEM;
	else if (is_new)
		pb__bytes(&p->body, 6, s ? s : "", len);
	return id;
}

static uint64_t mapping_id(struct pprof *p, const char *module, const char *build_id)
{
	uint64_t key[2] = { str_id(p, module), str_id(p, build_id) }, id;
	bool is_new;

	id = intern(&p->mappings, &p->nmappings, key, sizeof(key), &is_new);
	if (id == UINT64_MAX) {
		p->body.err = -ENOMEM;
	} else if (is_new) {
		p->scratch.len = 0;
		pb__uint(&p->scratch, 1, id);
		pb__uint(&p->scratch, 5, key[0]);	/* filename */
		if (key[1])
			pb__uint(&p->scratch, 6, key[1]);	/* build_id */
		pb__uint(&p->scratch, 7, 1);	/* has_functions */
		pb__uint(&p->scratch, 8, 1);	/* has_filenames */
		pb__uint(&p->scratch, 9, 1);	/* has_line_numbers */
		pb__uint(&p->scratch, 10, 1);	/* has_inline_frames */
		pb__bytes(&p->body, 3, p->scratch.p, p->scratch.len);
	}
	return id;
}

static uint64_t function_id(struct pprof *p, const struct frame *f)
{
	uint64_t key[2] = { str_id(p, f->name), str_id(p, f->file) }, id;
	bool is_new;

	id = intern(&p->functions, &p->nfunctions, key, sizeof(key), &is_new);
	if (id == UINT64_MAX) {
		p->body.err = -ENOMEM;
	} else if (is_new) {
		p->scratch.len = 0;
		pb__uint(&p->scratch, 1, id);
		pb__uint(&p->scratch, 2, key[0]);
		pb__uint(&p->scratch, 3, key[0]);
		pb__uint(&p->scratch, 4, key[1]);
		pb__bytes(&p->body, 5, p->scratch.p, p->scratch.len);
	}
	return id;
}

/*
 * One Location for a real frame @fr[0] and the inline frames @fr[1..n-1]
 * that follow it (root first); pprof wants its lines innermost first.
 */
static uint64_t location_id(struct pprof *p, const struct frame *fr, int n)
{
	uint64_t key[1 + 3 * n], id;
	struct wbuf lines = {};
	bool is_new;
	int i;

	key[0] = mapping_id(p, fr[0].module, fr[0].build_id);
	for (i = 0; i < n; i++) {
		key[1 + 3 * i] = function_id(p, &fr[n - 1 - i]);
		key[2 + 3 * i] = fr[n - 1 - i].line;
		key[3 + 3 * i] = fr[n - 1 - i].flags & FRAME_F_KERNEL;
	}
	id = intern(&p->locations, &p->nlocations, key, sizeof(key), &is_new);
	if (id == UINT64_MAX) {
		p->body.err = -ENOMEM;
		return 0;
	}
	if (!is_new)
		return id;
	p->scratch.len = 0;
	pb__uint(&p->scratch, 1, id);
	pb__uint(&p->scratch, 2, key[0]);
	for (i = 0; i < n; i++) {
		lines.len = 0;
		pb__uint(&lines, 1, key[1 + 3 * i]);
		pb__uint(&lines, 2, key[2 + 3 * i]);
		pb__bytes(&p->scratch, 4, lines.p, lines.len);
	}
	if (lines.err)
		p->body.err = lines.err;
	wbuf__free(&lines);
	pb__bytes(&p->body, 4, p->scratch.p, p->scratch.len);
	return id;
}

struct pprof *pprof__new(uint64_t period_ns, int64_t start_ms, int64_t end_ms)
{
	struct pprof *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	/* pprof reserves id 0 for functions, locations and mappings */
	p->nfunctions = p->nlocations = p->nmappings = 1;
	p->period_ns = period_ns;
	p->start_ms = start_ms;
	p->end_ms = end_ms;
	str_id(p, "");
	if (p->body.err) {
		pprof__free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

void pprof__set_end(struct pprof *p, int64_t end_ms)
{
	p->end_ms = end_ms > p->start_ms ? end_ms : p->start_ms;
}

void pprof__free(struct pprof *p)
{
	if (!p)
		return;
	tdestroy(p->strings, intern_free);
	tdestroy(p->functions, intern_free);
	tdestroy(p->locations, intern_free);
	tdestroy(p->mappings, intern_free);
	wbuf__free(&p->body);
	wbuf__free(&p->scratch);
	free(p->locs);
	free(p);
}

static void put_label(struct wbuf *b, uint64_t key, int field, uint64_t v)
{
	struct wbuf l = {};

	pb__uint(&l, 1, key);
	pb__uint(&l, field, v);
	if (l.err)
		b->err = l.err;
	pb__bytes(b, 3, l.p, l.len);
	wbuf__free(&l);
}

int pprof__add(struct pprof *p, const char *comm, uint32_t pid,
	       const struct frame *frames, int nframes, uint64_t count)
{
	struct wbuf sample = {}, ids = {};
	int i, j;

	/* group each real frame with the inline frames that follow it */
	for (i = nframes - 1; i >= 0; i = j - 1) {
		for (j = i; j > 0 && (frames[j].flags & FRAME_F_INLINE); j--)
			;
		pb__varint(&ids, location_id(p, &frames[j], i - j + 1));
	}
	pb__bytes(&sample, 1, ids.p, ids.len);
	ids.len = 0;
	if (!p->cpu_only)
		pb__varint(&ids, count);
	pb__varint(&ids, count * p->period_ns);
	pb__bytes(&sample, 2, ids.p, ids.len);
	put_label(&sample, str_id(p, "comm"), 2, str_id(p, comm));
	put_label(&sample, str_id(p, "pid"), 3, pid);
	pb__bytes(&p->body, 2, sample.p, sample.len);
	if (sample.err || ids.err)
		p->body.err = -ENOMEM;
	wbuf__free(&sample);
	wbuf__free(&ids);
	return p->body.err;
}

static void put_value_type(struct pprof *p, struct wbuf *b, int field, const char *type,
			   const char *unit)
{
	struct wbuf vt = {};

	pb__uint(&vt, 1, str_id(p, type));
	pb__uint(&vt, 2, str_id(p, unit));
	pb__bytes(b, field, vt.p, vt.len);
	if (vt.err)
		b->err = vt.err;
	wbuf__free(&vt);
}

size_t pprof__size(const struct pprof *p)
{
	return p->body.len + 64;	/* the header pprof__write() puts before it */
}

static int gzip_write(const struct wbuf *b, FILE *out)
{
	z_stream zs = {};
	uint8_t chunk[65536];
	int zerr, err = 0;

	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)b->p;
	zs.avail_in = b->len;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zerr = deflate(&zs, Z_FINISH);
		if (fwrite(chunk, 1, sizeof(chunk) - zs.avail_out, out) !=
		    sizeof(chunk) - zs.avail_out) {
			err = -errno;
			break;
		}
	} while (zerr == Z_OK);
	deflateEnd(&zs);
	if (!err && zerr != Z_STREAM_END)
		err = -EIO;
	return err;
}

int pprof__write(struct pprof *p, FILE *out)
{
	struct wbuf head = {};
	int err;

	if (!p->cpu_only)
		put_value_type(p, &head, 1, "samples", "count");
	put_value_type(p, &head, 1, "cpu", "nanoseconds");
	pb__uint(&head, 9, (uint64_t)p->start_ms * 1000000);
	pb__uint(&head, 10, (uint64_t)(p->end_ms - p->start_ms) * 1000000);
	put_value_type(p, &head, 11, "cpu", "nanoseconds");
	pb__uint(&head, 12, p->period_ns);
	wbuf__put(&head, p->body.p, p->body.len);
	err = head.err ? head.err : p->body.err;
	if (!err)
		err = gzip_write(&head, out);
	if (!err && fflush(out))
		err = -errno;
	wbuf__free(&head);
	return err;
}

void pprof__set_cpu_only(struct pprof *p)
{
	p->cpu_only = true;
}
