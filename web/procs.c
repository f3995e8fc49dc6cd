// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * procs.c - the per-process answers: /api/processes (samples per process
 * over a range) and /api/timeline (samples per time bucket, in total and
 * for the busiest commands).  Both come from store__proc_buckets(), one
 * pass over the range's samples that never reads a stack or frame.
 * Names are the processes' to choose (PR_SET_NAME), so the keys counted
 * per request are capped: past the cap, samples go to "other".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

#define MAX_BUCKETS 1000
#define MAX_VALUES (1u << 20)	/* keys x buckets one request counts: 8 MiB */
#define MAX_PROC_KEYS 100000	/* processes one request counts */

/* Per-key sample counts, @nvals values per key. */
struct counts {
	struct store_itab keys;
	uint64_t **vals;
	uint32_t cap, nvals, bucket;
	char **exe, **cgroup;		/* /api/processes only, ninfo filled */
	uint32_t ninfo;
	uint32_t max_keys;		/* past this many keys, new ones go to other */
	uint64_t *other;		/* nvals counts of the keys past max_keys */
	bool folded;			/* some key went to other */
};

static int counts_init(struct counts *c, uint32_t nvals)
{
	c->nvals = nvals;
	c->max_keys = MAX_VALUES / nvals;
	c->other = calloc(nvals, sizeof(*c->other));
	return c->other ? 0 : -ENOMEM;
}

/* Sets *idx to @key's slot; returns 1 when the key goes to other instead. */
static int counts_slot(struct counts *c, const void *key, uint32_t len, uint32_t *idx)
{
	bool added;
	int err;

	if (c->keys.n >= c->max_keys && store_itab__find(&c->keys, key, len, idx)) {
		c->folded = true;
		return 1;
	}
	err = store_itab__intern(&c->keys, key, len, idx, &added);

	if (err || !added)
		return err;
	if (*idx >= c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 64;
		uint64_t **v = realloc(c->vals, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->vals = v;
		c->cap = cap;
	}
	c->vals[*idx] = calloc(c->nvals, sizeof(**c->vals));
	return c->vals[*idx] ? 0 : -ENOMEM;
}

static void counts_fini(struct counts *c)
{
	uint32_t i;

	for (i = 0; i < c->keys.n && i < c->cap; i++)
		free(c->vals[i]);
	for (i = 0; i < c->ninfo; i++) {
		free(c->exe[i]);
		free(c->cgroup[i]);
	}
	free(c->vals);
	free(c->other);
	free(c->exe);
	free(c->cgroup);
	store_itab__clear(&c->keys);
}

static uint64_t key_total(const struct counts *c, uint32_t i)
{
	uint64_t sum = 0;
	uint32_t b;

	for (b = 0; b < c->nvals; b++)
		sum += c->vals[i][b];
	return sum;
}

static int cmp_total(const void *a, const void *b, void *ctx)
{
	const uint64_t *tot = ctx;
	uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;

	if (tot[ia] != tot[ib])
		return tot[ia] > tot[ib] ? -1 : 1;
	return ia < ib ? -1 : 1;
}

/* Key indices, heaviest first; NULL when out of memory. */
static uint32_t *rank(const struct counts *c)
{
	uint32_t *order = malloc((c->keys.n + 1) * sizeof(*order)), i;
	uint64_t *tot = malloc((c->keys.n + 1) * sizeof(*tot));

	if (order && tot) {
		for (i = 0; i < c->keys.n; i++) {
			order[i] = i;
			tot[i] = key_total(c, i);
		}
		qsort_r(order, c->keys.n, sizeof(*order), cmp_total, tot);
	} else {
		free(order);
		order = NULL;
	}
	free(tot);
	return order;
}

struct bucket_ctx {
	struct counts *c;
	int64_t from_ms, step;
};

static int add_comm(void *ctx, int64_t bucket_ms, const struct store_proc *proc,
		    uint64_t count)
{
	struct bucket_ctx *b = ctx;
	struct counts *c = b->c;
	int64_t k = (bucket_ms - b->from_ms) / b->step;
	uint32_t idx;
	int err;

	if (k < 0 || k >= c->nvals)
		return 0;	/* cannot happen: buckets cover exactly [from, to) */
	err = counts_slot(c, proc->comm, strlen(proc->comm), &idx);
	if (err == 1)
		c->other[k] += count;
	else if (!err)
		c->vals[idx][k] += count;
	return err < 0 ? err : 0;
}

static int min_dur(void *ctx, const struct store_window_info *w)
{
	int64_t *min = ctx;

	if (!*min || w->dur_ms < *min)
		*min = w->dur_ms;
	return 0;
}

/* Buckets no narrower than the finest window in range, so none is always empty. */
static int64_t bucket_step(struct store *st, const struct api_filter *f, long nb)
{
	int64_t step = (f->f.to_ms - f->f.from_ms + nb - 1) / nb, min = 0;

	store__windows(st, f->f.from_ms, f->f.to_ms, min_dur, &min);
	if (step < min)
		step = min;
	return step < 1000 ? 1000 : step;
}

/* Clips [from, to) to the store's data so buckets are not wasted on nothing. */
static void clip_range(struct store *st, struct api_filter *f, struct store_stats *ss)
{
	if (store__stats(st, ss) || !ss->windows)
		return;
	if (f->f.from_ms < ss->first_ms)
		f->f.from_ms = ss->first_ms;
	if (f->f.to_ms > ss->last_ms)
		f->f.to_ms = ss->last_ms;
	if (f->f.to_ms <= f->f.from_ms)
		f->f.to_ms = f->f.from_ms + 1;
}

static void write_series(struct wbuf *b, const struct counts *c, const uint32_t *order,
			 long top)
{
	uint32_t i, k;

	wbuf__puts(b, ",\"total\":[");
	for (k = 0; k < c->nvals; k++) {
		uint64_t sum = c->other[k];

		for (i = 0; i < c->keys.n; i++)
			sum += c->vals[i][k];
		wbuf__printf(b, k ? ",%llu" : "%llu", (unsigned long long)sum);
	}
	wbuf__puts(b, "],\"series\":[");
	for (i = 0; i < c->keys.n && i < top; i++) {
		wbuf__puts(b, i ? ",{\"comm\":" : "{\"comm\":");
		wbuf__json_str(b, store_itab__key(&c->keys, order[i]));
		wbuf__puts(b, ",\"values\":[");
		for (k = 0; k < c->nvals; k++)
			wbuf__printf(b, k ? ",%llu" : "%llu",
				     (unsigned long long)c->vals[order[i]][k]);
		wbuf__puts(b, "]}");
	}
	/* every command past the top ones, in one series */
	if (c->keys.n > (uint64_t)top || c->folded) {
		wbuf__puts(b, top && c->keys.n ? ",{\"comm\":\"other\",\"other\":true,\"values\":[" :
			   "{\"comm\":\"other\",\"other\":true,\"values\":[");
		for (k = 0; k < c->nvals; k++) {
			uint64_t sum = c->other[k];

			for (i = top; i < c->keys.n; i++)
				sum += c->vals[order[i]][k];
			wbuf__printf(b, k ? ",%llu" : "%llu", (unsigned long long)sum);
		}
		wbuf__puts(b, "]}");
	}
	wbuf__puts(b, "]}\n");
}

static int run_buckets(struct store *st, struct api_filter *f, struct counts *c, int64_t step,
		       struct web_reply *rep)
{
	struct bucket_ctx b = { .c = c, .from_ms = f->f.from_ms, .step = step };
	int err;

	err = store__proc_buckets(st, &f->f, step, add_comm, &b);
	if (err)
		api__store_error(rep, err);
	return err;
}

int api__timeline(const struct api_req *r, struct web_reply *rep)
{
	struct store_stats ss = {};
	struct counts c = {};
	struct api_filter f;
	struct store *st = NULL;
	uint32_t *order = NULL;
	long nb, top;
	int64_t step, window = 0;
	int err;

	api__default_filter(&f);
	err = api__filter(r, rep, "", &f);
	if (!err)
		err = api__int(r, rep, "buckets", 1, MAX_BUCKETS, 60, &nb);
	if (!err)
		err = api__int(r, rep, "top", 0, 50, 5, &top);
	if (!err)
		err = api__open(r, rep, &st);
	if (err)
		goto out;
	clip_range(st, &f, &ss);
	step = bucket_step(st, &f, nb);
	err = counts_init(&c, (f.f.to_ms - f.f.from_ms + step - 1) / step);
	if (err)
		api__error(rep, 503, "out of memory");
	else
		err = run_buckets(st, &f, &c, step, rep);
	if (err)
		goto out;
	order = rank(&c);
	err = order ? 0 : -ENOMEM;
	if (err)
		goto out;
	/* the newest windows' length: how often the viewer's live mode refreshes */
	if (store__windows(st, ss.last_ms - 3600000, ss.last_ms + 1, min_dur, &window))
		window = 0;	/* unknown: the viewer falls back to 10 s */
	wbuf__printf(&rep->body, "{\"first\":%lld,\"last\":%lld,\"from\":%lld,\"to\":%lld,"
		     "\"step\":%lld,\"buckets\":%u,\"window\":%lld", (long long)ss.first_ms,
		     (long long)ss.last_ms, (long long)f.f.from_ms, (long long)f.f.to_ms,
		     (long long)step, c.nvals, (long long)window);
	write_series(&rep->body, &c, order, top);
	err = rep->body.err;
out:
	free(order);
	counts_fini(&c);
	store__free(st);
	return err;
}

static int grow_strs(char ***arr, uint32_t n)
{
	char **p = realloc(*arr, n * sizeof(**arr));

	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int add_proc(void *ctx, int64_t bucket_ms, const struct store_proc *proc,
		    uint64_t count)
{
	struct counts *c = ctx;
	size_t n = strlen(proc->comm);
	char key[4 + n];
	uint32_t idx, old = c->keys.n;
	int err;

	(void)bucket_ms;
	memcpy(key, &proc->pid, 4);
	memcpy(key + 4, proc->comm, n);
	err = counts_slot(c, key, 4 + n, &idx);
	if (err == 1)
		c->other[0] += count;
	if (err)
		return err < 0 ? err : 0;
	c->vals[idx][0] += count;
	if (c->keys.n == old)
		return 0;
	if (grow_strs(&c->exe, c->cap) || grow_strs(&c->cgroup, c->cap))
		return -ENOMEM;
	c->exe[idx] = dup_or_null(proc->exe);
	c->cgroup[idx] = dup_or_null(proc->cgroup);
	c->ninfo = idx + 1;
	return 0;
}

static void write_procs(struct wbuf *b, const struct counts *c, const uint32_t *order,
			long limit)
{
	uint64_t other = c->other[0];
	uint32_t i, pid;
	const char *key;

	for (i = limit; i < c->keys.n; i++)
		other += c->vals[order[i]][0];
	/* the processes past the limit (or past what one request counts), summed */
	wbuf__printf(b, "\"truncated\":%s,\"other_samples\":%llu,",
		     c->keys.n > limit || c->folded ? "true" : "false", (unsigned long long)other);

	wbuf__puts(b, "\"processes\":[");
	for (i = 0; i < c->keys.n && i < limit; i++) {
		key = store_itab__key(&c->keys, order[i]);
		memcpy(&pid, key, 4);
		wbuf__printf(b, "%s{\"pid\":%u,\"comm\":", i ? "," : "", pid);
		wbuf__json_str(b, key + 4);
		wbuf__puts(b, ",\"exe\":");
		wbuf__json_str(b, c->exe[order[i]]);
		wbuf__puts(b, ",\"cgroup\":");
		wbuf__json_str(b, c->cgroup[order[i]]);
		wbuf__printf(b, ",\"samples\":%llu}", (unsigned long long)c->vals[order[i]][0]);
	}
	wbuf__puts(b, "]}\n");
}

int api__processes(const struct api_req *r, struct web_reply *rep)
{
	struct counts c = {};
	struct api_filter f;
	struct store *st = NULL;
	uint32_t *order = NULL;
	long limit;
	int err;

	api__default_filter(&f);
	err = api__filter(r, rep, "", &f);
	if (!err)
		err = api__int(r, rep, "limit", 1, 100000, 1000, &limit);
	if (!err && (err = counts_init(&c, 1)))
		api__error(rep, 503, "out of memory");
	c.max_keys = MAX_PROC_KEYS;
	if (!err)
		err = api__open(r, rep, &st);
	if (err)
		goto out;
	err = store__proc_buckets(st, &f.f, 0, add_proc, &c);
	if (err) {
		api__store_error(rep, err);
		goto out;
	}
	order = rank(&c);
	err = order ? 0 : -ENOMEM;
	if (err)
		goto out;
	wbuf__printf(&rep->body, "{\"from\":%lld,\"to\":%lld,\"total_processes\":%u,",
		     (long long)f.f.from_ms, (long long)f.f.to_ms, c.keys.n);
	write_procs(&rep->body, &c, order, limit);
	err = rep->body.err;
out:
	free(order);
	counts_fini(&c);
	store__free(st);
	return err;
}
