// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * keeper.c - the store's housekeeping on a thread of its own: retention,
 * rollups and garbage collection over a week of data take seconds, and the
 * agent's main loop, which drains the BPF maps every second, must not wait
 * for them.
 *
 * The keeper has its own SQLite connection; the agent's connection keeps
 * writing windows.  Housekeeping works in short transactions with pauses
 * between them (store_pause()), and garbage collection finds its victims in
 * a read snapshot (gc.c), so the agent waits for the lock a few ms at most.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "log.h"

/* How often garbage collection runs: a full scan of the samples each time. */
#define GC_EVERY_MS (10 * 60 * 1000LL)

struct store_keeper {
	struct store *st;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t retention_ms;
	int64_t kick_ms;		/* the pass asked for; 0: none */
	int64_t last_gc_ms;
	volatile bool stop;
	struct store_keeper_stats stats;
};

/* One pass at @now_ms.  Returns 0 or -errno. */
static int keeper_pass(struct store_keeper *k, int64_t now_ms)
{
	uint64_t deleted = 0, n;
	int err;

	err = store_delete_before(k->st, now_ms - k->retention_ms, &deleted);
	if (!err) {
		err = store__rollup(k->st, now_ms, NULL, 0);
		/* at a size cap a rollup needs a few pages before it frees more */
		if (err == -ENOSPC && !store__evict(k->st, 0, &n))
			err = store__rollup(k->st, now_ms, NULL, 0);
	}
	pthread_mutex_lock(&k->lock);
	k->stats.deleted += deleted;
	pthread_mutex_unlock(&k->lock);
	if (!err && now_ms - k->last_gc_ms >= GC_EVERY_MS) {
		/* rollups leave processes and stacks unused too, retention more */
		err = store_gc(k->st);
		if (!err)
			k->last_gc_ms = now_ms;
	}
	return err;
}

static void *keeper_main(void *arg)
{
	struct store_keeper *k = arg;
	int64_t now_ms;
	double t0, dt;
	int err;

	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (!k->stop && !k->kick_ms)
			pthread_cond_wait(&k->cond, &k->lock);
		if (k->stop)
			break;
		now_ms = k->kick_ms;
		k->kick_ms = 0;
		pthread_mutex_unlock(&k->lock);
		t0 = store_mono();
		err = keeper_pass(k, now_ms);
		dt = store_mono() - t0;
		if (err && err != -ECANCELED)
			log_warn("store housekeeping failed: %s (%s)", store__strerror(err),
				 store__errmsg(k->st));
		pthread_mutex_lock(&k->lock);
		k->stats.passes++;
		k->stats.failures += err && err != -ECANCELED;
		k->stats.last_pass_s = dt;
		k->stats.last_now_ms = now_ms;
		if (dt > k->stats.max_pass_s)
			k->stats.max_pass_s = dt;
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

int store_keeper__new(const char *path, int64_t retention_ms, uint64_t max_bytes,
		      struct store_keeper **out)
{
	struct store_keeper *k;
	int err;

	*out = NULL;
	if (retention_ms <= 0)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->retention_ms = retention_ms;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	err = store__open(path, 0, &k->st);
	if (!err && max_bytes)
		err = store__set_max_bytes(k->st, max_bytes);
	if (err)
		goto fail;
	k->st->share_lock = true;
	k->st->cancel = &k->stop;
	err = -pthread_create(&k->thread, NULL, keeper_main, k);
	if (err)
		goto fail;
	*out = k;
	return 0;
fail:
	store__free(k->st);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	free(k);
	return err;
}

void store_keeper__kick(struct store_keeper *k, int64_t now_ms)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->kick_ms = now_ms ? now_ms : 1;
	pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
}

void store_keeper__stats(struct store_keeper *k, struct store_keeper_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	*out = k->stats;
	pthread_mutex_unlock(&k->lock);
}

void store_keeper__free(struct store_keeper *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	store__free(k->st);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
