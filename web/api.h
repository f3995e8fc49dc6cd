/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/* api.h - helpers and endpoints shared by the web module's API files. */
#ifndef EMBER_WEB_API_H
#define EMBER_WEB_API_H

#include <stdio.h>
#include "internal.h"

/* A request's sample selection. */
struct api_filter {
	struct store_filter f;
	struct export_select sel;	/* kind and frame-name substring */
};

/* Without from, a request covers the hour before to. */
#define WEB_DEFAULT_RANGE_MS (3600 * 1000LL)
/* A request's time budget in the store (past it: 503). */
#define WEB_REQUEST_BUDGET_MS 10000

/* Defaults: up to now (api__filter() makes from the hour before), every process and frame. */
void api__default_filter(struct api_filter *f);

/*
 * Parses @prefix-ed from, to, comm, pid, kind and frame over @out.
 * Returns 0 or -EINVAL with a 400 already set in @rep.
 */
int api__filter(const struct api_req *r, struct web_reply *rep, const char *prefix,
		struct api_filter *out);

/* An integer parameter in [lo, hi] (@dflt when absent); -EINVAL with a 400 set. */
int api__int(const struct api_req *r, struct web_reply *rep, const char *name, long lo,
	     long hi, long dflt, long *out);

/* The value of @prefix@name, or NULL. */
const char *api__param(const struct api_req *r, const char *prefix, const char *name);

/* Sets a 400 for a bad parameter value and returns -EINVAL. */
int api__bad(struct web_reply *rep, const char *what, const char *name, const char *val);

/* Sets the error reply for a store failure: 503 past the time budget or out of memory, else 500. */
void api__store_error(struct web_reply *rep, int err);

/* Opens the store read-only with the time budget; on failure sets a 503/500 and returns -errno. */
int api__open(const struct api_req *r, struct web_reply *rep, struct store **st);

int api__flamegraph(const struct api_req *r, struct web_reply *rep);
int api__diff(const struct api_req *r, struct web_reply *rep);
int api__timeline(const struct api_req *r, struct web_reply *rep);
int api__processes(const struct api_req *r, struct web_reply *rep);
int api__export(const struct api_req *r, struct web_reply *rep);

#endif /* EMBER_WEB_API_H */
