/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * pprof.h - builds a gzipped profile.proto (what `go tool pprof` reads) from
 * symbolized samples.
 */
#ifndef EMBER_PPROF_H
#define EMBER_PPROF_H

#include <stdint.h>
#include <stdio.h>
#include "symbolizer.h"

struct pprof;

/*
 * Returns an empty profile whose samples are worth @period_ns of CPU time
 * each, spanning [@start_ms, @end_ms); NULL with errno set on failure.
 */
struct pprof *pprof__new(uint64_t period_ns, int64_t start_ms, int64_t end_ms);

/* NULL is a no-op. */
void pprof__free(struct pprof *p);

/*
 * Adds @count samples of one stack (@frames root first; SYM_F_INLINE frames
 * fold into the Location of the real function before them), labelled with
 * the process's @comm and @pid.  Returns 0 or -ENOMEM.
 */
int pprof__add(struct pprof *p, const char *comm, uint32_t pid,
	       const struct sym_frame *frames, int nframes, uint64_t count);

/* Writes the gzip-compressed profile.  Returns 0 or -errno. */
int pprof__write(struct pprof *p, FILE *out);

#endif /* EMBER_PPROF_H */
