// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_python.c - symbolizer__python() on a code object laid out in this
 * process's own memory (read back with process_vm_readv, as from a target):
 * qualname and a Latin-1 file name, every form of the 3.11 location table,
 * the checksum that catches a reused code object, and the cache.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "symbolizer.h"
#include "test.h"

/* A layout of our own: the symbolizer takes every offset from it. */
static const struct sym_py_layout layout_base = {
	.code_size = 120, .code_sum = 0, .sum_words = 11,
	.code_qualname = 16, .code_filename = 96, .code_linetable = 104, .code_firstlineno = 112,
	.str_length = 16, .str_hash = 24, .str_state = 32, .str_ascii_data = 48,
	.str_utf8_length = 48, .str_utf8 = 56, .str_compact_data = 72,
	.bytes_size = 16, .bytes_data = 32,
};

#define STATE_COMPACT (1u << 5)
#define STATE_ASCII (1u << 6)

static uint32_t test_sum(const uint64_t *words, uint64_t qualname_hash)
{
	return (uint32_t)(words[0] * 31 + words[2] * 7 + words[10] + qualname_hash) | 1;
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

/* firstlineno 10; units 0-1 line 11 (no column), 2-4 11 (short), 5 13 (one-line),
 * 6-7 10 (long form, -3), 8 none, 9 50 (two-chunk varint). */
static const uint8_t table[] = { 0xe9, 0x02, 0x82, 0x00, 0xe0, 0x01, 0x02,
				 0xf1, 0x07, 0x00, 0x01, 0x01, 0xf8, 0xe8, 0x50, 0x01 };

static const struct { int32_t lasti; uint32_t line; } lines[] = {
	{ 0, 11 }, { 1, 11 }, { 3, 11 }, { 5, 13 }, { 6, 10 }, { 7, 10 }, { 8, 0 }, { 9, 50 },
	{ -1, 10 }, { 100, 0 },
};

static void test_python_code(struct test *t)
{
	_Alignas(8) static uint8_t code[128], qual[128], file[128], bytes[64];
	struct sym_py_layout l = layout_base;
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	const struct frame *fr;
	uint32_t sum;
	size_t i;
	int n;

	CHECK(sym, "symbolizer__new failed");
	l.sum = test_sum;
	put64(qual, 16, 8);
	put64(qual, 24, 0x1234567);
	put32(qual, 32, STATE_COMPACT | STATE_ASCII | 1 << 2);
	memcpy(qual + 48, "Outer.fn", 8);
	put64(file, 16, 12);
	put64(file, 24, 99);
	put32(file, 32, STATE_COMPACT | 1 << 2);	/* Latin-1, no UTF-8 copy */
	memcpy(file + 72, "/src/caf\xe9.py", 12);
	put64(bytes, 16, sizeof(table));
	memcpy(bytes + 32, table, sizeof(table));
	for (i = 0; i < 11; i++)
		put64(code, i * 8, 0x1000 + i);
	put64(code, 16, (uintptr_t)qual);
	put64(code, 96, (uintptr_t)file);
	put64(code, 104, (uintptr_t)bytes);
	put32(code, 112, 10);
	{
		uint64_t w[11];

		memcpy(w, code, sizeof(w));
		sum = test_sum(w, 0x1234567);
	}
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		n = symbolizer__python(sym, getpid(), &l, (uintptr_t)code, sum, lines[i].lasti, &fr);
		CHECK(n == 1, "lasti %d: %d frames", lines[i].lasti, n);
		CHECK(!strcmp(fr->name, "Outer.fn (caf\xc3\xa9.py)"), "name %s", fr->name);
		CHECK(fr->file && !strcmp(fr->file, "/src/caf\xc3\xa9.py"), "file %s", fr->file);
		CHECK(fr->flags == FRAME_F_PYTHON, "flags %#x", fr->flags);
		CHECK(fr->line == lines[i].line, "lasti %d: line %u, want %u", lines[i].lasti,
		      fr->line, lines[i].line);
	}
	symbolizer__stats(sym, &st);
	CHECK(st.py_codes == 1 && st.cache_hits == sizeof(lines) / sizeof(lines[0]) - 1,
	      "read %llu times, %llu hits", (unsigned long long)st.py_codes,
	      (unsigned long long)st.cache_hits);

	/* the object at that address is another one now: another checksum was sampled */
	n = symbolizer__python(sym, getpid(), &l, (uintptr_t)code, sum ^ 2, 0, &fr);
	CHECK(n == 1 && (fr->flags & FRAME_F_UNKNOWN) && (fr->flags & FRAME_F_PYTHON),
	      "stale code named %s", n == 1 ? fr->name : "?");
	/* a new object at the same address, same fields but its name: sampled, it is named anew */
	memcpy(qual + 48, "Other.fn", 8);
	put64(qual, 24, 0x7654321);
	{
		uint64_t w[11];

		memcpy(w, code, sizeof(w));
		n = symbolizer__python(sym, getpid(), &l, (uintptr_t)code, test_sum(w, 0x7654321),
				       0, &fr);
	}
	CHECK(n == 1 && !strcmp(fr->name, "Other.fn (caf\xc3\xa9.py)"), "reused code named %s",
	      fr->name);
	/* while what was sampled before the change no longer matches: unknown */
	n = symbolizer__python(sym, getpid(), &l, (uintptr_t)code, sum ^ 4, 0, &fr);
	CHECK(n == 1 && (fr->flags & FRAME_F_UNKNOWN), "stale code named %s", fr->name);
	symbolizer__stats(sym, &st);
	CHECK(st.py_stale == 2, "py_stale %llu", (unsigned long long)st.py_stale);

	/* unmapped memory: unknown, counted, not cached */
	n = symbolizer__python(sym, getpid(), &l, 8, sum, 0, &fr);
	CHECK(n == 1 && (fr->flags & FRAME_F_UNKNOWN), "unreadable code named %s", fr->name);
	symbolizer__stats(sym, &st);
	CHECK(st.py_unreadable == 1, "py_unreadable %llu", (unsigned long long)st.py_unreadable);
out:
	symbolizer__free(sym);
}

const struct test_case python_tests[] = {
	{ "python_code_object", test_python_code },
	{ NULL, NULL },
};
