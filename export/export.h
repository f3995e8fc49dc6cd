/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * export.h - the export formats, in one place: folded stacks
 * (`comm;outer;...;leaf COUNT`, what flamegraph.pl reads) and gzipped
 * profile.proto (what `go tool pprof` reads), built from symbolized
 * stacks, and a range of the store written in either.  Used by `ember
 * record`, `ember export` and the web API's /api/export.
 */
#ifndef EMBER_EXPORT_H
#define EMBER_EXPORT_H

#include <stdint.h>
#include <stdio.h>
#include "store.h"
#include "symbolizer.h"

/* folded.c */
struct folded;

struct folded_stats {
	uint64_t samples;		/* sum of all counts */
	uint64_t stacks;		/* distinct folded lines */
	uint64_t processes;		/* distinct tgids */
};

/* Returns an empty profile, or NULL with errno set. */
struct folded *folded__new(void);

/* NULL is a no-op. */
void folded__free(struct folded *f);

/*
 * Adds @count samples of one stack (@frames root first) of process @tgid,
 * whose thread is named @comm (NULL or empty: "[unknown]").  Returns 0 or
 * -ENOMEM.
 */
int folded__add(struct folded *f, const char *comm, uint32_t tgid,
		const struct frame *frames, int nframes, uint64_t count);

/* Writes every line, sorted.  Returns 0 or -errno (e.g. -ENOSPC). */
int folded__write(struct folded *f, FILE *out);

void folded__stats(const struct folded *f, struct folded_stats *stats);

/* pprof.c */
struct pprof;

/*
 * Returns an empty profile whose samples are worth @period_ns of CPU time
 * each, spanning [@start_ms, @end_ms); NULL with errno set on failure.
 */
struct pprof *pprof__new(uint64_t period_ns, int64_t start_ms, int64_t end_ms);

/* NULL is a no-op. */
void pprof__free(struct pprof *p);

/*
 * Adds @count samples of one stack (@frames root first; FRAME_F_INLINE frames
 * fold into the Location of the real function before them), labelled with
 * the process's @comm and @pid.  Returns 0 or -ENOMEM.
 */
int pprof__add(struct pprof *p, const char *comm, uint32_t pid,
	       const struct frame *frames, int nframes, uint64_t count);

/* About how many bytes the profile takes uncompressed (what limits apply to). */
size_t pprof__size(const struct pprof *p);

/* Writes the gzip-compressed profile.  Returns 0 or -errno. */
int pprof__write(struct pprof *p, FILE *out);

/* exporter.c */
enum export_format { EXPORT_FOLDED, EXPORT_PPROF };

/*
 * Queries @f from @st and writes it to @out in @fmt (folded: the same format
 * as `ember record`; pprof: gzipped profile.proto spanning the data in
 * range).  Returns 0 or -errno; @out may hold a partial result on error.
 */
int exporter__write(struct store *st, const struct store_filter *f, enum export_format fmt,
		    FILE *out);

#endif /* EMBER_EXPORT_H */
