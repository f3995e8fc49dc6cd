/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * push.h - fleet push: every window of samples, as gzipped pprof built by
 * the export module, sent to a Grafana Pyroscope server (or Alloy, which
 * relays) by a thread of its own.  Protocols: Connect unary
 * push.v1.PusherService/Push (one request per window, one series per
 * service) or the legacy /ingest (one request per service and window, raw
 * pprof or multipart).  A bounded queue absorbs a slow or dead server:
 * the caller never waits on the network, and every window that cannot be
 * delivered is counted by reason.
 */
#ifndef EMBER_PUSH_H
#define EMBER_PUSH_H

#include <stdint.h>
#include "frame.h"
#include "store.h"

struct pusher;

enum push_protocol {
	PUSH_CONNECT,		/* POST {url}/push.v1.PusherService/Push, application/proto */
	PUSH_INGEST,		/* POST {url}/ingest?format=pprof, raw gzipped pprof */
	PUSH_INGEST_MULTIPART,	/* POST {url}/ingest, multipart field "profile" */
};

/* Pyroscope's limits on labels (pkg/validation). */
#define PUSH_MAX_LABELS 30
#define PUSH_MAX_NAME_LEN 1024
#define PUSH_MAX_VALUE_LEN 2048

struct push_label {
	const char *name, *value;
};

struct push_opts {
	const char *url;		/* http(s)://host[:port][/prefix] */
	enum push_protocol protocol;
	const struct push_label *labels;	/* extra labels; host/service_name override */
	int nlabels;
	const char *user, *password;	/* HTTP Basic when user is set */
	const char *token;		/* Bearer token (instead of Basic) */
	const char *tenant;		/* X-Scope-OrgID, NULL: none */
	const char *ca_file;		/* PEM CA bundle, NULL: the system's */
	const char *host;		/* the host label, NULL: gethostname() */
	uint32_t freq;			/* sampling frequency (Hz): period = 1e9/freq */
	int max_windows;		/* queue bound, 0: default */
	uint64_t max_bytes;		/* queue bound, 0: default */
};

/* Why a request was not delivered (ember_push_dropped_total{reason}). */
enum push_drop {
	PUSH_DROP_QUEUE_FULL,	/* pushed out of the bounded queue by newer windows */
	PUSH_DROP_TOO_OLD,	/* older than the server accepts (~55 min) */
	PUSH_DROP_REJECTED,	/* 4xx other than 429: retrying cannot help */
	PUSH_DROP_ENCODE,	/* could not be encoded (out of memory) */
	PUSH_DROP_SHUTDOWN,	/* still queued when the agent stopped */
	PUSH_DROP_MAX,
};

struct push_stats {
	uint64_t sent;			/* requests answered 2xx */
	uint64_t retries;		/* attempts that failed and will be retried */
	uint64_t dropped[PUSH_DROP_MAX];	/* requests given up, by reason */
	uint64_t bytes;			/* request body bytes delivered */
	uint64_t queue_windows;		/* windows waiting (including the one in flight) */
	uint64_t queue_bytes;
	double last_success;		/* Unix seconds of the last 2xx, 0: never */
};

/* "queue_full", "too_old", ... */
const char *push_drop_name(enum push_drop reason);

/*
 * Checks @name=@value as an extra label: a valid Prometheus label name, not
 * reserved (__*), within Pyroscope's sizes; /ingest also refuses `{},=` in
 * values.  Returns NULL when fine, else what is wrong.
 */
const char *push_label__check(const struct push_label *l, enum push_protocol protocol);

/*
 * Validates @o (URL scheme, labels: at most 30 in all, no duplicates) and
 * starts the push thread.  Sets *out.  Returns 0, -EINVAL (with the reason
 * logged) or -errno.
 */
int pusher__new(const struct push_opts *o, struct pusher **out);

/*
 * Stops the thread after up to @grace_ms of trying to deliver what is
 * still queued; what is left is counted as dropped (shutdown).  NULL is a
 * no-op.
 */
void pusher__free(struct pusher *p, int grace_ms);

/*
 * Starts collecting a window expected to cover [@start_ms, @end_ms) (Unix
 * ms); pusher__window_end() gives its final span.
 */
int pusher__window_begin(struct pusher *p, int64_t start_ms, int64_t end_ms);

/*
 * Adds @count samples of one stack (@frames root first) of @proc to the
 * window; the service it counts under is derived from @proc (systemd unit
 * or container from the cgroup, else the executable's name).  Returns 0
 * or -ENOMEM (the window is then dropped as "encode" at its end).
 */
int pusher__add(struct pusher *p, const struct store_proc *proc, const struct frame *frames,
		int nframes, uint64_t count);

/*
 * Encodes the window (splitting profiles at 16,000 samples or ~4 MiB) and
 * queues it for the thread; never blocks on the network.  When the queue
 * is full the oldest window is dropped.  Returns 0 or -ENOMEM.
 */
int pusher__window_end(struct pusher *p, int64_t start_ms, int64_t end_ms);

/* A consistent snapshot of the counters (any thread). */
void pusher__stats(struct pusher *p, struct push_stats *s);

/*
 * The service name @proc counts under, written into @buf (NUL-terminated,
 * truncated to @size).
 */
void push_service_name(const struct store_proc *proc, char *buf, size_t size);

#endif /* EMBER_PUSH_H */
