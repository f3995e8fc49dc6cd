// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* pb.c - protobuf wire encoding into a wbuf (see pb.h). */
#include <string.h>
#include "pb.h"

void pb__varint(struct wbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	int n = 0;

	do {
		tmp[n++] = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		v >>= 7;
	} while (v);
	wbuf__put(b, tmp, n);
}

void pb__uint(struct wbuf *b, int field, uint64_t v)
{
	pb__varint(b, (uint64_t)field << 3);
	pb__varint(b, v);
}

void pb__bytes(struct wbuf *b, int field, const void *p, size_t n)
{
	pb__varint(b, (uint64_t)field << 3 | 2);
	pb__varint(b, n);
	wbuf__put(b, p, n);
}

void pb__str(struct wbuf *b, int field, const char *s)
{
	pb__bytes(b, field, s, strlen(s));
}
