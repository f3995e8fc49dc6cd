// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * push.c - the pusher: the agent thread collects and encodes a window and
 * queues it; a thread of our own sends it with libcurl.  The queue is
 * bounded by windows and bytes (the oldest goes first), timeouts,
 * connection errors, 429 and 5xx are retried with jittered exponential
 * backoff, other 4xx are dropped (the server's message logged once), and
 * windows older than the server accepts are dropped, each counted by
 * reason.  Credentials go to libcurl only: never logged, never in stats.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "dlib.h"
#include "log.h"
#include "mono.h"

#define DEFAULT_MAX_WINDOWS 360		/* an hour of 10 s windows */
#define DEFAULT_MAX_BYTES (32ull << 20)
#define MAX_AGE_MS (55 * 60 * 1000LL)	/* the server refuses profiles over an hour old */
#define REQUEST_TIMEOUT_MS 10000
#define BACKOFF_MIN_S 0.5
#define BACKOFF_MAX_S 30.0

struct pusher {
	struct curl_api curl;
	bool curl_ready;		/* curl.global_init() succeeded */
	struct push_enc enc;
	char *url, *url_shown;		/* url_shown: without user:password@ */
	char *service;			/* --push-label service_name=, NULL: per process */
	int max_windows;
	uint64_t max_bytes;
	struct push_collect *cur;	/* the window being filled (agent thread) */
	int cur_err;
	double cur_s;			/* agent-thread time spent on it */

	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct push_window *head, *inflight;	/* inflight: head while being sent */
	int nqueued;
	uint64_t qbytes;
	bool stop;
	double stop_deadline;
	struct push_stats st;

	/* the push thread's own */
	struct push_http *http;
	char last_reject[PUSH_REPLY_MAX + 64];
	bool failing;
	unsigned int seed;
};

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void free_labels(struct push_enc *e)
{
	int i;

	for (i = 0; i < e->nlabels; i++) {
		free((char *)e->labels[i].name);
		free((char *)e->labels[i].value);
	}
	free(e->labels);
	e->labels = NULL;
}

/* Copies and checks the extra labels: sizes, names, duplicates, count. */
static int copy_labels(struct pusher *p, const struct push_opts *o)
{
	int i, j, n = 4;	/* __name__, __delta__, service_name, host */
	const char *why;

	p->enc.labels = calloc(o->nlabels + 1, sizeof(*p->enc.labels));
	if (!p->enc.labels)
		return -ENOMEM;
	for (i = 0; i < o->nlabels; i++) {
		why = push_label__check(&o->labels[i], o->protocol);
		for (j = 0; !why && j < i; j++)
			if (!strcmp(o->labels[i].name, o->labels[j].name))
				why = "given twice";
		if (why) {
			log_error("push label '%s': %s", o->labels[i].name, why);
			return -EINVAL;
		}
		if (strcmp(o->labels[i].name, "host") && strcmp(o->labels[i].name, "service_name"))
			n++;
		p->enc.labels[i].name = strdup(o->labels[i].name);
		p->enc.labels[i].value = strdup(o->labels[i].value);
		p->enc.nlabels++;
		if (!p->enc.labels[i].name || !p->enc.labels[i].value)
			return -ENOMEM;
		if (!strcmp(o->labels[i].name, "service_name") &&
		    !(p->service = strdup(o->labels[i].value)))
			return -ENOMEM;
	}
	if (n > PUSH_MAX_LABELS) {
		log_error("push: %d labels in all, the server takes at most %d", n, PUSH_MAX_LABELS);
		return -EINVAL;
	}
	return 0;
}

/* Opens libcurl and resolves what push calls; a missing one fails the pusher's start. */
static int curl_api__open(struct curl_api *a)
{
#define SYM(f) { "curl_" #f, (void **)&a->f }
	const struct dlib_sym syms[] = {
		SYM(global_init), SYM(global_cleanup), SYM(easy_init), SYM(easy_cleanup),
		SYM(easy_setopt), SYM(easy_perform), SYM(easy_getinfo), SYM(easy_strerror),
		SYM(easy_escape), SYM(free), SYM(slist_append), SYM(slist_free_all),
		SYM(mime_init), SYM(mime_addpart), SYM(mime_name), SYM(mime_filename),
		SYM(mime_type), SYM(mime_data), SYM(mime_free), SYM(url), SYM(url_set),
		SYM(url_get), SYM(url_cleanup),
	};
#undef SYM
	char why[512];

	a->lib = dlib__open(PUSH_CURL_SONAME, syms, sizeof(syms) / sizeof(syms[0]), why,
			    sizeof(why));
	if (!a->lib) {
		log_error("push: cannot load libcurl: %s", why);
		return -ENOPKG;
	}
	return 0;
}

/* Keeps the URL without a trailing '/', and a copy without credentials for logs. */
static int parse_url(struct pusher *p, const char *url)
{
	const struct curl_api *c = &p->curl;
	CURLU *u = c->url();
	char *scheme = NULL, *shown = NULL;
	size_t n = strlen(url);
	int err = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (c->url_set(u, CURLUPART_URL, url, 0) ||
	    c->url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		log_error("push: '%s' is not an http:// or https:// URL", url);
		goto cleanup;
	}
	c->url_set(u, CURLUPART_USER, NULL, 0);
	c->url_set(u, CURLUPART_PASSWORD, NULL, 0);
	err = -ENOMEM;
	if (c->url_get(u, CURLUPART_URL, &shown, 0))
		goto cleanup;
	while (n && url[n - 1] == '/')
		n--;
	p->url = strndup(url, n);
	p->url_shown = strdup(shown);
	if (p->url && p->url_shown)
		err = 0;
cleanup:
	c->free(scheme);
	c->free(shown);
	c->url_cleanup(u);
	return err;
}

/* libcurl's progress callback asks this: abort once the shutdown grace is over. */
static int aborting(void *ctx)
{
	struct pusher *p = ctx;
	bool stop;
	double deadline;

	pthread_mutex_lock(&p->lock);
	stop = p->stop;
	deadline = p->stop_deadline;
	pthread_mutex_unlock(&p->lock);
	return stop && mono_s() > deadline;
}

/* Unlinks @w from the queue (lock held). */
static void unqueue(struct pusher *p, struct push_window *w)
{
	struct push_window **pp;

	for (pp = &p->head; *pp && *pp != w; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = w->next;
	p->nqueued--;
	p->qbytes -= w->bytes;
}

/* Drops what is left of @w, counted under @reason (lock held). */
static void drop_window(struct pusher *p, struct push_window *w, enum push_drop reason)
{
	unqueue(p, w);
	p->st.dropped[reason] += w->nreqs - w->done;
	push_window__free(w);
}

static double backoff(struct pusher *p, int attempts)
{
	double s = BACKOFF_MIN_S;

	while (--attempts > 0 && s < BACKOFF_MAX_S)
		s *= 2;
	if (s > BACKOFF_MAX_S)
		s = BACKOFF_MAX_S;
	return s * (0.5 + rand_r(&p->seed) / (RAND_MAX + 1.0));	/* jitter: 0.5-1.5x */
}

/* Settles one attempt at @w's next request (lock held). */
static void settle(struct pusher *p, struct push_window *w, CURLcode rc, long status, double now)
{
	const struct push_req *r = &w->reqs[w->done];
	char msg[sizeof(p->last_reject)];

	if (rc == CURLE_OK && status >= 200 && status < 300) {
		if (p->failing)
			log_info("push to %s delivering again", p->url_shown);
		p->failing = false;
		p->st.sent++;
		p->st.bytes += r->len;
		p->st.last_success = wall_now();
		w->done++;
		w->attempts = 0;
	} else if (rc == CURLE_OK && status >= 400 && status < 500 && status != 429) {
		snprintf(msg, sizeof(msg), "HTTP %ld: %s", status, push_http__reply(p->http));
		if (strcmp(msg, p->last_reject))
			log_warn("push to %s rejected, window dropped (not retried): %s",
				 p->url_shown, msg);
		strcpy(p->last_reject, msg);
		p->st.dropped[PUSH_DROP_REJECTED]++;
		w->done++;
		w->attempts = 0;
	} else {
		if (!p->failing) {
			if (rc == CURLE_OK)
				snprintf(msg, sizeof(msg), "HTTP %ld: %s", status, push_http__reply(p->http));
			log_warn("push to %s failed, retrying with backoff: %s", p->url_shown,
				 rc == CURLE_OK ? msg : p->curl.easy_strerror(rc));
		}
		p->failing = true;
		p->st.retries++;
		w->next_try = now + backoff(p, ++w->attempts);
	}
	if (w->done == w->nreqs) {
		unqueue(p, w);
		push_window__free(w);
	}
}

static void wait_until(struct pusher *p, double until)
{
	struct timespec ts;
	double left = until - mono_s();

	if (left <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);	/* the condition's clock */
	ts.tv_sec += (time_t)left;
	ts.tv_nsec += (long)((left - (time_t)left) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

static void *push_thread(void *arg)
{
	struct pusher *p = arg;
	struct push_window *w;
	double now, timeout;
	long status;
	CURLcode rc;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		now = mono_s();
		w = p->head;
		if (p->stop && (!w || now >= p->stop_deadline))
			break;
		if (!w) {
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		if (wall_now() * 1000 - w->start_ms > MAX_AGE_MS) {
			log_warn("push: dropped a window older than the server accepts");
			drop_window(p, w, PUSH_DROP_TOO_OLD);
			continue;
		}
		if (w->next_try > now) {
			wait_until(p, p->stop && p->stop_deadline < w->next_try ? p->stop_deadline :
				   w->next_try);
			continue;
		}
		timeout = REQUEST_TIMEOUT_MS / 1000.0;
		if (p->stop && p->stop_deadline - now < timeout)
			timeout = p->stop_deadline - now;
		p->inflight = w;
		pthread_mutex_unlock(&p->lock);
		now = mono_s();
		rc = push_http__send(p->http, &w->reqs[w->done], timeout, &status);
		log_debug("push: %zu bytes, HTTP %ld (%s) in %.1f ms", w->reqs[w->done].len, status,
			  p->curl.easy_strerror(rc), (mono_s() - now) * 1000);
		pthread_mutex_lock(&p->lock);
		p->inflight = NULL;
		settle(p, w, rc, status, mono_s());
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int pusher__new(const struct push_opts *o, struct pusher **out)
{
	struct pusher *p = calloc(1, sizeof(*p));
	char host[256] = "";
	int err = -ENOMEM;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	err = curl_api__open(&p->curl);
	if (err)
		goto cleanup;
	err = -ENOMEM;
	if (p->curl.global_init(CURL_GLOBAL_DEFAULT))
		goto cleanup;
	p->curl_ready = true;
	p->enc.curl = &p->curl;
	p->enc.protocol = o->protocol;
	p->enc.freq = o->freq;
	p->max_windows = o->max_windows > 0 ? o->max_windows : DEFAULT_MAX_WINDOWS;
	p->max_bytes = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES;
	p->seed = (unsigned int)(wall_now() * 1e6) ^ (unsigned int)getpid();
	err = parse_url(p, o->url);
	if (!err)
		err = copy_labels(p, o);
	if (err)
		goto cleanup;
	err = -ENOMEM;
	if (!o->host)
		gethostname(host, sizeof(host) - 1);
	p->enc.host = strdup(o->host ? o->host : *host ? host : "unknown");
	p->http = push_http__new(&(struct push_http_opts){
		.curl = &p->curl, .url = p->url, .protocol = o->protocol, .user = o->user,
		.password = o->password, .token = o->token, .tenant = o->tenant, .ca_file = o->ca_file,
		.abort = aborting, .ctx = p });
	if (!p->enc.host || !p->http)
		goto cleanup;
	err = -pthread_create(&p->thread, NULL, push_thread, p);
	if (err)
		goto cleanup;
	p->started = true;
	log_info("pushing every window to %s (%s)", p->url_shown,
		 o->protocol == PUSH_CONNECT ? "connect" : o->protocol == PUSH_INGEST ?
		 "ingest" : "ingest multipart");
	*out = p;
	return 0;
cleanup:
	pusher__free(p, 0);
	return err;
}

void pusher__free(struct pusher *p, int grace_ms)
{
	struct push_window *w;
	uint64_t left = 0;

	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		p->stop_deadline = mono_s() + grace_ms / 1000.0;
		for (w = p->head; w; w = w->next)
			w->next_try = 0;	/* one more try now, not after the backoff */
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
		while ((w = p->head)) {
			left += w->nreqs - w->done;
			drop_window(p, w, PUSH_DROP_SHUTDOWN);
		}
		log_info("push: %llu requests sent (%llu bytes), %llu retries, dropped: "
			 "%llu queue_full, %llu too_old, %llu rejected, %llu encode, %llu at exit",
			 (unsigned long long)p->st.sent, (unsigned long long)p->st.bytes,
			 (unsigned long long)p->st.retries,
			 (unsigned long long)p->st.dropped[PUSH_DROP_QUEUE_FULL],
			 (unsigned long long)p->st.dropped[PUSH_DROP_TOO_OLD],
			 (unsigned long long)p->st.dropped[PUSH_DROP_REJECTED],
			 (unsigned long long)p->st.dropped[PUSH_DROP_ENCODE],
			 (unsigned long long)left);
	}
	push_collect__free(p->cur);
	push_http__free(p->http);
	free_labels(&p->enc);
	free(p->enc.host);
	free(p->url);
	free(p->url_shown);
	free(p->service);
	if (p->curl_ready)
		p->curl.global_cleanup();
	dlib__close(p->curl.lib);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

int pusher__window_begin(struct pusher *p, int64_t start_ms, int64_t end_ms)
{
	push_collect__free(p->cur);
	p->cur_err = 0;
	p->cur_s = 0;
	p->cur = push_collect__new(start_ms, end_ms, p->enc.freq);
	return p->cur ? 0 : -ENOMEM;
}

int pusher__add(struct pusher *p, const struct store_proc *proc, const struct frame *frames,
		int nframes, uint64_t count)
{
	char service[256];
	double t0 = mono_s();

	if (!p->cur || p->cur_err)
		return p->cur_err;
	if (!p->service)
		push_service_name(proc, service, sizeof(service));
	p->cur_err = push_collect__add(p->cur, p->service ? p->service : service, proc, frames,
				       nframes, count);
	p->cur_s += mono_s() - t0;
	return p->cur_err;
}

int pusher__window_end(struct pusher *p, int64_t start_ms, int64_t end_ms)
{
	struct push_window *w = NULL, **pp, *old;
	int err = p->cur_err;
	double t0 = mono_s();

	if (p->cur && !err) {
		push_collect__set_span(p->cur, start_ms, end_ms);
		w = push_collect__finish(p->cur, &p->enc, &err);
	}
	push_collect__free(p->cur);
	p->cur = NULL;
	if (w)
		log_debug("push: window encoded: %d request%s, %llu bytes, %.1f ms", w->nreqs,
			  w->nreqs > 1 ? "s" : "", (unsigned long long)w->bytes,
			  (p->cur_s + mono_s() - t0) * 1000);
	pthread_mutex_lock(&p->lock);
	if (err) {
		p->st.dropped[PUSH_DROP_ENCODE]++;
		log_error("push: window not encoded: %s", strerror(-err));
	}
	while (w && p->head && (p->nqueued >= p->max_windows ||
				p->qbytes + w->bytes > p->max_bytes)) {
		old = p->head == p->inflight ? p->head->next : p->head;
		if (!old)
			break;
		log_warn("push queue full (%d windows, %llu bytes): dropped the oldest window",
			 p->nqueued, (unsigned long long)p->qbytes);
		drop_window(p, old, PUSH_DROP_QUEUE_FULL);
	}
	if (w) {
		for (pp = &p->head; *pp; pp = &(*pp)->next)
			;
		*pp = w;
		p->nqueued++;
		p->qbytes += w->bytes;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

void pusher__stats(struct pusher *p, struct push_stats *s)
{
	pthread_mutex_lock(&p->lock);
	*s = p->st;
	s->queue_windows = p->nqueued;
	s->queue_bytes = p->qbytes;
	pthread_mutex_unlock(&p->lock);
}
