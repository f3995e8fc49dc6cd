// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_symbolizer_mem.c - the symbolizer's memory bounds keep names
 * right: a debug file with compressed DWARF written out inflated and
 * reopened from that copy, and DWARF closed and reopened once it has named
 * from DWARF_RECYCLE_UNITS compilation units, to drop libdw's line tables.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "symbolizer.h"
#include "test.h"
#include "../../symbolizer/internal.h"

/* Names @func in basic_zstripped (compressed debug file) with @sym. */
static void expect_zbasic(struct test *t, struct symbolizer *sym, const char *func)
{
	const struct frame *f;
	uint64_t addr, size;
	char why[512];
	int n, line = marker_line(fixture(t, 2, "basic.c"), func);

	CHECK(!elf_symbol(fixture(t, 1, "basic_zstripped.debug"), func, &addr, &size),
	      "no symbol %s", func);
	n = symbolizer__elf(sym, fixture(t, 0, "basic_zstripped"), addr, &f);
	CHECK(n == 1, "%s: %d frames", func, n);
	CHECK(!frame_differs(f, func, "basic.c", line, 0, why, sizeof(why)), "%s", why);
	t->status = TEST_PASS;
out:
	return;
}

/*
 * A debug file with compressed DWARF is written out inflated once: DWARF
 * closed while idle or for the memory limit reopens from that copy (not
 * inflated again) with the same names, and with inflating off the names
 * are the same too.
 */
static void test_inflated_debug(struct test *t)
{
	/* the fixtures' folder is on the disk the tests run from (not tmpfs) */
	struct symbolizer_opts o = { .inflate_dir = t->dir };
	struct symbolizer *sym = NULL;
	struct symbolizer_stats st;
	int i;

	sym = symbolizer__new_opts(&o);
	CHECK(sym, "symbolizer__new_opts: %s", strerror(errno));
	expect_zbasic(t, sym, "basic_leaf");
	CHECK(t->status == TEST_PASS, "%s", t->reason);
	symbolizer__stats(sym, &st);
	CHECK(st.debug_inflated == 1 && st.debug_inflated_bytes > 0 && !st.debug_inflate_failed,
	      "%" PRIu64 " inflated (%" PRIu64 " bytes), %" PRIu64 " failed", st.debug_inflated,
	      st.debug_inflated_bytes, st.debug_inflate_failed);
	for (i = 0; i < DWARF_IDLE_TRIMS; i++)
		symbolizer__trim(sym, 32);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_files == 0, "%" PRIu64 " DWARF files open after %d idle trims",
	      st.dwarf_files, DWARF_IDLE_TRIMS);
	expect_zbasic(t, sym, "basic_mid");
	CHECK(t->status == TEST_PASS, "after reopening: %s", t->reason);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_reopened == 1 && st.debug_inflated == 1, "%" PRIu64 " reopened, %" PRIu64
	      " inflated", st.dwarf_reopened, st.debug_inflated);
	/* over a memory limit: DWARF goes, the copy (on disk) stays for the next miss */
	symbolizer__shrink(sym, true);
	expect_zbasic(t, sym, "basic_leaf");
	CHECK(t->status == TEST_PASS, "after shrinking: %s", t->reason);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_reopened == 2 && st.debug_inflated == 1 && st.debug_inflated_bytes > 0,
	      "%" PRIu64 " reopened, %" PRIu64 " inflated after shrinking", st.dwarf_reopened,
	      st.debug_inflated);
	symbolizer__free(sym);

	o.inflate_dir = "";
	sym = symbolizer__new_opts(&o);
	CHECK(sym, "symbolizer__new_opts: %s", strerror(errno));
	expect_zbasic(t, sym, "basic_mid");
	CHECK(t->status == TEST_PASS, "inflating off: %s", t->reason);
	symbolizer__stats(sym, &st);
	CHECK(st.debug_inflated == 0, "%" PRIu64 " inflated with inflating off", st.debug_inflated);
out:
	symbolizer__free(sym);
}

/* Whether frames @a and @b (@n each) say the same, writing how not into @why. */
static bool frames_differ(const struct frame *a, const struct frame *b, int n, char *why,
			  size_t len)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(a[i].name, b[i].name) || a[i].line != b[i].line ||
		    a[i].flags != b[i].flags || !a[i].file != !b[i].file ||
		    (a[i].file && strcmp(a[i].file, b[i].file))) {
			snprintf(why, len, "frame %d: %s %s:%d, fresh %s %s:%d", i, a[i].name,
				 a[i].file ? a[i].file : "-", a[i].line, b[i].name,
				 b[i].file ? b[i].file : "-", b[i].line);
			return true;
		}
	return false;
}

/*
 * DWARF that reopens cheaply is closed and reopened once it has named
 * from sym->recycle_units compilation units, to drop libdw's line tables;
 * new addresses in units already read recycle nothing.  Every byte of a
 * program's code is named by a symbolizer that recycles at every unit
 * (a threshold of 0), one that never gets there (the default: basic_pie
 * has one unit) and a fresh one, and the names must agree.
 */
static void test_dwarf_recycled(struct test *t)
{
	/* every byte from _start to the end of main: crt code, padding, basic.c */
	static const char *const funcs[] = { "_start", "main" };
	struct symbolizer *sym = symbolizer__new(), *held = symbolizer__new(), *fresh = NULL;
	struct symbolizer_stats st, st_held;
	const struct frame *f, *g, *h;
	uint64_t addr, start, end, size;
	int n, m, k, named = 0;
	char why[512];

	CHECK(sym && held, "symbolizer__new: %s", strerror(errno));
	sym->recycle_units = 0;
	CHECK(!elf_symbol(fixture(t, 1, "basic_pie"), funcs[0], &start, &size), "no _start");
	CHECK(!elf_symbol(fixture(t, 1, "basic_pie"), funcs[1], &end, &size), "no main");
	for (addr = start; addr < end + size; addr++) {
		n = symbolizer__elf(sym, fixture(t, 0, "basic_pie"), addr, &f);
		k = symbolizer__elf(held, fixture(t, 0, "basic_pie"), addr, &h);
		fresh = symbolizer__new();
		CHECK(fresh, "symbolizer__new: %s", strerror(errno));
		m = symbolizer__elf(fresh, fixture(t, 0, "basic_pie"), addr, &g);
		CHECK(n == m && k == m && n >= 1, "%#" PRIx64 ": %d frames, %d held, fresh %d",
		      addr, n, k, m);
		CHECK(!frames_differ(f, g, n, why, sizeof(why)), "%#" PRIx64 ": %s", addr, why);
		CHECK(!frames_differ(h, g, n, why, sizeof(why)), "%#" PRIx64 " held: %s", addr, why);
		symbolizer__free(fresh);
		fresh = NULL;
		named += !(f[0].flags & FRAME_F_UNKNOWN);
	}
	symbolizer__stats(sym, &st);
	symbolizer__stats(held, &st_held);
	CHECK(named > 128 && st.dwarf_recycled >= (uint64_t)named / 2,
	      "%d addresses named, %" PRIu64 " recycled", named, st.dwarf_recycled);
	CHECK(st_held.dwarf_recycled == 0, "one unit read: %" PRIu64 " recycled",
	      st_held.dwarf_recycled);
out:
	symbolizer__free(fresh);
	symbolizer__free(held);
	symbolizer__free(sym);
}

const struct test_case symbolizer_mem_tests[] = {
	{ "symbolizer_inflated_debug", test_inflated_debug },
	{ "symbolizer_dwarf_recycled", test_dwarf_recycled },
	{ NULL, NULL },
};
