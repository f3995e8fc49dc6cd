/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * pb.h - protobuf wire encoding into a wbuf: what pprof profiles and the
 * Pyroscope push requests are written with (varints and length-delimited
 * fields; no generated code).
 */
#ifndef EMBER_PB_H
#define EMBER_PB_H

#include <stddef.h>
#include <stdint.h>
#include "wbuf.h"

/* A bare base-128 varint. */
void pb__varint(struct wbuf *b, uint64_t v);
/* Field @field, wire type 0 (varint). */
void pb__uint(struct wbuf *b, int field, uint64_t v);
/* Field @field, wire type 2 (length-delimited): @n bytes at @p. */
void pb__bytes(struct wbuf *b, int field, const void *p, size_t n);
/* The same for a NUL-terminated string. */
void pb__str(struct wbuf *b, int field, const char *s);

#endif /* EMBER_PB_H */
