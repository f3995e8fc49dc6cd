/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * store.h - the profile store: symbolized samples, one SQLite file per agent.
 *
 * Samples arrive in windows (e.g. 10 s); a window is written in one
 * transaction, so a crash loses at most the window in flight.  Strings,
 * frames, stacks and processes are interned, old windows are rolled up into
 * coarser ones and dropped by retention.  Names are untrusted bytes: they
 * are stored and returned exactly (any byte but NUL).
 *
 * A struct store is used by one thread at a time; several processes may
 * open the same file (one writer, any number of readers).
 */
#ifndef EMBER_STORE_H
#define EMBER_STORE_H

#include <stdint.h>
#include "frame.h"

struct store;
struct store_window;


/* Deepest stack stored; deeper ones keep their leaf end under "[truncated]". */
#define STORE_MAX_FRAMES 1024

/* Longest name accepted (bytes, without the NUL). */
#define STORE_MAX_NAME (1u << 20)


/* The labels samples are grouped by. */
struct store_proc {
	const char *comm;	/* never NULL */
	uint32_t pid;		/* 0: short-lived processes merged by a rollup */
	const char *exe;	/* NULL when unknown */
	const char *cgroup;	/* cgroup path or container id, NULL when unknown */
};

/* store__open() flags. */
enum {
	STORE_READONLY = 1 << 0,	/* never write: no create, no migration */
};

/*
 * Opens the store at @path, creating it when missing (unless STORE_READONLY)
 * and migrating an older schema forward.  Sets *out to the store, owned by
 * the caller (store__free()).  Returns 0 or -errno; the file is left
 * untouched on -EPROTO (written by a newer ember), -ENOTSUP (not an ember
 * store: not SQLite, or another program's database), -EROFS (read-only
 * open of a store that needs a migration) and -ENOENT (read-only, missing).
 */
int store__open(const char *path, int flags, struct store **out);

/* Closes the store; windows begun on it must be freed first.  NULL is a no-op. */
void store__free(struct store *st);

/*
 * Every statement run after this fails with -EINTR once @ms milliseconds
 * have passed (a web request's time budget); 0 lifts the limit.
 */
void store__set_time_limit(struct store *st, int64_t ms);

/*
 * Copies SQLite's message for the last failure (at most one line); never
 * NULL, empty when nothing failed.  Valid until the next store call.
 */
const char *store__errmsg(const struct store *st);

/* A message for a -errno from this module, store-specific where it matters. */
const char *store__strerror(int err);

/*
 * Caps the file at about @bytes (0: no cap).  A commit that would grow the
 * file past the cap fails with -ENOSPC and can be retried after retention
 * or a larger cap.  Returns 0 or -errno.
 */
int store__set_max_bytes(struct store *st, uint64_t bytes);

/*
 * Starts an in-memory window of samples covering [@start_ms, @start_ms +
 * @dur_ms) (Unix milliseconds; @dur_ms > 0).  Nothing touches the file
 * until store__window_commit().  Sets *out, owned by the caller
 * (store__window_free()).  Returns 0, -EINVAL, -EROFS or -ENOMEM.
 */
int store__window_begin(struct store *st, int64_t start_ms, int64_t dur_ms,
			struct store_window **out);

/*
 * Adds @count samples of the stack @frames[0..@nframes) (root first) seen
 * in @proc.  A stack deeper than STORE_MAX_FRAMES keeps its leaf-most
 * STORE_MAX_FRAMES - 1 frames under a root frame named "[truncated]"
 * (counted by store__window_truncated()).  Every string is copied, so the
 * caller's buffers may be reused at once.  The same (proc, stack) added
 * twice is summed; a zero @count is ignored.  Returns 0, -EINVAL, -ENOMEM,
 * -EOVERFLOW, or -EALREADY once the window is committed.
 */
int store__window_add(struct store_window *w, const struct store_proc *proc,
		      const struct frame *frames, int nframes, uint64_t count);

/*
 * The same in two steps, for a caller that sees one stack in many processes
 * or threads: interns the stack once (*stack: a window-local id, valid until
 * the window is freed), then adds rows of it.  Return what
 * store__window_add() does.
 */
int store__window_add_stack(struct store_window *w, const struct frame *frames, int nframes,
			    uint32_t *stack);
int store__window_add_row(struct store_window *w, const struct store_proc *proc, uint32_t stack,
			  uint64_t count);

/* Samples whose stack store__window_add() truncated.  NULL gives 0. */
uint64_t store__window_truncated(const struct store_window *w);

/*
 * Sets the span of a window not committed yet (a window is begun before its
 * end is known).  Returns 0, -EINVAL (@dur_ms <= 0) or -EALREADY.
 */
int store__window_set_span(struct store_window *w, int64_t start_ms, int64_t dur_ms);

/*
 * Writes the window in one transaction.  Returns 0 or -errno: -EBUSY
 * (another writer holds the lock), -ENOSPC (disk or store__set_max_bytes()
 * cap full), -EROFS, -EIO, -EALREADY (committed before).  On failure the
 * transaction is rolled back, the window is unchanged and the commit may be
 * retried later; either way the caller still frees the window.
 */
int store__window_commit(struct store_window *w);

/* Frees a window, committed or not (not committing discards it).  NULL is a no-op. */
void store__window_free(struct store_window *w);

/* What store__query() selects. */
struct store_filter {
	int64_t from_ms, to_ms;	/* windows whose start is in [from_ms, to_ms) */
	const char *comm;	/* exact comm, or NULL for any */
	int64_t pid;		/* -1 for any */
};

/*
 * Called once per distinct (process, stack) in the range, with @count the
 * sum over the selected windows.  Every pointer is valid during the call
 * only.  A non-zero return stops the query.
 */
typedef int (*store_sample_fn)(void *ctx, const struct store_proc *proc,
			       const struct frame *frames, int nframes,
			       uint64_t count);

/*
 * Calls @fn for the samples selected by @f, in one consistent snapshot,
 * from whichever resolution (raw or rolled up) holds each window; a rolled
 * up window counts as a whole when its start is in range.  Returns 0,
 * @fn's non-zero return, or -errno (-EUCLEAN for a damaged store).  @fn
 * must not call back into @st.
 */
int store__query(struct store *st, const struct store_filter *f, store_sample_fn fn,
		 void *ctx);

/*
 * Called by store__proc_buckets() once per (bucket, process) with samples:
 * @bucket_ms the bucket's start, @count the sum of the process's samples in
 * the windows starting in that bucket.  @proc is valid during the call only.
 * A non-zero return stops the walk.
 */
typedef int (*store_bucket_fn)(void *ctx, int64_t bucket_ms, const struct store_proc *proc,
			       uint64_t count);

/*
 * Sums the samples selected by @f per process and per time bucket, without
 * reading any stack or frame (the timeline and the process list).  Buckets
 * are [from_ms + k * @bucket_ms, from_ms + (k + 1) * @bucket_ms); a window
 * counts in the bucket holding its start, like store__query() counts it in
 * a range.  @bucket_ms 0 makes the whole range one bucket (starting at
 * from_ms).  Calls @fn in bucket order, in one consistent snapshot; totals
 * equal store__query()'s exactly.  Returns 0, @fn's non-zero return, or
 * -errno (-EINVAL: @bucket_ms < 0, or @bucket_ms > 0 with a range beyond
 * +-2^62 ms).  @fn must not call back into @st.
 */
int store__proc_buckets(struct store *st, const struct store_filter *f, int64_t bucket_ms,
			store_bucket_fn fn, void *ctx);

struct store_window_info {
	int64_t start_ms, dur_ms;
	uint64_t samples;	/* sum of the window's counts */
};

/* Called per window by store__windows(); a non-zero return stops the walk. */
typedef int (*store_window_fn)(void *ctx, const struct store_window_info *w);

/*
 * Calls @fn for each window whose start is in [@from_ms, @to_ms), oldest
 * first (the timeline).  Returns 0, @fn's non-zero return, or -errno.
 */
int store__windows(struct store *st, int64_t from_ms, int64_t to_ms, store_window_fn fn,
		   void *ctx);

/*
 * Deletes every window that starts before @before_ms, then the stacks,
 * frames, processes and strings nothing refers to any more, and returns
 * the freed pages to the file system.  Costs a scan of all samples, so
 * call it every few minutes, not per window.  Returns 0 or -errno.
 */
int store__retain(struct store *st, int64_t before_ms);

/*
 * Makes room at a size cap: deletes the oldest windows, 2^@round 200ths of
 * the time stored (at least one window), and their samples, whose pages
 * the next commit reuses.  From round 2 on, or when no window is left, it
 * also collects what nothing uses any more, like store__retain() (a scan
 * of every sample); before, that is left to the next store__retain() or
 * store_keeper pass.  Sets *deleted.  Returns 0, -ENOSPC when nothing
 * could go, or -errno.
 */
int store__evict(struct store *st, int round, uint64_t *deleted);

/* One rollup step: windows shorter than @bucket_ms older than @age_ms are merged. */
struct store_rollup_level {
	int64_t age_ms;		/* a bucket is rolled up once it ends @age_ms before now */
	int64_t bucket_ms;	/* resolution after the rollup, aligned to Unix time 0 */
};

/*
 * Merges old fine windows into coarse ones: for each level, in order,
 * windows shorter than bucket_ms whose bucket [b, b + bucket_ms) ends at
 * least age_ms before @now_ms become one window per bucket (merged into a
 * window already covering that bucket exactly), with the counts of equal
 * (process, stack) pairs summed; totals are unchanged.  A process seen in
 * only one of a bucket's windows (short-lived, or idle but for a moment)
 * is merged with the others of its comm, executable and cgroup under pid
 * 0, so the store grows with time, not with process churn.  @levels NULL uses
 * the default: 1 min after 1 h, 10 min after 24 h.  A few windows per
 * transaction, each leaving the totals exact.  Then sums the samples of
 * each hour that has settled (ended, and not part way through a level), so
 * queries over it read one packed row instead of its windows.  Returns 0
 * or -errno.
 */
int store__rollup(struct store *st, int64_t now_ms, const struct store_rollup_level *levels,
		  int nlevels);

/*
 * Housekeeping off the caller's thread: a thread with its own connection
 * to the store at @path that, on each store_keeper__kick(), deletes the
 * windows older than @retention_ms, runs the default rollups, deletes the
 * oldest windows when the file is near @max_bytes (so commits seldom meet
 * the cap) and (every few minutes) collects what nothing uses any more.
 * Its transactions hold the write lock a few ms each, with pauses between
 * them, so a window commit on another connection waits briefly, never for
 * a whole pass.
 * @max_bytes also caps its connection like store__set_max_bytes() (0: none).
 * Failures are logged and counted.  Sets *out.  Returns 0 or -errno.
 */
struct store_keeper;

int store_keeper__new(const char *path, int64_t retention_ms, uint64_t max_bytes,
		      struct store_keeper **out);

/*
 * Asks for a pass with @now_ms as the time (Unix ms); returns at once.
 * Kicks during a pass are merged into one pass after it.
 */
void store_keeper__kick(struct store_keeper *k, int64_t now_ms);

struct store_keeper_stats {
	uint64_t passes, failures;	/* passes done, passes that failed */
	uint64_t deleted;		/* windows deleted by retention */
	uint64_t evicted;		/* oldest windows deleted near the size cap */
	double last_pass_s, max_pass_s;	/* wall time of passes (pauses included) */
	int64_t last_now_ms;		/* the time the last finished pass was kicked with */
};

/* Copies the keeper's counters.  NULL gives zeros. */
void store_keeper__stats(struct store_keeper *k, struct store_keeper_stats *out);

/* Stops the keeper (a pass stops at its next transaction) and frees it.  NULL is a no-op. */
void store_keeper__free(struct store_keeper *k);

struct store_stats {
	int64_t first_ms;	/* start of the oldest window, 0 when empty */
	int64_t last_ms;	/* end of the newest window, 0 when empty */
	uint64_t windows;
	uint64_t samples;	/* sum of all counts */
	uint64_t bytes;		/* size of the database (without its WAL) */
};

/* Fills *out.  Returns 0 or -errno. */
int store__stats(struct store *st, struct store_stats *out);

/*
 * Records the sampling period (ns of CPU time one sample stands for), so
 * readers can turn counts into CPU time.  Returns 0 or -errno.
 */
int store__set_period_ns(struct store *st, uint64_t period_ns);

/* The recorded sampling period, or 0 when none was recorded. */
uint64_t store__period_ns(struct store *st);

#endif /* EMBER_STORE_H */
