/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * internal.h - what the web module's files share: the API's request and
 * reply and its handlers.  Answers are built in util/'s wbuf; flame trees
 * and the viewer's files come from export/.
 */
#ifndef EMBER_WEB_INTERNAL_H
#define EMBER_WEB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "export.h"
#include "web.h"
#include "wbuf.h"
#include "itab.h"


/* An API answer: status, content type and body. */
struct web_reply {
	int status;
	const char *type;
	struct wbuf body;
	const char *disposition;	/* Content-Disposition or NULL */
	int stream_fd;			/* > 0: the body is read from this pipe instead */
};

/* Request parameters, looked up by name (NULL when absent). */
typedef const char *(*web_param_fn)(void *ctx, const char *name);

struct api_req {
	const char *db;
	const char *path;
	web_param_fn param;
	void *param_ctx;
	const struct web_metrics_source *metrics;
};

/* Runs the API endpoint for @r->path; fills @rep.  Returns 0, or -ENOENT for no such path. */
int api__handle(const struct api_req *r, struct web_reply *rep);
/* Sets @rep to a JSON error {"error": msg} with @status. */
void api__error(struct web_reply *rep, int status, const char *msg);
/* /metrics: store metrics, then the source's. */
int api__metrics(const struct api_req *r, struct web_reply *rep);

#endif /* EMBER_WEB_INTERNAL_H */
