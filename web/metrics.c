// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * metrics.c - /metrics in the Prometheus text format, and the routing of
 * API paths to their handlers.  The store's own figures are always there;
 * the agent adds its counters through a web_metrics_source.
 */
#include <errno.h>
#include <string.h>
#include "api.h"

struct web_metrics {
	struct wbuf *b;
};

static bool valid_name(const char *name, enum web_metric_type type)
{
	size_t n = strlen(name), i;

	if (!n || n > 100)
		return false;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return false;
	return type != WEB_COUNTER || (n > 6 && !strcmp(name + n - 6, "_total"));
}

static void put_help(struct web_metrics *m, const char *name, const char *help,
		     enum web_metric_type type)
{
	const char *h;

	wbuf__printf(m->b, "# HELP ember_%s ", name);
	for (h = help; *h; h++)	/* help text is one line; \ and newlines escaped */
		wbuf__puts(m->b, *h == '\\' ? "\\\\" : *h == '\n' ? "\\n" : (char[2]){ *h, 0 });
	wbuf__printf(m->b, "\n# TYPE ember_%s %s\n", name,
		     type == WEB_COUNTER ? "counter" : "gauge");
}

int web_metrics__add(struct web_metrics *m, const char *name, const char *help,
		     enum web_metric_type type, double value)
{
	if (!valid_name(name, type))
		return -EINVAL;
	put_help(m, name, help, type);
	wbuf__printf(m->b, "ember_%s %.17g\n", name, value);
	return m->b->err;
}

int web_metrics__add_labeled(struct web_metrics *m, const char *name, const char *help,
			     enum web_metric_type type, const char *label,
			     const char *const *keys, const double *values, int n)
{
	const char *k;
	int i;

	if (!valid_name(name, type) || !valid_name(label, WEB_GAUGE))
		return -EINVAL;
	put_help(m, name, help, type);
	for (i = 0; i < n; i++) {
		wbuf__printf(m->b, "ember_%s{%s=\"", name, label);
		for (k = keys[i]; *k; k++)	/* label values escape \, " and newlines */
			wbuf__puts(m->b, *k == '\\' ? "\\\\" : *k == '"' ? "\\\"" :
				   *k == '\n' ? "\\n" : (char[2]){ *k, 0 });
		wbuf__printf(m->b, "\"} %.17g\n", values[i]);
	}
	return m->b->err;
}

static int store_metrics(struct store *st, struct web_metrics *m)
{
	struct store_stats ss;
	int err = store__stats(st, &ss);

	if (err)
		return err;
	err = web_metrics__add(m, "store_size_bytes", "Size of the store's database file.",
			       WEB_GAUGE, ss.bytes);
	err = err ?: web_metrics__add(m, "store_windows", "Windows held in the store.",
				      WEB_GAUGE, ss.windows);
	err = err ?: web_metrics__add(m, "store_samples", "Samples held in the store.",
				      WEB_GAUGE, ss.samples);
	err = err ?: web_metrics__add(m, "store_oldest_timestamp_seconds",
				      "Start of the oldest window.", WEB_GAUGE, ss.first_ms / 1e3);
	err = err ?: web_metrics__add(m, "store_newest_timestamp_seconds",
				      "End of the newest window.", WEB_GAUGE, ss.last_ms / 1e3);
	return err;
}

int api__metrics(const struct api_req *r, struct web_reply *rep)
{
	struct web_metrics m = { .b = &rep->body };
	struct store *st = NULL;
	int err;

	err = api__open(r, rep, &st);
	if (err)
		return err;
	err = store_metrics(st, &m);
	if (!err && r->metrics && r->metrics->collect)
		err = r->metrics->collect(r->metrics->ctx, &m);
	store__free(st);
	if (err) {
		api__error(rep, 500, strerror(-err));
		return err;
	}
	rep->type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}

int api__handle(const struct api_req *r, struct web_reply *rep)
{
	static const struct {
		const char *path;
		int (*fn)(const struct api_req *r, struct web_reply *rep);
	} routes[] = {
		{ "/api/flamegraph", api__flamegraph },
		{ "/api/diff", api__diff },
		{ "/api/timeline", api__timeline },
		{ "/api/processes", api__processes },
		{ "/api/export", api__export },
		{ "/metrics", api__metrics },
	};
	size_t i;

	rep->status = 200;
	rep->type = "application/json";
	if (!strcmp(r->path, "/healthz")) {
		rep->type = "text/plain; charset=utf-8";
		wbuf__puts(&rep->body, "ok\n");
		return 0;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(r->path, routes[i].path))
			continue;
		if (routes[i].fn(r, rep) && rep->status == 200)
			api__error(rep, 500, "internal error");
		return 0;
	}
	return -ENOENT;
}
