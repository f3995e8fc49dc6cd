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

/*
 * Past this share of a size cap (percent), the keeper deletes the oldest
 * windows itself, so the writer's commits seldom meet the cap (and pay for
 * an eviction on their own thread).
 */
#define CAP_HIGH_PCT 95

struct store_keeper {
	struct store *st;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t retention_ms;
	uint64_t max_bytes;		/* the cap; 0: none */
	int64_t kick_ms;		/* the pass asked for; 0: none */
	int64_t last_gc_ms;
	volatile bool stop;
	struct store_keeper_stats stats;
};

/* Sets *used to the bytes of the file in use (free pages not counted).  Returns 0 or -errno. */
static int used_bytes(struct store *st, uint64_t *used)
{
	int64_t n = 0;
	int err = store_query_int(st, "SELECT ((SELECT page_count FROM pragma_page_count) -"
				  " (SELECT freelist_count FROM pragma_freelist_count)) *"
				  " (SELECT page_size FROM pragma_page_size)", &n);

	*used = (uint64_t)n;
	return err;
}

/* Near the cap: deletes the oldest windows down to below CAP_HIGH_PCT.  Returns 0 or -errno. */
static int keep_below_cap(struct store_keeper *k, uint64_t *evicted)
{
	uint64_t used = 0, n;
	int i, err = 0;

	for (i = 0; i < 20 && !err; i++) {
		err = used_bytes(k->st, &used);
		if (err || used <= k->max_bytes / 100 * CAP_HIGH_PCT)
			break;
		err = store__evict(k->st, 0, &n);
		*evicted += n;
	}
	return err == -ENOSPC ? 0 : err;
}

/* One pass at @now_ms.  Returns 0 or -errno. */
static int keeper_pass(struct store_keeper *k, int64_t now_ms)
{
	uint64_t deleted = 0, evicted = 0, n;
	int err;

	err = store_delete_before(k->st, now_ms - k->retention_ms, &deleted);
	if (!err) {
		err = store__rollup(k->st, now_ms, NULL, 0);
		/* at a size cap a rollup needs a few pages before it frees more */
		if (err == -ENOSPC && !store__evict(k->st, 0, &n)) {
			evicted += n;
			err = store__rollup(k->st, now_ms, NULL, 0);
		}
	}
	if (!err && k->max_bytes)
		err = keep_below_cap(k, &evicted);
	if (evicted)
		log_info("store near its %llu MB cap: deleted the %llu oldest window%s",
			 (unsigned long long)(k->max_bytes >> 20), (unsigned long long)evicted,
			 evicted == 1 ? "" : "s");
	pthread_mutex_lock(&k->lock);
	k->stats.deleted += deleted;
	k->stats.evicted += evicted;
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
	k->max_bytes = max_bytes;
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
