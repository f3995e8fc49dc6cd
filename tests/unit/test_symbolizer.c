// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_symbolizer.c - symbolizer tests on ELF files and the kernel: names,
 * file:line, inline chains, separate debug files, unknown fallbacks and
 * broken files.  Expected addresses come from the fixtures' own symbol
 * tables and expected lines from LINE markers in their sources.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "symbolizer.h"
#include "test.h"
#include "../../symbolizer/internal.h"

/* Checks that each of @funcs (symbols of @symfile) names itself in @bin. */
static void check_funcs(struct test *t, const char *bin, const char *symfile, const char *src,
			const char *const *funcs)
{
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	const struct frame *f;
	uint64_t addr, size;
	char why[512];
	int n, line;

	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	for (; *funcs; funcs++) {
		CHECK(!elf_symbol(fixture(t, 1, symfile), *funcs, &addr, &size),
		      "no symbol %s in %s", *funcs, symfile);
		line = marker_line(fixture(t, 2, src), *funcs);
		CHECK(line > 0, "no LINE:%s marker in %s", *funcs, src);
		n = symbolizer__elf(sym, fixture(t, 0, bin), addr, &f);
		CHECK(n == 1, "%s at %#" PRIx64 ": %d frames", *funcs, addr, n);
		CHECK(!frame_differs(f, *funcs, src, line, 0, why, sizeof(why)), "%s", why);
		CHECK(f->module && !strcmp(f->module, bin), "module %s", f->module);
		n = symbolizer__elf(sym, fixture(t, 0, bin), addr + size / 2, &f);
		CHECK(n >= 1 && !strcmp(f[n - 1].name, *funcs), "%s+%#" PRIx64 " is %s", *funcs,
		      size / 2, n >= 1 ? f[n - 1].name : "nothing");
	}
	symbolizer__stats(sym, &st);
	CHECK(!st.elf_errors && !st.unknown_frames, "%" PRIu64 " elf errors, %" PRIu64
	      " unknown frames", st.elf_errors, st.unknown_frames);
	CHECK(st.elf_files == 1, "%" PRIu64 " ELF files open", st.elf_files);
out:
	symbolizer__free(sym);
}

static const char *const basic_funcs[] = { "basic_leaf", "basic_mid", NULL };

static void test_elf_nopie(struct test *t)
{
	check_funcs(t, "basic_nopie", "basic_nopie", "basic.c", basic_funcs);
}

static void test_elf_pie(struct test *t)
{
	check_funcs(t, "basic_pie", "basic_pie", "basic.c", basic_funcs);
}

static void test_elf_shared_object(struct test *t)
{
	static const char *const funcs[] = { "lib_func", "lib_func_call", NULL };

	check_funcs(t, "libfix.so", "libfix.so", "libfix.c", funcs);
}

static void test_stripped_debuglink(struct test *t)
{
	uint64_t addr, size;

	CHECK(elf_symbol(fixture(t, 0, "basic_stripped"), "basic_leaf", &addr, &size) == -ENOENT,
	      "basic_stripped still has a symbol table");
	check_funcs(t, "basic_stripped", "basic_stripped.debug", "basic.c", basic_funcs);
out:
	return;
}

/* Every address of outer() that is inlined code must give the same chain. */
static void test_inline_chain(struct test *t)
{
	struct symbolizer *sym = symbolizer__new();
	const char *src = fixture(t, 1, "inline.c");
	int first = marker_line(src, "inl_first"), last = marker_line(src, "inl_last");
	int call = marker_line(src, "call_inl"), n, inlined = 0;
	const struct frame *f;
	uint64_t addr, size, a;
	char why[512];

	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	CHECK(first && last && call, "markers missing in inline.c");
	CHECK(!elf_symbol(fixture(t, 0, "inline_o2"), "outer", &addr, &size), "no outer");
	for (a = addr; a < addr + size; a++) {
		n = symbolizer__elf(sym, fixture(t, 0, "inline_o2"), a, &f);
		CHECK(n >= 1 && !strcmp(f[n - 1].name, "outer"), "%#" PRIx64 ": %s", a,
		      n >= 1 ? f[n - 1].name : "no frame");
		if (n == 1)
			continue;
		CHECK(n == 2, "%#" PRIx64 ": %d frames", a, n);
		CHECK(!strcmp(f[0].name, "inl_work") && f[0].flags == FRAME_F_INLINE &&
		      f[0].line >= (uint32_t)first && f[0].line <= (uint32_t)last &&
		      !strcmp(base_name(f[0].file), "inline.c"),
		      "%#" PRIx64 ": inner %s:%u flags %#x", a, f[0].name, f[0].line, f[0].flags);
		CHECK(!frame_differs(&f[1], "outer", "inline.c", call, 0, why, sizeof(why)),
		      "%#" PRIx64 ": caller %s", a, why);
		inlined++;
	}
	CHECK(inlined, "no inlined address in outer()");
out:
	symbolizer__free(sym);
}

/* A stripped copy without its debug file: no name, so "module+0xvaddr". */
static void test_unknown_fallback(struct test *t)
{
	char dir[] = "/tmp/ember-test-XXXXXX", path[64], want[96], why[512];
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	const struct frame *f;
	uint64_t addr, size;
	int n;

	CHECK(sym && mkdtemp(dir), "setup: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/lonely", dir);
	CHECK(!copy_file(fixture(t, 0, "basic_stripped"), path, SIZE_MAX), "copy failed");
	CHECK(!elf_symbol(fixture(t, 0, "basic_stripped.debug"), "basic_leaf", &addr, &size),
	      "no basic_leaf");
	snprintf(want, sizeof(want), "lonely+0x%" PRIx64, addr);
	n = symbolizer__elf(sym, path, addr, &f);
	CHECK(n == 1, "%d frames", n);
	CHECK(!frame_differs(f, want, NULL, 0, FRAME_F_UNKNOWN, why, sizeof(why)), "%s", why);
	CHECK(!strcmp(f->module, "lonely"), "module %s", f->module);
	n = symbolizer__elf(sym, path, addr, &f);
	symbolizer__stats(sym, &st);
	CHECK(n == 1 && !strcmp(f->name, want), "second lookup differs");
	CHECK(st.unknown_frames == 2 && st.cache_hits == 1 && st.cache_misses == 1 &&
	      !st.elf_errors, "stats: unknown %" PRIu64 " hits %" PRIu64 " misses %" PRIu64
	      " errors %" PRIu64, st.unknown_frames, st.cache_hits, st.cache_misses,
	      st.elf_errors);
out:
	unlink(path);
	rmdir(dir);
	symbolizer__free(sym);
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len)
		err = -EIO;
	close(fd);
	return err;
}

/* Looks @addr up in @path and expects one "name+0xaddr" unknown frame. */
static int expect_unknown(struct symbolizer *sym, const char *path, uint64_t addr,
			  char *why, size_t len)
{
	const struct frame *f;
	char want[128];
	int n = symbolizer__elf(sym, path, addr, &f);

	snprintf(want, sizeof(want), "%s+0x%" PRIx64, base_name(path), addr);
	if (n != 1) {
		snprintf(why, len, "%s: %d frames", path, n);
		return -1;
	}
	return frame_differs(f, want, NULL, 0, FRAME_F_UNKNOWN, why, len) ? -1 : 0;
}

static void test_broken_elf(struct test *t)
{
	char dir[] = "/tmp/ember-test-XXXXXX", trunc[64], tiny[64], junk[64], why[512];
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	uint64_t addr, size;
	struct stat sb;

	trunc[0] = tiny[0] = junk[0] = '\0';
	CHECK(sym && mkdtemp(dir), "setup: %s", strerror(errno));
	CHECK(!stat(fixture(t, 0, "basic_nopie"), &sb), "no basic_nopie");
	CHECK(!elf_symbol(fixture(t, 0, "basic_nopie"), "basic_leaf", &addr, &size), "no sym");
	snprintf(trunc, sizeof(trunc), "%s/trunc", dir);
	snprintf(tiny, sizeof(tiny), "%s/tiny", dir);
	snprintf(junk, sizeof(junk), "%s/junk", dir);
	CHECK(!copy_file(fixture(t, 0, "basic_nopie"), trunc, sb.st_size / 2) &&
	      !copy_file(fixture(t, 0, "basic_nopie"), tiny, 70) &&
	      !write_file(junk, "not an ELF file\n", 16), "writing broken files failed");
	CHECK(!expect_unknown(sym, trunc, addr, why, sizeof(why)), "%s", why);
	CHECK(!expect_unknown(sym, trunc, addr + 1, why, sizeof(why)), "%s", why);
	CHECK(!expect_unknown(sym, tiny, addr, why, sizeof(why)), "%s", why);
	CHECK(!expect_unknown(sym, junk, addr, why, sizeof(why)), "%s", why);
	symbolizer__stats(sym, &st);
	CHECK(st.elf_errors == 3, "%" PRIu64 " elf errors, want 3", st.elf_errors);
out:
	unlink(trunc);
	unlink(tiny);
	unlink(junk);
	rmdir(dir);
	symbolizer__free(sym);
}

/* Garbage DWARF must not crash; the symbol table still names the function. */
static void test_corrupt_dwarf(struct test *t)
{
	char dir[] = "/tmp/ember-test-XXXXXX", path[64], junk[4096];
	struct symbolizer *sym = symbolizer__new();
	const struct frame *f;
	uint64_t addr, size, off, len;
	int fd = -1, n;

	path[0] = '\0';
	CHECK(sym && mkdtemp(dir), "setup: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/baddwarf", dir);
	CHECK(!copy_file(fixture(t, 0, "basic_nopie"), path, SIZE_MAX), "copy failed");
	CHECK(!elf_symbol(path, "basic_leaf", &addr, &size), "no basic_leaf");
	CHECK(!elf_section(path, ".debug_info", &off, &len), "no .debug_info");
	memset(junk, 0xff, sizeof(junk));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0 && pwrite(fd, junk, len < sizeof(junk) ? len : sizeof(junk), off) > 0,
	      "corrupting failed");
	n = symbolizer__elf(sym, path, addr, &f);
	CHECK(n >= 1 && !strcmp(f[n - 1].name, "basic_leaf"), "got %s",
	      n >= 1 ? f[n - 1].name : "no frame");
out:
	if (fd >= 0)
		close(fd);
	unlink(path);
	rmdir(dir);
	symbolizer__free(sym);
}

/* Address of text symbol @name in /proc/kallsyms, 0 when hidden or absent. */
static uint64_t kallsyms_addr(const char *name)
{
	unsigned long long addr, found = 0;
	char type, sname[256], line[512];
	FILE *f = fopen("/proc/kallsyms", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, sname) == 3 &&
		    (type == 'T' || type == 't') && !strcmp(sname, name))
			found = addr;
	}
	if (f)
		fclose(f);
	return found;
}

static void test_kernel(struct test *t)
{
	uint64_t addr = kallsyms_addr("schedule");
	struct symbolizer *sym = NULL;
	const struct frame *f;
	char why[512];
	int n;

	if (!addr)
		SKIP("schedule not visible in /proc/kallsyms (unprivileged?)");
	sym = symbolizer__new();
	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	n = symbolizer__kernel(sym, addr + 1, false, &f);
	CHECK(n == 1 && !frame_differs(f, "schedule", NULL, 0, FRAME_F_KERNEL, why, sizeof(why)),
	      "%d frames: %s", n, why);
	CHECK(!strcmp(f->module, "vmlinux"), "module %s", f->module);
	n = symbolizer__kernel(sym, addr + 1, true, &f);
	CHECK(n == 1 && !strcmp(f->name, "schedule"), "return address: %s", f->name);
	n = symbolizer__kernel(sym, addr, true, &f);
	CHECK(n == 1 && strcmp(f->name, "schedule"), "pc-1 of schedule is still schedule");
out:
	symbolizer__free(sym);
}

static void test_kernel_unknown(struct test *t)
{
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	const struct frame *f;
	char why[512];
	int n;

	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	n = symbolizer__kernel(sym, 0x1234, false, &f);
	CHECK(n == 1 && !frame_differs(f, "[kernel]+0x1234", NULL, 0,
				       FRAME_F_UNKNOWN | FRAME_F_KERNEL, why, sizeof(why)),
	      "%d frames: %s", n, why);
	symbolizer__stats(sym, &st);
	CHECK(st.unknown_frames == 1, "%" PRIu64 " unknown frames", st.unknown_frames);
out:
	symbolizer__free(sym);
}

/* Names @func (a symbol of basic_pie) and checks the answer, file:line included. */
static void expect_basic(struct test *t, struct symbolizer *sym, const char *func)
{
	const struct frame *f;
	uint64_t addr, size;
	char why[512];
	int n, line = marker_line(fixture(t, 2, "basic.c"), func);

	CHECK(!elf_symbol(fixture(t, 1, "basic_pie"), func, &addr, &size), "no symbol %s", func);
	n = symbolizer__elf(sym, fixture(t, 0, "basic_pie"), addr, &f);
	CHECK(n == 1, "%s: %d frames", func, n);
	CHECK(!frame_differs(f, func, "basic.c", line, 0, why, sizeof(why)), "%s", why);
	t->status = TEST_PASS;
out:
	return;
}

/*
 * Memory bounds: DWARF that reopens without inflating is closed at the
 * trim after the drain that used it and reopened on the next miss, and past the budget of lookups every cached name is dropped;
 * either way the answers stay the same.
 */
static void test_idle_dwarf_and_flush(struct test *t)
{
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	const struct frame *f;
	int i;

	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	expect_basic(t, sym, "basic_leaf");
	CHECK(t->status == TEST_PASS, "%s", t->reason);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_files == 1, "%" PRIu64 " DWARF files open", st.dwarf_files);
	/* open while in use: a drain or a few without a miss keep it */
	for (i = 0; i + 1 < DWARF_IDLE_TRIMS; i++)
		symbolizer__trim(sym, 32);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_files == 1, "%" PRIu64 " DWARF files after %d idle trims", st.dwarf_files,
	      DWARF_IDLE_TRIMS - 1);
	symbolizer__trim(sym, 32);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_files == 0 && st.elf_files == 1, "after %d idle trims: %" PRIu64
	      " DWARF files, %" PRIu64 " ELF files", DWARF_IDLE_TRIMS, st.dwarf_files, st.elf_files);
	expect_basic(t, sym, "basic_leaf");	/* cached: no reopen */
	CHECK(t->status == TEST_PASS, "%s", t->reason);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_reopened == 0, "a cached address reopened DWARF");
	expect_basic(t, sym, "basic_mid");
	CHECK(t->status == TEST_PASS, "after reopening: %s", t->reason);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_reopened == 1 && st.dwarf_files == 1, "%" PRIu64 " reopened, %" PRIu64
	      " open", st.dwarf_reopened, st.dwarf_files);

	/* distinct unnamed addresses until the lookup budget is spent */
	for (i = 0; i < 60000; i++)
		CHECK(symbolizer__elf(sym, fixture(t, 0, "basic_pie"), (1ULL << 40) + i, &f) == 1,
		      "unknown address %d", i);
	symbolizer__trim(sym, 32);
	symbolizer__stats(sym, &st);
	CHECK(st.cache_flushes == 1, "%" PRIu64 " flushes after 60000 misses", st.cache_flushes);
	expect_basic(t, sym, "basic_leaf");
	CHECK(t->status == TEST_PASS, "after the flush: %s", t->reason);
	expect_basic(t, sym, "basic_mid");
	CHECK(t->status == TEST_PASS, "after the flush: %s", t->reason);

	/* over a memory limit: DWARF goes, cached names stay unless asked */
	symbolizer__shrink(sym, false);
	symbolizer__stats(sym, &st);
	CHECK(st.dwarf_files == 0, "%" PRIu64 " DWARF files after a shrink", st.dwarf_files);
	expect_basic(t, sym, "basic_mid");
	symbolizer__stats(sym, &st);
	/* the flush's trim left DWARF open (in use): no reopen since the first */
	CHECK(st.dwarf_reopened == 1 && st.dwarf_files == 0,
	      "a cached name needed DWARF after shrinking (%" PRIu64 " reopens)", st.dwarf_reopened);
	symbolizer__shrink(sym, true);
	expect_basic(t, sym, "basic_mid");
	symbolizer__stats(sym, &st);
	CHECK(st.cache_flushes == 2 && st.dwarf_reopened == 2, "%" PRIu64 " flushes, %" PRIu64
	      " reopens after shrinking the names", st.cache_flushes, st.dwarf_reopened);
out:
	symbolizer__free(sym);
}

/* Whether @f carries build id @want (NULL: none), saying what it has in @why. */
static bool build_id_differs(const struct frame *f, const char *want, char *why, size_t len)
{
	if (want ? f->build_id && !strcmp(f->build_id, want) : !f->build_id)
		return false;
	snprintf(why, len, "%s: build id %s, want %s", f->name,
		 f->build_id ? f->build_id : "none", want ? want : "none");
	return true;
}

/* Named, inlined and unnamed frames of a file carry its build id; a file without one, none. */
static void test_build_id(struct test *t)
{
	char dir[] = "/tmp/ember-test-XXXXXX", sub[64] = "", lonely[96] = "", junk[96] = "";
	char why[512];
	char id[160], sid[160];
	struct symbolizer *sym = symbolizer__new();
	const struct frame *f;
	uint64_t addr, size, a;
	int i, n;

	CHECK(sym && mkdtemp(dir), "setup: %s", strerror(errno));
	snprintf(sub, sizeof(sub), "%s/j", dir);
	snprintf(lonely, sizeof(lonely), "%s/lonely", dir);
	snprintf(junk, sizeof(junk), "%s/lonely", sub);
	CHECK(!readelf_build_id(fixture(t, 0, "inline_o2"), id, sizeof(id)), "no build id");
	CHECK(!elf_symbol(fixture(t, 0, "inline_o2"), "outer", &addr, &size), "no outer");
	for (a = addr; a < addr + size; a++) {
		n = symbolizer__elf(sym, fixture(t, 0, "inline_o2"), a, &f);
		for (i = 0; i < n; i++)
			CHECK(!build_id_differs(&f[i], id, why, sizeof(why)), "%#" PRIx64 ": %s", a,
			      why);
	}
	/* The same unknown name in a file with and one without a build id. */
	CHECK(!readelf_build_id(fixture(t, 0, "basic_stripped"), sid, sizeof(sid)), "no build id");
	CHECK(!elf_symbol(fixture(t, 0, "basic_stripped.debug"), "basic_leaf", &addr, &size),
	      "no basic_leaf");
	CHECK(!copy_file(fixture(t, 0, "basic_stripped"), lonely, SIZE_MAX) && !mkdir(sub, 0700) &&
	      !write_file(junk, "not an ELF file\n", 16), "writing the files failed");
	for (i = 0; i < 2; i++) {
		n = symbolizer__elf(sym, junk, addr, &f);
		CHECK(n == 1 && (f->flags & FRAME_F_UNKNOWN), "junk: %d frames", n);
		CHECK(!build_id_differs(f, NULL, why, sizeof(why)), "junk: %s", why);
		n = symbolizer__elf(sym, lonely, addr, &f);
		CHECK(n == 1 && (f->flags & FRAME_F_UNKNOWN), "lonely: %d frames", n);
		CHECK(!build_id_differs(f, sid, why, sizeof(why)), "lonely: %s", why);
	}
out:
	unlink(junk);
	rmdir(sub);
	unlink(lonely);
	rmdir(dir);
	symbolizer__free(sym);
}

/* Whether @hex is the hex form of some bytes of @path. */
static bool file_holds_hex(const char *path, const char *hex)
{
	char dump[2 * 4096 + 1] = "";
	unsigned char buf[4096];
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0, i;

	if (f)
		fclose(f);
	for (i = 0; i < n; i++)
		snprintf(dump + 2 * i, 3, "%02x", buf[i]);
	return strlen(hex) >= 32 && strlen(hex) % 2 == 0 && strstr(dump, hex) &&
	       (strstr(dump, hex) - dump) % 2 == 0;
}

/* vmlinux frames carry the running kernel's build id from /sys/kernel/notes. */
static void test_kernel_build_id(struct test *t)
{
	uint64_t addr = kallsyms_addr("schedule");
	struct symbolizer *sym = NULL;
	const struct frame *f;
	char why[512];
	int n;

	if (!addr)
		SKIP("schedule not visible in /proc/kallsyms (unprivileged?)");
	if (access("/sys/kernel/notes", R_OK))
		SKIP("/sys/kernel/notes: %s", strerror(errno));
	sym = symbolizer__new();
	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	n = symbolizer__kernel(sym, addr + 1, false, &f);
	CHECK(n == 1 && f->build_id, "%d frames, build id %s", n, n == 1 && f->build_id ?
	      f->build_id : "none");
	CHECK(file_holds_hex("/sys/kernel/notes", f->build_id), "%s is not in /sys/kernel/notes",
	      f->build_id);
	n = symbolizer__kernel(sym, 0x1234, false, &f);
	CHECK(n == 1 && !build_id_differs(f, NULL, why, sizeof(why)), "[kernel]: %s", why);
out:
	symbolizer__free(sym);
}

static void test_free_null(struct test *t)
{
	symbolizer__free(NULL);
	t->status = TEST_PASS;
}

const struct test_case symbolizer_tests[] = {
	{ "symbolizer_elf_nopie", test_elf_nopie },
	{ "symbolizer_elf_pie", test_elf_pie },
	{ "symbolizer_elf_shared_object", test_elf_shared_object },
	{ "symbolizer_stripped_debuglink", test_stripped_debuglink },
	{ "symbolizer_inline_chain", test_inline_chain },
	{ "symbolizer_unknown_fallback", test_unknown_fallback },
	{ "symbolizer_broken_elf", test_broken_elf },
	{ "symbolizer_corrupt_dwarf", test_corrupt_dwarf },
	{ "symbolizer_kernel", test_kernel },
	{ "symbolizer_kernel_unknown", test_kernel_unknown },
	{ "symbolizer_idle_dwarf_and_flush", test_idle_dwarf_and_flush },
	{ "symbolizer_build_id", test_build_id },
	{ "symbolizer_kernel_build_id", test_kernel_build_id },
	{ "symbolizer_free_null", test_free_null },
	{ NULL, NULL },
};
