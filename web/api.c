// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * api.c - the JSON API: parameter parsing shared by every endpoint, and the
 * flame graph, diff and process list.  Each request opens its own
 * read-only store, so requests never share a connection.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "timearg.h"

void api__error(struct web_reply *rep, int status, const char *msg)
{
	wbuf__free(&rep->body);
	rep->status = status;
	rep->type = "application/json";
	wbuf__puts(&rep->body, "{\"error\":");
	wbuf__json_str(&rep->body, msg);
	wbuf__puts(&rep->body, "}\n");
}

/* Sets a 400 naming the parameter and its (escaped later) value; returns -EINVAL. */
int api__bad(struct web_reply *rep, const char *what, const char *name, const char *val)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "invalid %s for '%s': '%.100s'", what, name, val);
	api__error(rep, 400, msg);
	return -EINVAL;
}

const char *api__param(const struct api_req *r, const char *prefix, const char *name)
{
	char full[64];

	snprintf(full, sizeof(full), "%s%s", prefix, name);
	return r->param(r->param_ctx, full);
}

/* An integer parameter in [lo, hi], or @dflt when absent. */
int api__int(const struct api_req *r, struct web_reply *rep, const char *name, long lo,
	     long hi, long dflt, long *out)
{
	const char *s = api__param(r, "", name);
	char *end;

	*out = dflt;
	if (!s)
		return 0;
	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || !*s || *end || *out < lo || *out > hi)
		return api__bad(rep, "number", name, s);
	return 0;
}

static int parse_time(const struct api_req *r, struct web_reply *rep, const char *prefix,
		      const char *name, int64_t now, int64_t *ms)
{
	const char *s = api__param(r, prefix, name);

	if (s && timearg__parse(s, now, ms))
		return api__bad(rep, "time", name, s);
	return 0;
}

static int parse_kind(const char *s, enum export_kind *kind)
{
	if (!strcmp(s, "all"))
		*kind = EXPORT_KIND_ALL;
	else if (!strcmp(s, "kernel"))
		*kind = EXPORT_KIND_KERNEL;
	else if (!strcmp(s, "user"))
		*kind = EXPORT_KIND_USER;
	else
		return -EINVAL;
	return 0;
}

static int parse_pid(const char *s, int64_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*pid = v;
	return 0;
}

/*
 * Reads from, to, comm, pid, kind and frame (each prefixed with @prefix);
 * absent ones keep @out's values.  Returns 0 or -EINVAL with a 400 set.
 */
int api__filter(const struct api_req *r, struct web_reply *rep, const char *prefix,
		struct api_filter *out)
{
	int64_t now = timearg__now_ms();
	const char *s;

	if (parse_time(r, rep, prefix, "from", now, &out->f.from_ms) ||
	    parse_time(r, rep, prefix, "to", now, &out->f.to_ms))
		return -EINVAL;
	/* no from: the hour before to, not the whole retention period */
	if (!api__param(r, prefix, "from") && (!out->f.from_ms || api__param(r, prefix, "to")))
		out->f.from_ms = out->f.to_ms - WEB_DEFAULT_RANGE_MS;
	if (out->f.from_ms >= out->f.to_ms) {
		api__error(rep, 400, "'from' must be before 'to'");
		return -EINVAL;
	}
	s = api__param(r, prefix, "comm");
	if (s)
		out->f.comm = *s ? s : NULL;
	s = api__param(r, prefix, "pid");
	if (s && *s && parse_pid(s, &out->f.pid))
		return api__bad(rep, "pid", "pid", s);
	s = api__param(r, prefix, "kind");
	if (s && parse_kind(s, &out->sel.kind))
		return api__bad(rep, "kind (all, kernel or user)", "kind", s);
	s = api__param(r, prefix, "frame");
	if (s)
		out->sel.match = *s ? s : NULL;
	return 0;
}

void api__default_filter(struct api_filter *f)
{
	*f = (struct api_filter){ .f = { .from_ms = 0, .to_ms = timearg__now_ms(), .pid = -1 } };
}

void api__store_error(struct web_reply *rep, int err)
{
	char msg[160];

	if (err == -EINTR) {
		snprintf(msg, sizeof(msg), "the request took longer than %d s: narrow the range "
			 "or the filters", WEB_REQUEST_BUDGET_MS / 1000);
		api__error(rep, 503, msg);
	} else {
		api__error(rep, err == -ENOMEM ? 503 : 500, store__strerror(err));
	}
}

int api__open(const struct api_req *r, struct web_reply *rep, struct store **st)
{
	int err = store__open(r->db, STORE_READONLY, st);
	char msg[256];

	if (!err) {
		store__set_time_limit(*st, WEB_REQUEST_BUDGET_MS);
		return 0;
	}
	snprintf(msg, sizeof(msg), "cannot open the store: %s", store__strerror(err));
	api__error(rep, err == -ENOENT ? 503 : 500, msg);
	return err;
}

/* Runs one filtered query into @side of @t.  Sets a 500/503 on failure. */
static int fill_tree(struct store *st, struct flame *t, int side,
		     const struct api_filter *f, struct web_reply *rep)
{
	int err;

	flame__select(t, side, &f->sel);
	err = store__query(st, &f->f, flame__add, t);
	if (err)
		api__store_error(rep, err);
	return err;
}

static void write_range(struct wbuf *b, const char *prefix, const struct api_filter *f)
{
	wbuf__printf(b, "\"%sfrom\":%lld,\"%sto\":%lld,", prefix, (long long)f->f.from_ms,
		     prefix, (long long)f->f.to_ms);
}

/* /api/flamegraph and /api/diff (@diff: a baseline goes in side 1). */
static int flame(const struct api_req *r, struct web_reply *rep, bool diff)
{
	struct api_filter f, base;
	struct flame *t = NULL;
	struct store *st = NULL;
	long max;
	int err;

	api__default_filter(&f);
	err = api__filter(r, rep, "", &f);
	base = f;
	if (!err && diff)
		err = api__filter(r, rep, "base_", &base);
	if (!err)
		err = api__int(r, rep, "max_nodes", 10, 1000000, FLAME_DEFAULT_MAX_NODES, &max);
	if (!err)
		err = api__open(r, rep, &st);
	if (err)
		goto out;
	t = flame__new();
	err = t ? fill_tree(st, t, 0, &f, rep) : -ENOMEM;
	if (!err && diff)
		err = fill_tree(st, t, 1, &base, rep);
	if (err)
		goto out;
	wbuf__puts(&rep->body, "{");
	write_range(&rep->body, "", &f);
	if (diff)
		write_range(&rep->body, "base_", &base);
	err = flame__json(t, max, diff, &rep->body);
	wbuf__puts(&rep->body, "}\n");
	err = err ?: rep->body.err;
out:
	flame__free(t);
	store__free(st);
	return err;
}

int api__flamegraph(const struct api_req *r, struct web_reply *rep)
{
	return flame(r, rep, false);
}

int api__diff(const struct api_req *r, struct web_reply *rep)
{
	return flame(r, rep, true);
}
