/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * internal.h - private parts of the store shared by its .c files: the
 * struct store itself, its prepared statements, and the byte-key intern
 * table used both for in-memory id caches and for buffering a window.
 */
#ifndef EMBER_STORE_INTERNAL_H
#define EMBER_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "store.h"
#include "itab.h"

/* Schema this code writes; older files are migrated forward on open. */
#define STORE_SCHEMA_VERSION 5

/* PRAGMA application_id of an ember store: "EMBR". */
#define STORE_APP_ID 0x454d4252

/* Entries and key bytes per id cache before it is dropped: bounds its memory. */
#define STORE_CACHE_MAX (1u << 14)
#define STORE_CACHE_BYTES (1u << 20)

/* How long a commit waits for another writer before -EBUSY. */
#define STORE_BUSY_MS 1000

/* Every prepared statement of a store: X(id, sql). */
#define STORE_STMTS(X) \
	X(S_STR_GET, "SELECT id FROM strings WHERE s = ?1") \
	X(S_STR_PUT, "INSERT INTO strings(s) VALUES (?1)") \
	X(S_FRAME_GET, "SELECT id FROM frames WHERE name = ?1 AND module = ?2 AND file = ?3" \
		       " AND line = ?4 AND flags = ?5 AND build_id = ?6") \
	X(S_FRAME_PUT, "INSERT INTO frames(name, module, file, line, flags, build_id)" \
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)") \
	X(S_NODE_GET, "SELECT id FROM stacks WHERE parent = ?1 AND frame = ?2") \
	X(S_NODE_PUT, "INSERT INTO stacks(parent, frame) VALUES (?1, ?2)") \
	X(S_PROC_GET, "SELECT id FROM procs WHERE comm = ?1 AND pid = ?2 AND exe = ?3" \
		      " AND cgroup = ?4") \
	X(S_PROC_PUT, "INSERT INTO procs(comm, pid, exe, cgroup) VALUES (?1, ?2, ?3, ?4)") \
	X(S_WIN_PUT, "INSERT INTO windows(start_ms, dur_ms, samples) VALUES (?1, ?2, ?3)") \
	X(S_SAMPLE_PUT, "INSERT INTO samples(win, proc, stack, count) VALUES (?1, ?2, ?3, ?4)" \
			" ON CONFLICT DO UPDATE SET count = count + excluded.count") \
	X(S_WPROC_PUT, "INSERT OR REPLACE INTO win_procs(win, data) VALUES (?1, ?2)") \
	X(S_HOUR_DROP, "DELETE FROM hours WHERE start_ms = ?1") \
	X(S_STR_BY_ID, "SELECT s FROM strings WHERE id = ?1") \
	X(S_FRAME_BY_ID, "SELECT name, module, file, line, flags, build_id FROM frames" \
			 " WHERE id = ?1") \
	X(S_NODE_BY_ID, "SELECT parent, frame FROM stacks WHERE id = ?1") \
	X(S_PROC_BY_ID, "SELECT comm, pid, exe, cgroup FROM procs WHERE id = ?1") \
	X(S_DATA_VERSION, "PRAGMA data_version") \
	X(S_PAGE_SIZE, "PRAGMA page_size")

#define STORE_STMT_ENUM(id, sql) id,
enum store_stmt { STORE_STMTS(STORE_STMT_ENUM) S__COUNT };
#undef STORE_STMT_ENUM

struct store {
	sqlite3 *db;
	int flags;			/* STORE_READONLY */
	sqlite3_stmt *stmt[S__COUNT];
	/* Content -> database id, for what this connection has seen. */
	struct store_itab strs;		/* string bytes */
	struct store_itab frames;	/* int64 name, module, file, line, flags, build_id */
	struct store_itab nodes;	/* int64 parent node, frame */
	struct store_itab procs;	/* int64 comm, pid, exe, cgroup */
	struct store_itab stacks;	/* uint32 frame ids, root first -> leaf node */
	int64_t data_version;		/* changes when another connection commits */
	struct timespec deadline;	/* store__set_time_limit(); 0: none */
	bool share_lock;		/* housekeeping pauses between its transactions */
	const volatile bool *cancel;	/* when set and true, housekeeping stops at its next pause */
	char msg[256];			/* last SQLite error message */
};

/* Maps a SQLite result to 0 or -errno and remembers the error message. */
int store_rc(struct store *st, int rc);

/* Runs one or more statements without parameters.  Returns 0 or -errno. */
int store_exec(struct store *st, const char *sql);

/* BEGIN IMMEDIATE (@write) or a deferred BEGIN.  Returns 0 or -errno. */
int store_begin(struct store *st, bool write);

/* COMMIT; on failure the transaction is rolled back.  Returns 0 or -errno. */
int store_commit(struct store *st);

/* Rolls back the open transaction, if any. */
void store_rollback(struct store *st);

/* Drops every id cache (after a rollback or a delete made ids stale). */
void store_caches_clear(struct store *st);

/*
 * Binds @n int64 values to ?1..?n of statement @id (reset first) and steps
 * it once.  Sets *id_out to column 0 when it returns a row.  Returns 0,
 * -ENOENT when it returns no row, or -errno.  The statement is reset.
 */
int store_run(struct store *st, enum store_stmt id, const int64_t *v, int n, int64_t *id_out);

/* Sets *out to a copy of the blob column @col as a NUL-terminated string. */
int store_column_str(sqlite3_stmt *s, int col, char **out);

/*
 * Runs @sql with ?1, ?2, ?3 (those it has) bound to @v[0..2].  Sets
 * *changes (if not NULL) to the rows it changed.  Returns 0 or -errno.
 */
int store_sql(struct store *st, const char *sql, const int64_t *v, int *changes);

/* Runs @n statements of @sql with store_sql(); stops at the first failure. */
int store_sql_all(struct store *st, const char *const *sql, size_t n, const int64_t *v);

/*
 * Between two housekeeping transactions: when st->share_lock is set,
 * sleeps at least as long as the transaction begun at @t0 (CLOCK_MONOTONIC
 * seconds) held the lock, so a writer on another connection gets in.
 * Returns 0, or -ECANCELED once st->cancel is set.
 */
int store_pause(struct store *st, double t0);

/* CLOCK_MONOTONIC in seconds. */
double store_mono(void);

/*
 * Deletes the windows starting before @before_ms and their samples, a few
 * windows per transaction; nothing else (see store_gc()).  Adds the count
 * to *deleted.  Returns 0 or -errno.
 */
int store_delete_before(struct store *st, int64_t before_ms, uint64_t *deleted);

/*
 * Deletes the stacks, frames, processes and strings nothing refers to:
 * found in a read snapshot (which never blocks a writer), then deleted in
 * one short transaction that spares whatever a window written since uses.
 * Returns 0 or -errno.
 */
int store_gc(struct store *st);

/* store_gc()'s two steps: the snapshot (sets @max, see gc.c), then the deletion. */
int store_gc_mark(struct store *st, int64_t max[3]);
int store_gc_sweep(struct store *st, const int64_t max[3]);

/* Sums per (a, b) pair of ids, in a hash table; see agg.c. */
struct store_agg_ent {
	int64_t a, b;
	uint64_t sum;
};

struct store_agg {
	struct store_agg_ent *ents;	/* dense, in first-seen order (sorted by store_agg__sort()) */
	uint32_t n, cap;
	uint32_t *slots;		/* entry index + 1, 0 = empty */
	uint32_t nslots;
};

/* Adds @count to pair (@a, @b).  Returns 0 or -ENOMEM. */
int store_agg__add(struct store_agg *g, int64_t a, int64_t b, uint64_t count);

/* The same, and sets *at to the pair's entry. */
int store_agg__add_at(struct store_agg *g, int64_t a, int64_t b, uint64_t count, uint32_t *at);

/* Sorts the entries by (a, b); no more adds after this. */
void store_agg__sort(struct store_agg *g);

/* Frees the table and leaves it empty. */
void store_agg__free(struct store_agg *g);

/* Defines the SQL aggregate ember_sum(agg, a, b, count) on @st's connection. */
int store_agg__register(struct store *st);

/*
 * Binds @g to parameter @param of @s, a statement calling
 * ember_sum(?param, a, b, count), and steps it to the end, so every row it
 * scans is added to @g.  Returns 0 or -errno.
 */
int store_agg__run(struct store *st, sqlite3_stmt *s, int param, struct store_agg *g);

/* Loads processes and stacks by id for one query; see resolve.c. */
struct store_resolver;

/* A resolver for reads inside the current transaction of @st; NULL when out of memory. */
struct store_resolver *store_resolver__new(struct store *st);

/* Frees @q and every string it handed out.  NULL is a no-op. */
void store_resolver__free(struct store_resolver *q);

/*
 * Tells @q that about @nstacks distinct stacks follow, so it can read the
 * whole trie at once when that is cheaper.  Returns 0 or -errno.
 */
int store_resolver__prepare(struct store_resolver *q, uint32_t nstacks);

/* Sets *out to process @id (strings owned by @q).  Returns 0 or -errno (-EUCLEAN: dangling). */
int store_resolver__proc(struct store_resolver *q, int64_t id, struct store_proc *out);

/*
 * Sets *frames to stack @id, root first, valid until the next call.
 * Returns its depth or -errno (-EUCLEAN: dangling id or a cycle).
 */
int store_resolver__stack(struct store_resolver *q, int64_t id,
			  const struct frame **frames);

/* A growing byte buffer for the packed sums (sums.c). */
struct store_blob {
	unsigned char *p;
	size_t len, cap;
	int err;		/* 0 or -ENOMEM */
};

void store_blob__free(struct store_blob *b);

/*
 * Packs @e[0..@n) into @b (emptied first): per process (.b, .sum), or per
 * (process, stack) (.a, .b, .sum), sorted by store_agg__sort().  Returns 0,
 * -ENOMEM or -EINVAL (not sorted).
 */
int store_blob__procs(struct store_blob *b, const struct store_agg_ent *e, uint32_t n);
int store_blob__stacks(struct store_blob *b, const struct store_agg_ent *e, uint32_t n);

/* The processes a filter selects, by id; NULL selects all. */
struct store_procset {
	int64_t *ids;
	size_t n;
};

/* Sets *out to the processes @f selects (@comm: its string id, 0 for any). */
int store_procset__load(struct store *st, const struct store_filter *f, int64_t comm,
			struct store_procset **out);
void store_procset__free(struct store_procset *set);

/*
 * Adds each sum of a packed blob to @g: per process as (@bucket, process),
 * or per (process, stack), skipping processes not in @ok.  Returns 0,
 * -ENOMEM, or -EUCLEAN for a malformed blob.
 */
int store_blob__add_procs(const void *blob, size_t len, int64_t bucket,
			  const struct store_procset *ok, struct store_agg *g);
int store_blob__add_stacks(const void *blob, size_t len, const struct store_procset *ok,
			   struct store_agg *g);

/*
 * Writes window @win's sums per process from @g, pairs (0, process)
 * (sorted here), unless its @rows sample rows are too few to be worth it.
 */
int store_sums__window(struct store *st, int64_t win, struct store_agg *g, uint64_t rows);

/* In a rollup batch: writes the sums per process of each receiving window (temp.rb). */
int store_sums__rolled(struct store *st);

/* Span of the sums in hours (see hours.c). */
#define STORE_HOUR_MS 3600000LL

/* SQL for the start of the hour holding time @x (floor, also before 1970). */
#define STORE_HOUR_OF(x) "(" x " - ((" x " % 3600000) + 3600000) % 3600000)"

/*
 * Drops the sums of the hour holding @start_ms: called by whatever adds,
 * changes or deletes a window starting then.  Returns 0 or -errno.
 */
int store_hour_drop(struct store *st, int64_t start_ms);

/*
 * Sums the samples of each settled hour (not being rolled up by @levels
 * at @now_ms, nor eaten by retention) that has no sums yet, an hour per
 * short transaction.  Returns 0 or -errno.
 */
int store_hours_build(struct store *st, int64_t now_ms, const struct store_rollup_level *levels,
		      int nlevels);

/* Sets *n to the one integer @sql returns.  Returns 0 or -errno (-EIO: no row). */
int store_query_int(struct store *st, const char *sql, int64_t *n);

#endif /* EMBER_STORE_INTERNAL_H */
