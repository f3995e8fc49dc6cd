// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * fetch.c - asks debuginfod servers for missing debug files in a worker
 * thread, so a slow or dead server never holds up symbolizing: requests
 * go in a queue, answers (paths in libdebuginfod's on-disk cache) come
 * back through another, and the symbolizer picks them up between drains.
 * The thread starts with the first request and only then opens
 * libdebuginfod (ember is not linked against it, so runs that fetch
 * nothing never map it, nor the libcurl it pulls in); without it every
 * request fails, counted by the symbolizer.  A transfer under way is
 * cancelled (through the progress callback) when the symbolizer is freed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elfutils/debuginfod.h>
#include "internal.h"
#include "dlib.h"
#include "log.h"

#define DEBUGINFOD_SONAME "libdebuginfod.so.1"

struct fetch_req {
	struct fetch_req *next;
	char *key;
	char *path;		/* the answer; NULL when nothing was found */
	size_t len;
	unsigned char id[];
};

struct fetcher {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool started;
	bool stop;			/* under lock; read by the progress callback */
	struct fetch_req *todo;		/* LIFO is fine: order does not matter */
	struct fetch_req *done;
	size_t ntodo;			/* requests in todo, at most FETCH_MAX_QUEUED */
	/* the worker thread's own: libdebuginfod and what it calls of it */
	void *lib;
	struct {
		__typeof__(debuginfod_begin) *begin;
		__typeof__(debuginfod_end) *end;
		__typeof__(debuginfod_set_user_data) *set_user_data;
		__typeof__(debuginfod_set_progressfn) *set_progressfn;
		__typeof__(debuginfod_find_debuginfo) *find_debuginfo;
	} api;
};

/*
 * Requests waiting for the network at most: past this a new one is turned
 * away (-EBUSY, counted as failed by the caller) rather than held, as a
 * host running thousands of new binaries would otherwise grow the queue
 * without bound while a slow server answers.
 */
#define FETCH_MAX_QUEUED 256

struct fetcher *fetcher__new(void)
{
	struct fetcher *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	return f;
}

static void req_free(struct fetch_req *r)
{
	if (!r)
		return;
	free(r->key);
	free(r->path);
	free(r);
}

static void req_list_free(struct fetch_req *r)
{
	struct fetch_req *next;

	for (; r; r = next) {
		next = r->next;
		req_free(r);
	}
}

static bool fetcher_stopping(struct fetcher *f)
{
	bool stop;

	pthread_mutex_lock(&f->lock);
	stop = f->stop;
	pthread_mutex_unlock(&f->lock);
	return stop;
}

/*
 * Non-zero aborts the transfer.  The client is all the callback gets and
 * its user data (the fetcher) is read through the library, which is open
 * while this runs, so RTLD_NOLOAD finds it without a pointer kept aside.
 */
static int progress(debuginfod_client *c, long a, long b)
{
	void *lib = dlopen(DEBUGINFOD_SONAME, RTLD_NOW | RTLD_NOLOAD);
	__typeof__(debuginfod_get_user_data) *get_user_data;
	int stop = 0;

	(void)a, (void)b;
	if (!lib)
		return 0;
	get_user_data = (__typeof__(get_user_data))dlsym(lib, "debuginfod_get_user_data");
	if (get_user_data)
		stop = fetcher_stopping(get_user_data(c));
	dlclose(lib);
	return stop;
}

/* Opens libdebuginfod and starts a client; NULL (warned) when either fails. */
static debuginfod_client *fetcher_begin(struct fetcher *f)
{
#define SYM(fn) { "debuginfod_" #fn, (void **)&f->api.fn }
	const struct dlib_sym syms[] = {
		SYM(begin), SYM(end), SYM(set_user_data), SYM(set_progressfn), SYM(find_debuginfo),
	};
#undef SYM
	debuginfod_client *c;
	char why[512];

	f->lib = dlib__open(DEBUGINFOD_SONAME, syms, sizeof(syms) / sizeof(syms[0]), why,
			    sizeof(why));
	if (!f->lib) {
		log_warn("debuginfod: cannot load libdebuginfod (%s); debug files are not fetched",
			 why);
		return NULL;
	}
	c = f->api.begin();
	if (!c) {
		log_warn("debuginfod: cannot start a client; debug files are not fetched");
		return NULL;
	}
	f->api.set_user_data(c, f);
	f->api.set_progressfn(c, progress);
	return c;
}

static void *fetcher_main(void *arg)
{
	struct fetcher *f = arg;
	debuginfod_client *c = fetcher_begin(f);
	struct fetch_req *r;
	char *path;
	int fd;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->stop && !f->todo)
			pthread_cond_wait(&f->wake, &f->lock);
		if (f->stop)
			break;
		r = f->todo;
		f->todo = r->next;
		f->ntodo--;
		pthread_mutex_unlock(&f->lock);
		path = NULL;
		fd = c ? f->api.find_debuginfo(c, r->id, r->len, &path) : -ENOSYS;
		if (fd >= 0) {
			close(fd);
			r->path = path;
		} else {
			free(path);	/* the symbolizer logs the failure */
		}
		pthread_mutex_lock(&f->lock);
		r->next = f->done;
		f->done = r;
	}
	pthread_mutex_unlock(&f->lock);
	if (c)
		f->api.end(c);
	return NULL;
}

void fetcher__free(struct fetcher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	if (f->started)
		pthread_join(f->thread, NULL);
	dlib__close(f->lib);
	req_list_free(f->todo);
	req_list_free(f->done);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int fetcher__ask(struct fetcher *f, const char *key, const unsigned char *id, size_t len)
{
	struct fetch_req *r = calloc(1, sizeof(*r) + len);
	int err;

	if (!r)
		return -ENOMEM;
	r->key = strdup(key);
	if (!r->key) {
		req_free(r);
		return -ENOMEM;
	}
	memcpy(r->id, id, len);
	r->len = len;
	pthread_mutex_lock(&f->lock);
	if (f->ntodo >= FETCH_MAX_QUEUED) {
		pthread_mutex_unlock(&f->lock);
		req_free(r);
		return -EBUSY;
	}
	if (!f->started) {
		err = -pthread_create(&f->thread, NULL, fetcher_main, f);
		if (err) {
			pthread_mutex_unlock(&f->lock);
			req_free(r);
			return err;
		}
		f->started = true;
	}
	r->next = f->todo;
	f->todo = r;
	f->ntodo++;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int fetcher__take(struct fetcher *f, char **key, char **path)
{
	struct fetch_req *r;

	pthread_mutex_lock(&f->lock);
	r = f->done;
	if (r)
		f->done = r->next;
	pthread_mutex_unlock(&f->lock);
	if (!r)
		return 0;
	*key = r->key;
	*path = r->path;
	free(r);
	return 1;
}
