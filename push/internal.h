/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * internal.h - what the push module's files share: a growable byte buffer
 * with the protobuf wire primitives, a window's encoded requests, and the
 * per-window collection of samples by service.
 */
#ifndef EMBER_PUSH_INTERNAL_H
#define EMBER_PUSH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>
#include "push.h"
#include "pb.h"

/*
 * The libcurl functions push calls, resolved from libcurl.so.4 when a
 * pusher starts (push.c): ember is not linked against libcurl, so runs
 * without --push never map it (nor the TLS, Kerberos and LDAP libraries
 * it pulls in).  The types are libcurl's own, from curl/curl.h.
 */
#define PUSH_CURL_SONAME "libcurl.so.4"

struct curl_api {
	void *lib;
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_global_cleanup) *global_cleanup;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_easy_escape) *easy_escape;
	__typeof__(curl_free) *free;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_mime_init) *mime_init;
	__typeof__(curl_mime_addpart) *mime_addpart;
	__typeof__(curl_mime_name) *mime_name;
	__typeof__(curl_mime_filename) *mime_filename;
	__typeof__(curl_mime_type) *mime_type;
	__typeof__(curl_mime_data) *mime_data;
	__typeof__(curl_mime_free) *mime_free;
	__typeof__(curl_url) *url;
	__typeof__(curl_url_set) *url_set;
	__typeof__(curl_url_get) *url_get;
	__typeof__(curl_url_cleanup) *url_cleanup;
};

/* Pyroscope's per-profile limits: samples (stacks) and uncompressed bytes. */
#define PUSH_MAX_SAMPLES 16000
#define PUSH_MAX_PROFILE_BYTES (4u << 20)


/* One HTTP request; path is appended to the base URL. */
struct push_req {
	char *path;
	uint8_t *body;
	size_t len;
	bool multipart;		/* body goes as the form field "profile" */
};

struct push_window {
	struct push_window *next;
	int64_t start_ms, end_ms;
	struct push_req *reqs;
	int nreqs, done;	/* reqs[0..done) were delivered or dropped */
	uint64_t bytes;
	int attempts;		/* failures of reqs[done] so far */
	double next_try;	/* monotonic seconds */
};

void push_window__free(struct push_window *w);

/* The settings encoding needs (a copy of push_opts' parts, owned). */
struct push_enc {
	enum push_protocol protocol;
	uint32_t freq;
	char *host;
	struct push_label *labels;	/* extra labels, strings owned */
	int nlabels;
	const struct curl_api *curl;	/* escapes /ingest names; the pusher's */
};

/* window.c: one window's samples, by service, as gzipped pprof chunks. */
struct push_collect;

struct push_collect *push_collect__new(int64_t start_ms, int64_t end_ms, uint32_t freq);
void push_collect__free(struct push_collect *c);
int push_collect__add(struct push_collect *c, const char *service, const struct store_proc *proc,
		      const struct frame *frames, int nframes, uint64_t count);
/* The encoded requests (NULL with *err = 0 when the window is empty). */
/* The window's final span (profiles not cut yet take it; cut ones keep the expected one). */
void push_collect__set_span(struct push_collect *c, int64_t start_ms, int64_t end_ms);
struct push_window *push_collect__finish(struct push_collect *c, const struct push_enc *e,
					 int *err);

/* encode.c */
struct push_chunk {
	uint8_t *gz;		/* gzipped pprof */
	size_t len;
};

struct push_series {
	const char *service;
	const struct push_chunk *chunks;
	int nchunks;
};

/* A PushRequest holding @n series.  Returns 0 or -ENOMEM. */
int push_encode_connect(const struct push_enc *e, const struct push_series *s, int n,
			struct wbuf *out);
/* The /ingest path and query for one series.  NULL on -ENOMEM. */
char *push_ingest_path(const struct push_enc *e, const char *service, int64_t start_ms,
		       int64_t end_ms);

/* http.c: the HTTP client of the push thread. */
#define PUSH_REPLY_MAX 512	/* bytes of a reply kept for the log */

struct push_http;

struct push_http_opts {
	const struct curl_api *curl;	/* outlives the client */
	const char *url;	/* base, no trailing '/' */
	enum push_protocol protocol;
	const char *user, *password, *token, *tenant, *ca_file;
	int (*abort)(void *ctx);	/* non-zero: abort the transfer in flight */
	void *ctx;
};

struct push_http *push_http__new(const struct push_http_opts *o);
void push_http__free(struct push_http *h);
/* Sends @r to the base URL + r->path; *status is 0 when no reply came. */
CURLcode push_http__send(struct push_http *h, const struct push_req *r, double timeout_s,
			 long *status);
/* The last reply's body as one printable line. */
const char *push_http__reply(struct push_http *h);

#endif /* EMBER_PUSH_INTERNAL_H */
