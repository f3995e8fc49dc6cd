// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * jit.c - names JIT-compiled code from the perf map its runtime writes
 * (Node.js --perf-basic-prof, Java agents, LuaJIT): /tmp/perf-PID.map,
 * lines of "START SIZE name" in hex, appended as code is compiled.  The
 * file belongs to the profiled process, so it is untrusted: opened without
 * following symlinks, only a regular file owned by the process's user,
 * read up to a size bound, and any line that does not parse is skipped
 * and counted.  It is read again (from where the last read stopped) when
 * an address misses and the file grew, at most a few times a second.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "file.h"
#include "mono.h"

#define JIT_MAX_BYTES (256u << 20)	/* stop reading a perf map past this */
#define JIT_MAX_LINE 4096		/* longer lines are skipped */
#define JIT_RECHECK_MS 500		/* least time between two reads after a miss */
#define JIT_OVERLAP_SCAN 32		/* entries tried below the closest start */

struct jit_ent {
	uint64_t start, end;
	const char *name;	/* interned */
	uint64_t seq;		/* later lines win where code was replaced */
};

struct jit_map {
	struct jit_ent *ents;
	size_t n, cap;
	bool sorted;
	uint64_t off;		/* bytes consumed */
	bool skipping;		/* inside an over-long line */
	uint64_t seq;
	uint64_t checked_ms;
	int pid;
};

void jit_map__free(void *p, void *ctx)
{
	struct jit_map *jm = p;

	(void)ctx;
	if (!jm)
		return;
	free(jm->ents);
	free(jm);
}

/* The pid the process sees itself as (its perf map is named by it). */
static int ns_pid(int pid)
{
	char path[64], *line = NULL, *p;
	size_t cap = 0;
	int nspid = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		p = strrchr(line, '\t');
		if (p)
			nspid = atoi(p + 1) > 0 ? atoi(p + 1) : pid;
		break;
	}
	free(line);
	fclose(f);
	return nspid;
}

/*
 * Opens the perf map as the process sees it (its own /tmp, which in a
 * container is not ours), else the host's; -1 when there is none.
 */
static int jit_open(int pid)
{
	char path[128];
	struct stat pst, st;
	int i, fd, rfd;

	snprintf(path, sizeof(path), "/proc/%d", pid);
	if (stat(path, &pst))
		return -1;
	for (i = 0; i < 2; i++) {
		if (i == 0) {
			/* resolved inside the process's root: its symlinks cannot lead out */
			snprintf(path, sizeof(path), "/proc/%d/root", pid);
			rfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (rfd < 0)
				continue;
			snprintf(path, sizeof(path), "/tmp/perf-%d.map", ns_pid(pid));
			fd = file__open_in_root(rfd, path, false);
			close(rfd);
		} else {
			snprintf(path, sizeof(path), "/tmp/perf-%d.map", pid);
			fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		}
		if (fd < 0)
			continue;
		if (!fstat(fd, &st) && S_ISREG(st.st_mode) &&
		    (st.st_uid == pst.st_uid || st.st_uid == 0))
			return fd;
		close(fd);
	}
	return -1;
}

/* Parses one line (NUL-terminated, no newline); returns 0 or -EINVAL. */
static int jit_parse(const char *line, uint64_t *start, uint64_t *size, const char **name)
{
	char *end;

	errno = 0;
	*start = strtoull(line, &end, 16);
	if (errno || end == line || *end != ' ' || line[0] == '-' || line[0] == ' ')
		return -EINVAL;
	line = end + 1;
	*size = strtoull(line, &end, 16);
	if (errno || end == line || *end != ' ' || line[0] == '-' || line[0] == ' ')
		return -EINVAL;
	*name = end + 1;
	if (!**name || !*size || *start + *size < *start)
		return -EINVAL;
	return 0;
}

static int jit_add_line(struct symbolizer *sym, struct jit_map *jm, char *line, size_t len)
{
	uint64_t start, size;
	const char *name;
	struct jit_ent *e;

	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (jit_parse(line, &start, &size, &name)) {
		if (len)	/* blank lines are not worth counting */
			sym->stats.jit_bad_lines++;
		return 0;
	}
	if (jm->n == jm->cap) {
		size_t cap = jm->cap ? jm->cap * 2 : 256;

		e = realloc(jm->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		jm->ents = e;
		jm->cap = cap;
	}
	name = strpool__intern(&sym->names, name);
	if (!name)
		return -ENOMEM;
	jm->ents[jm->n++] = (struct jit_ent){ start, start + size, name, jm->seq++ };
	jm->sorted = false;
	return 0;
}

/* Reads what was appended since the last read; 0 or -ENOMEM. */
static int jit_read(struct symbolizer *sym, struct jit_map *jm, int fd)
{
	static const size_t chunk = 65536;
	char *buf = malloc(chunk + JIT_MAX_LINE + 1);
	size_t have = 0, pos, nl;
	struct stat st;
	ssize_t n;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	if (fstat(fd, &st) || (uint64_t)st.st_size < jm->off) {
		/* replaced by a shorter file: start over */
		jm->n = 0;
		jm->off = 0;
		jm->skipping = false;
	}
	sym->stats.jit_maps++;
	while (!err && jm->off + have < JIT_MAX_BYTES) {
		n = pread(fd, buf + have, chunk, jm->off + have);
		if (n <= 0)
			break;
		have += n;
		pos = 0;
		while (!err && pos < have) {
			char *p = memchr(buf + pos, '\n', have - pos);

			if (!p)
				break;
			nl = p - buf;
			if (jm->skipping)
				jm->skipping = false;
			else
				err = jit_add_line(sym, jm, buf + pos, nl - pos);
			pos = nl + 1;
		}
		/* keep the partial line; an over-long one is dropped and counted */
		if (have - pos > JIT_MAX_LINE) {
			if (!jm->skipping)
				sym->stats.jit_bad_lines++;
			jm->skipping = true;
			pos = have;
		}
		jm->off += pos;
		memmove(buf, buf + pos, have - pos);
		have -= pos;
	}
	free(buf);
	return err;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct jit_ent *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const struct jit_ent *jit_find(struct jit_map *jm, uint64_t addr)
{
	const struct jit_ent *best = NULL;
	size_t lo = 0, hi = jm->n, i;

	if (!jm->sorted) {
		qsort(jm->ents, jm->n, sizeof(*jm->ents), ent_cmp);
		jm->sorted = true;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (jm->ents[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i > 0 && lo - i < JIT_OVERLAP_SCAN; i--) {
		const struct jit_ent *e = &jm->ents[i - 1];

		if (addr < e->end && (!best || e->seq > best->seq))
			best = e;
	}
	return best;
}

/* Reads the map now if it may have changed; 0 or -ENOMEM. */
static int jit_refresh(struct symbolizer *sym, struct jit_map *jm)
{
	uint64_t t = mono_ms();
	struct stat st;
	int fd, err = 0;

	if (jm->checked_ms && t - jm->checked_ms < JIT_RECHECK_MS)
		return 0;
	jm->checked_ms = t;
	fd = jit_open(jm->pid);
	if (fd < 0)
		return 0;
	if (!fstat(fd, &st) && (uint64_t)st.st_size != jm->off)
		err = jit_read(sym, jm, fd);
	close(fd);
	return err;
}


struct frames *jit__lookup(struct symbolizer *sym, int pid, uint64_t addr)
{
	struct jit_map *jm = hmap__get(&sym->jit_maps, pid);
	const struct jit_ent *e = NULL;

	if (!jm) {
		jm = calloc(1, sizeof(*jm));
		if (!jm || hmap__put(&sym->jit_maps, pid, jm)) {
			free(jm);
			errno = ENOMEM;
			return NULL;
		}
		jm->pid = pid;
	}
	if (jm->n)
		e = jit_find(jm, addr);
	if (!e) {
		if (jit_refresh(sym, jm)) {
			errno = ENOMEM;
			return NULL;
		}
		if (jm->n)
			e = jit_find(jm, addr);
	}
	if (!e) {
		errno = ENOENT;
		return NULL;
	}
	return frames__one(&sym->jit_frames, &sym->strings, e->name, "[jit]", FRAME_F_JIT);
}
