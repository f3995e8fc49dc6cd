// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * wbuf.c - the growable output buffer every answer is built in, and the
 * escaping of untrusted names into JSON and XML.
 *
 * Symbol names are arbitrary bytes.  JSON gets valid UTF-8 only (invalid
 * bytes become U+FFFD), every control character \u-escaped, and < > & as
 * \u003c etc., so the text is inert even inside an HTML <script> element.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wbuf.h"

static int reserve(struct wbuf *b, size_t n)
{
	size_t c = b->cap ? b->cap : 4096;
	char *p;

	if (b->err)
		return b->err;
	if (b->len + n + 1 <= b->cap)
		return 0;
	if (b->max && b->len + n > b->max)
		return b->err = -E2BIG;
	while (c < b->len + n + 1)
		c *= 2;
	p = realloc(b->p, c);
	if (!p)
		return b->err = -ENOMEM;
	b->p = p;
	b->cap = c;
	return 0;
}

void wbuf__put(struct wbuf *b, const void *s, size_t n)
{
	if (reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void wbuf__puts(struct wbuf *b, const char *s)
{
	wbuf__put(b, s, strlen(s));
}

void wbuf__printf(struct wbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(b, n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

void wbuf__free(struct wbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/*
 * Length of the valid UTF-8 sequence at @s (at most @n bytes), or 0 when
 * it is invalid: truncated, overlong, a surrogate or above U+10FFFF.
 */
static int utf8_len(const unsigned char *s, size_t n)
{
	int len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if ((size_t)len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* JSON escape of one ASCII byte, or NULL when it goes through as is. */
static const char *json_escape(unsigned char c, char tmp[8])
{
	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\n': return "\\n";
	case '\t': return "\\t";
	case '<': case '>': case '&': case '\'':
		break;
	default:
		if (c >= 0x20 && c < 0x7f)
			return NULL;
	}
	snprintf(tmp, 8, "\\u%04x", c);
	return tmp;
}

void wbuf__json_str(struct wbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, i = 0, run = 0;
	char tmp[8];
	const char *esc;
	int l;

	if (!str) {
		wbuf__puts(b, "null");
		return;
	}
	n = strlen(str);
	wbuf__put(b, "\"", 1);
	while (i < n) {
		l = utf8_len(s + i, n - i);
		esc = l == 1 ? json_escape(s[i], tmp) : l ? NULL : "\\ufffd";
		/* U+2028/2029 end lines in JavaScript source */
		if (l == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8)
			esc = s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
		if (esc) {
			wbuf__put(b, s + i - run, run);
			wbuf__puts(b, esc);
			run = 0;
			i += l ? l : 1;
			continue;
		}
		run += l;
		i += l;
	}
	wbuf__put(b, s + i - run, run);
	wbuf__put(b, "\"", 1);
}

/* XML escape of one ASCII byte, or NULL when it goes through as is. */
static const char *xml_escape(unsigned char c)
{
	switch (c) {
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '&': return "&amp;";
	case '"': return "&quot;";
	case '\'': return "&#39;";
	case '\t': case '\n': case '\r':
		return NULL;
	}
	/* XML 1.0 cannot carry other control characters, even as references */
	return c < 0x20 || c == 0x7f ? "\xef\xbf\xbd" : NULL;
}

void wbuf__xml_str(struct wbuf *b, const char *str, size_t maxlen)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0;
	const char *esc;
	int l;

	while (i < n && i < maxlen) {
		l = utf8_len(s + i, n - i);
		esc = l == 1 ? xml_escape(s[i]) : l ? NULL : "\xef\xbf\xbd";
		if (esc)
			wbuf__puts(b, esc);
		else
			wbuf__put(b, s + i, l);
		i += l ? l : 1;
	}
	if (i < n)
		wbuf__puts(b, "..");
}
