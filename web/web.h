/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * web.h - ember's HTTP server: the JSON API and the viewer (whose files,
 * like the flame tree and every export format, belong to export/).
 *
 * The server reads the store through its own read-only connections, one per
 * request, so it never shares a struct store with the writer.  Everything
 * it returns is built from untrusted names and is escaped accordingly.
 */
#ifndef EMBER_WEB_H
#define EMBER_WEB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "store.h"

struct web;
struct web_metrics;

enum web_metric_type {
	WEB_COUNTER,	/* monotonic; the name must end in _total */
	WEB_GAUGE,
};

/*
 * Appends one metric to a /metrics answer.  @name goes without the ember_
 * prefix (added here) and must be [a-z0-9_]+; @help is one line of text.
 * Returns 0, -EINVAL (bad name, counter not ending in _total) or -ENOMEM.
 */
int web_metrics__add(struct web_metrics *m, const char *name, const char *help,
		     enum web_metric_type type, double value);

/* A family with one label: one line per key, e.g. ember_NAME{LABEL="key"} value. */
int web_metrics__add_labeled(struct web_metrics *m, const char *name, const char *help,
			     enum web_metric_type type, const char *label,
			     const char *const *keys, const double *values, int n);

/*
 * What the agent adds to /metrics.  @collect runs on a server thread for
 * every /metrics request, so it must lock whatever it reads; it returns 0
 * or -errno (the request then fails with 500).
 */
struct web_metrics_source {
	int (*collect)(void *ctx, struct web_metrics *out);
	void *ctx;
};

#define WEB_MAX_ALLOW_HOSTS 16

struct web_opts {
	const char *db;			/* store path, opened read-only per request */
	const char *listen;		/* "ADDR:PORT" or "[V6]:PORT"; NULL: 127.0.0.1:7070 */
	const char *token;		/* required on every request when set */
	bool insecure_public;		/* allow a non-loopback listen without a token */
	/*
	 * Host header names answered besides the listen address, localhost,
	 * 127.0.0.1 and [::1] (--allow-host); any other gets 403, so a web
	 * page cannot reach the server through DNS rebinding.
	 */
	const char *allow_hosts[WEB_MAX_ALLOW_HOSTS];
	int nallow_hosts;
	struct web_metrics_source metrics;	/* collect NULL: store metrics only */
};

/* The default --listen address. */
#define WEB_DEFAULT_LISTEN "127.0.0.1:7070"

/*
 * Starts serving on its own threads and sets *out (web__free() stops it).
 * Returns 0 or -errno: -EINVAL for a malformed listen address, -EACCES for
 * a non-loopback address without a token (unless insecure_public),
 * -EADDRINUSE, or what starting the daemon failed with.  Strings in @o
 * must outlive the server.
 */
int web__new(const struct web_opts *o, struct web **out);

/* Stops the server, waiting for requests in flight.  NULL is a no-op. */
void web__free(struct web *w);

/* The port actually bound (useful with port 0). */
int web__port(const struct web *w);

/* A message for a -errno from web__new(), with the fix when there is one. */
const char *web__strerror(int err);

#endif /* EMBER_WEB_H */
