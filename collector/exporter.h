/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * exporter.h - writes a range of the store as folded stacks or pprof; shared
 * by `ember export` and the web API's /api/export.
 */
#ifndef EMBER_EXPORTER_H
#define EMBER_EXPORTER_H

#include <stdio.h>
#include "store.h"

enum export_format { EXPORT_FOLDED, EXPORT_PPROF };

/*
 * Queries @f from @st and writes it to @out in @fmt (folded: the same format
 * as `ember record`; pprof: gzipped profile.proto spanning the data in
 * range).  Returns 0 or -errno; @out may hold a partial result on error.
 */
int exporter__write(struct store *st, const struct store_filter *f, enum export_format fmt,
		    FILE *out);

#endif /* EMBER_EXPORTER_H */
