// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * db.c - the store's thin layer over SQLite: result codes to -errno,
 * transactions, and running the prepared statements by id.
 *
 * Every other file goes through these helpers, so a SQLite error is turned
 * into an errno (and its message kept) in exactly one place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

/* Primary SQLite result code -> errno; anything unlisted is -EIO. */
static int rc_errno(sqlite3 *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_NOTADB:
		return -ENOTSUP;
	case SQLITE_CORRUPT:
		return -EUCLEAN;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_INTERRUPT:
		return -EINTR;
	case SQLITE_MISUSE:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_CANTOPEN:
		return db && sqlite3_system_errno(db) ? -sqlite3_system_errno(db) : -ENOENT;
	default:
		return -EIO;
	}
}

int store_rc(struct store *st, int rc)
{
	int err = rc_errno(st->db, rc);

	if (err && st->db)
		snprintf(st->msg, sizeof(st->msg), "%s", sqlite3_errmsg(st->db));
	return err;
}

int store_exec(struct store *st, const char *sql)
{
	return store_rc(st, sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

int store_begin(struct store *st, bool write)
{
	return store_exec(st, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

int store_commit(struct store *st)
{
	int err = store_exec(st, "COMMIT");

	if (err)
		store_rollback(st);
	return err;
}

void store_rollback(struct store *st)
{
	/* SQLite may already have rolled back by itself (SQLITE_FULL, IOERR...). */
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

void store_caches_clear(struct store *st)
{
	store_itab__clear(&st->strs);
	store_itab__clear(&st->frames);
	store_itab__clear(&st->nodes);
	store_itab__clear(&st->procs);
	store_itab__clear(&st->stacks);
}

int store_run(struct store *st, enum store_stmt id, const int64_t *v, int n, int64_t *id_out)
{
	sqlite3_stmt *s = st->stmt[id];
	int rc, i, err = 0;

	sqlite3_reset(s);
	for (i = 0; i < n && !err; i++)
		err = store_rc(st, sqlite3_bind_int64(s, i + 1, v[i]));
	if (err)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && id_out)
		*id_out = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE && sqlite3_column_count(s))
		err = -ENOENT;
	else if (rc != SQLITE_ROW)
		err = store_rc(st, rc);
out:
	sqlite3_reset(s);
	return err;
}

int store_column_str(sqlite3_stmt *s, int col, char **out)
{
	const void *p = sqlite3_column_blob(s, col);
	int len = sqlite3_column_bytes(s, col);
	char *str;

	/* A zero-length blob comes back as NULL: still an empty string. */
	str = malloc((size_t)len + 1);
	if (!str)
		return -ENOMEM;
	if (len)
		memcpy(str, p, len);
	str[len] = '\0';
	*out = str;
	return 0;
}

/* SQLite's progress callback: non-zero interrupts the statement (SQLITE_INTERRUPT). */
static int past_deadline(void *ctx)
{
	const struct store *st = ctx;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > st->deadline.tv_sec ||
	       (now.tv_sec == st->deadline.tv_sec && now.tv_nsec >= st->deadline.tv_nsec);
}

void store__set_time_limit(struct store *st, int64_t ms)
{
	if (!ms) {
		sqlite3_progress_handler(st->db, 0, NULL, NULL);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &st->deadline);
	st->deadline.tv_sec += ms / 1000;
	st->deadline.tv_nsec += (ms % 1000) * 1000000;
	if (st->deadline.tv_nsec >= 1000000000) {
		st->deadline.tv_sec++;
		st->deadline.tv_nsec -= 1000000000;
	}
	/* about every 10k virtual machine steps: well under a millisecond */
	sqlite3_progress_handler(st->db, 10000, past_deadline, st);
}

const char *store__errmsg(const struct store *st)
{
	return st ? st->msg : "";
}

/* ember's own meanings of the errnos the store returns. */
#define STORE_ERRORS(X) \
	X(EPROTO, "store was written by a newer ember (schema version too new)") \
	X(ENOTSUP, "not an ember store (not SQLite, or another program's database)") \
	X(EROFS, "store is read-only, or needs a migration a read-only open cannot do") \
	X(EBUSY, "store is locked by another writer") \
	X(ENOLCK, "store has recent data in its -wal file, and reading it needs write access" \
		  " to the store's directory (for the -shm file): run as the store's owner") \
	X(ENOSPC, "store is full (disk full or size cap reached)") \
	X(EUCLEAN, "store is damaged") \
	X(EALREADY, "window already committed") \
	X(EINTR, "the query ran past its time limit")

#define STORE_ERR_CASE(e, msg) case e: return msg;

const char *store__strerror(int err)
{
	switch (-err) {
	STORE_ERRORS(STORE_ERR_CASE)
	default:
		return strerror(-err);
	}
}
