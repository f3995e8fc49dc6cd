// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * python.c - names CPython frames.  The sampler records a code object's
 * address, the index of the instruction it ran and a checksum of the
 * object's fields; here the object is read from the live process
 * (process_vm_readv), checked against the checksum (a code object freed
 * and its memory reused must not lend its name), and its qualname,
 * filename and location table (3.11+ format) give "qualname (file.py)"
 * and the line.  The process's memory is untrusted: every size is capped.
 * Cached per process, by (address, checksum), then by line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "file.h"
#include "log.h"

#define PY_CODE_MAX 512		/* largest code object prefix read */
#define PY_STR_MAX 1024		/* longest name or file name kept (bytes) */
#define PY_TABLE_MAX 65536	/* longest location table read */

struct py_code {
	uint64_t addr;
	uint32_t sum;
	bool stale;		/* the checksum did not match: unknown */
	const char *name;	/* interned "qualname (file.py)" */
	const char *file;	/* interned co_filename */
	int firstline;
	uint8_t *table;		/* co_linetable */
	size_t tlen;
	struct hmap lines;	/* line + 1 -> struct frames */
};

/* One process's code objects, keyed by a mix of address and checksum. */
struct py_codes {
	struct hmap codes;
	bool gone;	/* a read found the process without memory: no more tries */
};

static void frames_release(void *fr, void *ctx)
{
	(void)ctx;
	free(fr);
}

static void py_code_free(void *p, void *ctx)
{
	struct py_code *c = p;

	(void)ctx;
	hmap__clear(&c->lines, frames_release, NULL);
	free(c->table);
	free(c);
}

void py_codes__free(void *p, void *ctx)
{
	struct py_codes *pc = p;

	(void)ctx;
	if (!pc)
		return;
	hmap__clear(&pc->codes, py_code_free, NULL);
	free(pc);
}

static uint64_t word(const uint8_t *buf, uint16_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

/* Appends code point @c to @out as UTF-8; returns the bytes written (0: no room). */
static size_t put_utf8(char *out, size_t room, uint32_t c)
{
	if (c < 0x80 && room >= 1) {
		out[0] = c;
		return 1;
	}
	if (c < 0x800 && room >= 2) {
		out[0] = 0xc0 | c >> 6;
		out[1] = 0x80 | (c & 0x3f);
		return 2;
	}
	if (c < 0x10000 && room >= 3) {
		out[0] = 0xe0 | c >> 12;
		out[1] = 0x80 | ((c >> 6) & 0x3f);
		out[2] = 0x80 | (c & 0x3f);
		return 3;
	}
	if (c < 0x110000 && room >= 4) {
		out[0] = 0xf0 | c >> 18;
		out[1] = 0x80 | ((c >> 12) & 0x3f);
		out[2] = 0x80 | ((c >> 6) & 0x3f);
		out[3] = 0x80 | (c & 0x3f);
		return 4;
	}
	return 0;
}

/*
 * Reads the str object at @addr as UTF-8 into @out (PY_STR_MAX + 1 bytes).
 * Compact strings only (every name and file name of a code object is one).
 */
static int read_str(int pid, const struct sym_py_layout *l, uint64_t addr, char *out)
{
	uint8_t hdr[128], raw[PY_STR_MAX * 4];
	uint64_t len, utf8;
	uint32_t state, kind, c;
	size_t i, o = 0, n, w;
	int err;

	if (!addr || l->str_compact_data + 8u > sizeof(hdr))
		return -EINVAL;
	err = process__read_mem(pid, addr, hdr, l->str_compact_data);
	if (err)
		return err;
	len = word(hdr, l->str_length);
	memcpy(&state, hdr + l->str_state, sizeof(state));
	kind = (state >> 2) & 7;
	if (!(state & (1 << 5)))	/* not compact */
		return -EINVAL;
	if (state & (1 << 6)) {		/* ASCII */
		n = len < PY_STR_MAX ? len : PY_STR_MAX;
		err = process__read_mem(pid, addr + l->str_ascii_data, out, n);
		out[err ? 0 : n] = '\0';
		return err;
	}
	utf8 = word(hdr, l->str_utf8);
	if (utf8) {
		n = word(hdr, l->str_utf8_length);
		n = n < PY_STR_MAX ? n : PY_STR_MAX;
		err = process__read_mem(pid, utf8, out, n);
		out[err ? 0 : n] = '\0';
		return err;
	}
	if (kind != 1 && kind != 2 && kind != 4)
		return -EINVAL;
	n = len < PY_STR_MAX ? len : PY_STR_MAX;
	err = process__read_mem(pid, addr + l->str_compact_data, raw, n * kind);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (kind == 1)
			c = raw[i];
		else if (kind == 2)
			c = raw[2 * i] | raw[2 * i + 1] << 8;
		else
			memcpy(&c, raw + 4 * i, 4);
		w = put_utf8(out + o, PY_STR_MAX - o, c);
		if (!w)
			break;
		o += w;
	}
	out[o] = '\0';
	return 0;
}

static int table_varint(const uint8_t *t, size_t len, size_t *pos, uint32_t *out)
{
	uint32_t v = 0, shift = 0;
	uint8_t b;

	do {
		if (*pos >= len || shift > 28)
			return -1;
		b = t[(*pos)++];
		v |= (uint32_t)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	*out = v;
	return 0;
}

static int table_svarint(const uint8_t *t, size_t len, size_t *pos, int32_t *out)
{
	uint32_t v;

	if (table_varint(t, len, pos, &v))
		return -1;
	*out = v & 1 ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
	return 0;
}

/*
 * The line of instruction @lasti (code units) from a location table
 * (CPython's Objects/locations.md, 3.11+): entries of 1-8 code units, each
 * a header byte (bit 7 set, code in bits 3-6, length - 1 in bits 0-2)
 * and a code-dependent tail; lines are deltas from co_firstlineno.
 * Returns 0 when unknown.
 */
static uint32_t table_line(const uint8_t *t, size_t len, int firstline, int32_t lasti)
{
	int32_t line = firstline, delta, addr = 0, cur;
	size_t pos = 0;
	uint32_t skip;
	uint8_t h;
	int code;

	if (lasti < 0)
		return firstline > 0 ? firstline : 0;
	while (pos < len) {
		h = t[pos++];
		if (!(h & 0x80))
			return 0;
		code = (h >> 3) & 15;
		delta = 0;
		cur = line;
		if (code == 15) {
			cur = -1;
		} else if (code == 14) {
			if (table_svarint(t, len, &pos, &delta) || table_varint(t, len, &pos, &skip) ||
			    table_varint(t, len, &pos, &skip) || table_varint(t, len, &pos, &skip))
				return 0;
		} else if (code == 13) {
			if (table_svarint(t, len, &pos, &delta))
				return 0;
		} else if (code >= 10) {
			delta = code - 10;
			pos += 2;
		} else {
			pos += 1;
		}
		if (code != 15) {
			line += delta;
			cur = line;
		}
		addr += (h & 7) + 1;
		if (lasti < addr)
			return cur > 0 ? (uint32_t)cur : 0;
	}
	return 0;
}

/* Reads and checks the code object at @addr; NULL with errno set. */
static struct py_code *code_read(struct symbolizer *sym, int pid, const struct sym_py_layout *l,
				 uint64_t addr, uint32_t sum)
{
	uint8_t buf[PY_CODE_MAX], hdr[64];
	char qual[PY_STR_MAX + 1], file[PY_STR_MAX + 1], name[2 * PY_STR_MAX + 8];
	uint64_t qhash, table;
	const char *base;
	struct py_code *c;
	int32_t firstline;
	int64_t tlen;
	int err;

	if (l->code_size > sizeof(buf) || l->sum_words > 64 ||
	    l->sum_words * 8 + l->code_sum > l->code_size ||
	    l->bytes_data > sizeof(hdr)) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->addr = addr;
	c->sum = sum;
	err = process__read_mem(pid, addr, buf, l->code_size);
	if (!err)
		err = process__read_mem(pid, word(buf, l->code_qualname) + l->str_hash, &qhash,
			       sizeof(qhash));
	if (err) {
		free(c);
		errno = -err;
		return NULL;
	}
	{
		uint64_t words[64];

		memcpy(words, buf + l->code_sum, l->sum_words * 8);
		if (l->sum(words, qhash) != sum) {
			c->stale = true;
			return c;
		}
	}
	if (read_str(pid, l, word(buf, l->code_qualname), qual))
		snprintf(qual, sizeof(qual), "[unreadable name]");
	if (read_str(pid, l, word(buf, l->code_filename), file))
		snprintf(file, sizeof(file), "[unreadable file]");
	base = strrchr(file, '/');
	snprintf(name, sizeof(name), "%s (%s)", qual, base ? base + 1 : file);
	memcpy(&firstline, buf + l->code_firstlineno, sizeof(firstline));
	c->firstline = firstline;
	c->name = strpool__intern(&sym->names, name);
	c->file = strpool__intern(&sym->names, file);
	if (!c->name || !c->file) {
		py_code_free(c, NULL);
		errno = ENOMEM;
		return NULL;
	}
	table = word(buf, l->code_linetable);
	if (table && !process__read_mem(pid, table, hdr, l->bytes_data)) {
		tlen = (int64_t)word(hdr, l->bytes_size);
		if (tlen > 0 && tlen <= PY_TABLE_MAX && (c->table = malloc(tlen))) {
			if (process__read_mem(pid, table + l->bytes_data, c->table, tlen) == 0) {
				c->tlen = tlen;
			} else {
				free(c->table);
				c->table = NULL;
			}
		}
	}
	sym->stats.py_codes++;
	return c;
}

static uint64_t code_key(uint64_t addr, uint32_t sum)
{
	return (addr ^ ((uint64_t)sum << 32)) * 0x9e3779b97f4a7c15ULL;
}

/* The frame of @c at @line, cached. */
static struct frames *code_frame(struct py_code *c, uint32_t line)
{
	struct frames *fr = hmap__get(&c->lines, line + 1ULL);

	if (fr)
		return fr;
	fr = frames__new(1);
	if (!fr)
		return NULL;
	fr->f[0].name = c->name;
	fr->f[0].file = c->file;
	fr->f[0].line = line;
	fr->f[0].flags = FRAME_F_PYTHON;
	if (hmap__put(&c->lines, line + 1ULL, fr)) {
		free(fr);
		return NULL;
	}
	return fr;
}

int symbolizer__python(struct symbolizer *sym, int pid, const struct sym_py_layout *layout,
		       uint64_t code, uint32_t sum, int32_t lasti, const struct frame **frames)
{
	struct py_codes *pc = hmap__get(&sym->py_procs, pid);
	uint64_t key = code_key(code, sum);
	struct py_code *c = NULL, *old;
	struct frames *fr;

	if (!pc) {
		pc = calloc(1, sizeof(*pc));
		if (!pc || hmap__put(&sym->py_procs, pid, pc)) {
			free(pc);
			return -ENOMEM;
		}
	}
	c = hmap__get(&pc->codes, key);
	if (c && (c->addr != code || c->sum != sum))
		c = NULL;	/* a key collision: read again, the newer wins */
	if (c) {
		sym->stats.cache_hits++;
	} else {
		sym->stats.cache_misses++;
		errno = ESRCH;
		c = pc->gone ? NULL : code_read(sym, pid, layout, code, sum);
		if (!c && errno == ENOMEM)
			return -ENOMEM;
		if (!c) {
			/* exited: its other code objects are as unreadable */
			pc->gone |= errno == ESRCH;
			log_debug("python: pid %d: code object %#llx unreadable: %s", pid,
				  (unsigned long long)code, strerror(errno));
			sym->stats.py_unreadable++;
			fr = symbolizer__synth(sym, "[python: code unreadable]", "[python]",
					       FRAME_F_UNKNOWN | FRAME_F_PYTHON);
			goto done;
		}
		old = hmap__get(&pc->codes, key);
		if (hmap__put(&pc->codes, key, c)) {
			py_code_free(c, NULL);
			return -ENOMEM;
		}
		if (old)
			py_code_free(old, NULL);
		if (c->stale)
			sym->stats.py_stale++;
	}
	if (c->stale)
		fr = symbolizer__synth(sym, "[python: stale code]", "[python]",
				       FRAME_F_UNKNOWN | FRAME_F_PYTHON);
	else
		fr = code_frame(c, table_line(c->table, c->tlen, c->firstline, lasti));
done:
	if (!fr)
		return -ENOMEM;
	if (fr->f[0].flags & FRAME_F_UNKNOWN)
		sym->stats.unknown_frames++;
	*frames = fr->f;
	return 1;
}
