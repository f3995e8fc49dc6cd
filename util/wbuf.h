/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * wbuf.h - a growable output buffer whose first failure sticks, with the
 * escaping of untrusted bytes into JSON and XML.  Shared by the exporters
 * (html, svg, the flame tree's JSON) and the web API's answers.
 */
#ifndef EMBER_WBUF_H
#define EMBER_WBUF_H

#include <stddef.h>

/* An output buffer whose first failure sticks (err), so writers check once. */
struct wbuf {
	char *p;
	size_t len, cap;
	size_t max;	/* 0: no cap, else -E2BIG past this many bytes */
	int err;	/* 0, -ENOMEM or -E2BIG */
};

void wbuf__put(struct wbuf *b, const void *s, size_t n);
void wbuf__puts(struct wbuf *b, const char *s);
void wbuf__printf(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal of untrusted bytes (NULL: null); < > & are \u-escaped too. */
void wbuf__json_str(struct wbuf *b, const char *s);
/* XML text of untrusted bytes: entities, and U+FFFD for what XML cannot hold. */
void wbuf__xml_str(struct wbuf *b, const char *s, size_t maxlen);
/* Leaves the buffer empty and usable; frees nothing when it was never written. */
void wbuf__free(struct wbuf *b);

#endif /* EMBER_WBUF_H */
