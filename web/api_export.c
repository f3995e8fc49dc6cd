// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * api_export.c - /api/export?format=folded|pprof: a range of the store in
 * the interchange formats, with the flame graph's kind and frame filters,
 * written by the same encoders as `ember export`.
 * The answer streams: a thread encodes into a pipe that libmicrohttpd
 * sends as it fills, so a large range is never held in memory.  Problems
 * found before the first byte (bad parameters, no store) get a JSON error;
 * a failure mid-stream ends the download short and is logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "api.h"
#include "export.h"
#include "log.h"

/* A download can take longer than an API answer, but not forever. */
#define EXPORT_BUDGET_MS 120000

struct export_job {
	struct store *st;
	struct store_filter f;
	struct export_select sel;
	char *comm, *match;		/* f.comm's and sel.match's own copies */
	enum export_format fmt;
	FILE *out;			/* the pipe's write end */
};

static void job_free(struct export_job *j)
{
	if (!j)
		return;
	if (j->out)
		fclose(j->out);
	store__free(j->st);
	free(j->comm);
	free(j->match);
	free(j);
}

/*
 * Runs with the server threads' signal mask (all blocked), so a client
 * that goes away ends the write with EPIPE, not SIGPIPE.
 */
static void *encode(void *arg)
{
	struct export_job *j = arg;
	int err = exporter__write(j->st, &j->f, &j->sel, j->fmt, NULL, j->out);

	if (fflush(j->out) && !err)
		err = -errno;
	if (err && err != -EPIPE)
		log_warn("/api/export: the download ended early: %s", store__strerror(err));
	job_free(j);
	return NULL;
}

/* Starts the encoder; on success the reply reads from its pipe. */
static int start_stream(struct export_job *j, struct web_reply *rep)
{
	pthread_attr_t attr;
	pthread_t tid;
	int fds[2], err;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	j->out = fdopen(fds[1], "w");
	if (!j->out) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = -pthread_create(&tid, &attr, encode, j);
	pthread_attr_destroy(&attr);
	if (err) {
		close(fds[0]);
		return err;	/* the caller frees the job and its write end */
	}
	rep->stream_fd = fds[0];
	return 0;
}

int api__export(const struct api_req *r, struct web_reply *rep)
{
	const char *fmt = api__param(r, "", "format");
	struct export_job *j = NULL;
	struct api_filter f;
	bool pprof;
	int err;

	if (!fmt || (strcmp(fmt, "folded") && strcmp(fmt, "pprof")))
		return api__bad(rep, "format (folded or pprof)", "format", fmt ? fmt : "");
	pprof = !strcmp(fmt, "pprof");
	api__default_filter(&f);
	err = api__filter(r, rep, "", &f);
	if (err)
		return err;
	j = calloc(1, sizeof(*j));
	if (!j || (f.f.comm && !(j->comm = strdup(f.f.comm))) ||
	    (f.sel.match && !(j->match = strdup(f.sel.match)))) {
		api__error(rep, 503, "out of memory");
		err = -ENOMEM;
		goto out;
	}
	j->f = f.f;
	j->f.comm = j->comm;
	j->sel = f.sel;
	j->sel.match = j->match;
	j->fmt = pprof ? EXPORT_PPROF : EXPORT_FOLDED;
	err = api__open(r, rep, &j->st);
	if (err)
		goto out;
	store__set_time_limit(j->st, EXPORT_BUDGET_MS);
	err = start_stream(j, rep);
	if (err) {
		api__error(rep, 503, strerror(-err));
		goto out;
	}
	j = NULL;	/* the encoder owns it now */
	rep->type = pprof ? "application/octet-stream" : "text/plain; charset=utf-8";
	rep->disposition = pprof ? "attachment; filename=\"ember.pb.gz\"" :
				   "attachment; filename=\"ember.folded\"";
out:
	job_free(j);
	return err;
}
