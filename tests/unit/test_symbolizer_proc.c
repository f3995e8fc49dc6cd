// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_symbolizer_proc.c - symbolizer tests on live processes: load bias of
 * PIE, non-PIE and shared-object mappings, return addresses, anonymous and
 * unmapped addresses, symbolizing after the process exited and its
 * files were deleted, and snapshots built from mappings sent at exit.  The child fixture prints its own runtime addresses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sysmacros.h>
#include "symbolizer.h"
#include "test.h"

struct child_addrs {
	unsigned long func, lib_func, anon;
};

static void check_user(struct test *t, struct symbolizer *sym, pid_t pid, uint64_t addr,
		       bool is_return, const char *name, const char *file, int line,
		       uint32_t flags)
{
	const struct frame *f;
	char why[512];
	int n = symbolizer__user(sym, pid, addr, is_return, &f);

	CHECK(n == 1, "%s: %d frames", name, n);
	CHECK(!frame_differs(f, name, file, line, flags, why, sizeof(why)), "%s", why);
out:
	return;
}

/* Every kind of address the child has; @exe is the module name of its binary. */
static void check_child(struct test *t, struct symbolizer *sym, pid_t pid,
			const struct child_addrs *a, const char *exe)
{
	int fline = marker_line(fixture(t, 0, "child.c"), "child_func");
	int lline = marker_line(fixture(t, 0, "libfix.c"), "lib_func");
	const struct frame *f;
	int n;

	CHECK(fline && lline, "LINE markers missing");
	check_user(t, sym, pid, a->func, false, "child_func", "child.c", fline, 0);
	check_user(t, sym, pid, a->func + 1, true, "child_func", "child.c", fline, 0);
	check_user(t, sym, pid, a->lib_func, false, "lib_func", "libfix.c", lline, 0);
	check_user(t, sym, pid, 0x10, false, "[unknown]", NULL, 0, FRAME_F_UNKNOWN);
	if (a->anon && a->anon != (unsigned long)-1)
		check_user(t, sym, pid, a->anon + 0x10, false, "[anon]+0x10", NULL, 0,
			   FRAME_F_UNKNOWN);
	CHECK(t->status == TEST_PASS, "see above");
	n = symbolizer__user(sym, pid, a->func, false, &f);
	CHECK(n == 1 && !strcmp(f->module, exe), "module %s, want %s", f->module, exe);
	n = symbolizer__user(sym, pid, a->lib_func, false, &f);
	CHECK(n == 1 && !strcmp(f->module, "libfix.so"), "module %s", f->module);
out:
	return;
}

static pid_t start(struct test *t, const char *path, struct child_addrs *a)
{
	char line[256];
	pid_t pid = child_start(path, line, sizeof(line));

	if (pid < 0 || sscanf(line, "%lx %lx %lx", &a->func, &a->lib_func, &a->anon) != 3) {
		test__set(t, TEST_FAIL, "%s did not start: %s", path, strerror(pid < 0 ? -pid : EIO));
		child_reap(pid);
		return -1;
	}
	return pid;
}

/* Live, after exit (snapshot kept), then forgotten. */
static void check_process(struct test *t, const char *exe)
{
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	struct child_addrs a;
	pid_t pid = -1;
	int err;

	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	pid = start(t, fixture(t, 0, exe), &a);
	CHECK(pid > 0, "no child");
	err = symbolizer__add_process(sym, pid);
	CHECK(!err, "add_process: %s", strerror(-err));
	check_child(t, sym, pid, &a, exe);
	CHECK(t->status == TEST_PASS, "while alive");
	child_reap(pid);
	check_child(t, sym, pid, &a, exe);
	CHECK(t->status == TEST_PASS, "after exit");
	symbolizer__stats(sym, &st);
	CHECK(st.processes == 1 && st.cache_hits > 0, "processes %" PRIu64 " hits %" PRIu64,
	      st.processes, st.cache_hits);
	symbolizer__remove_process(sym, pid);
	check_user(t, sym, pid, a.func, false, "[unknown]", NULL, 0, FRAME_F_UNKNOWN);
	CHECK(symbolizer__add_process(sym, pid) == -ESRCH, "re-adding a dead pid");
out:
	child_reap(pid);
	symbolizer__free(sym);
}

static void test_process_pie(struct test *t)
{
	check_process(t, "child_pie");
}

static void test_process_nopie(struct test *t)
{
	check_process(t, "child_nopie");
}

/* The binary and its library are deleted and the process killed before any lookup. */
static void test_process_deleted(struct test *t)
{
	char dir[] = "/tmp/ember-test-XXXXXX", exe[64], lib[64];
	struct symbolizer *sym = symbolizer__new();
	struct child_addrs a;
	pid_t pid = -1;
	int err;

	exe[0] = lib[0] = '\0';
	CHECK(sym && mkdtemp(dir), "setup: %s", strerror(errno));
	snprintf(exe, sizeof(exe), "%s/child_gone", dir);
	snprintf(lib, sizeof(lib), "%s/libfix.so", dir);
	CHECK(!copy_file(fixture(t, 0, "child_pie"), exe, SIZE_MAX) &&
	      !copy_file(fixture(t, 0, "libfix.so"), lib, SIZE_MAX), "copy failed");
	pid = start(t, exe, &a);
	CHECK(pid > 0, "no child");
	err = symbolizer__add_process(sym, pid);
	CHECK(!err, "add_process: %s", strerror(-err));
	unlink(exe);
	unlink(lib);
	child_reap(pid);
	check_child(t, sym, pid, &a, "child_gone");
out:
	child_reap(pid);
	unlink(exe);
	unlink(lib);
	rmdir(dir);
	symbolizer__free(sym);
}

/* A pid that cannot exist (above PID_MAX_LIMIT) is never readable. */
static void test_unknown_pid(struct test *t)
{
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	pid_t pid = 0x7ffffff0;

	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	CHECK(symbolizer__add_process(sym, pid) == -ESRCH, "add_process of a missing pid");
	check_user(t, sym, pid, 0x401000, false, "[unknown]", NULL, 0, FRAME_F_UNKNOWN);
	check_user(t, sym, pid, 0x401000, true, "[unknown]", NULL, 0, FRAME_F_UNKNOWN);
	symbolizer__stats(sym, &st);
	CHECK(st.maps_errors >= 2 && st.unknown_frames == 2, "maps errors %" PRIu64
	      " unknown %" PRIu64, st.maps_errors, st.unknown_frames);
out:
	symbolizer__free(sym);
}

/* The executable file mappings of @pid, as the BPF side sends them at exit. */
static size_t read_vmas(pid_t pid, struct sym_vma *v, char (*names)[64], size_t max)
{
	unsigned long long start, end, off, ino;
	unsigned int maj, min;
	char path[64], perms[8], *line = NULL, *file, *slash;
	size_t cap = 0, n = 0;
	int pos;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (n < max && getline(&line, &cap, f) > 0) {
		pos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off,
			   &maj, &min, &ino, &pos) < 7 || !pos || !strchr(perms, 'x'))
			continue;
		file = line + pos;
		file[strcspn(file, "\n")] = '\0';
		if (*file != '/')
			continue;
		slash = strrchr(file, '/');
		snprintf(names[n], sizeof(names[n]), "%s", slash + 1);
		v[n] = (struct sym_vma){ .start = start, .end = end, .pgoff = off,
					 .dev = makedev(maj, min), .ino = ino, .name = names[n] };
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

/*
 * A process known only from the mappings sent at its exit: files already
 * open (through another process mapping them) give real names, others the
 * basename and an offset, and the pid is never read from /proc.
 */
static void test_process_vmas(struct test *t)
{
	struct symbolizer *sym = symbolizer__new();
	pid_t dead = 0x7ffffff1, pid = -1;
	struct symbolizer_stats st;
	struct sym_vma v[32];
	char names[32][64];
	struct child_addrs a;
	const struct frame *f;
	size_t n = 0;
	int err, fline, lline;

	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	pid = start(t, fixture(t, 0, "child_pie"), &a);
	CHECK(pid > 0, "no child");
	err = symbolizer__add_process(sym, pid);
	CHECK(!err, "add_process: %s", strerror(-err));
	n = read_vmas(pid, v, names, 31);
	CHECK(n >= 3, "%zu executable file mappings", n);
	/* a file no process has open, with a hostile name */
	snprintf(names[n], sizeof(names[n]), "we;ird\x01 name");
	v[n] = (struct sym_vma){ .start = 0x10000, .end = 0x11000, .pgoff = 0x2000,
				 .dev = makedev(250, 7), .ino = 12345, .name = names[n] };
	err = symbolizer__add_process_vmas(sym, dead, v, n + 1);
	CHECK(err == 1, "add_process_vmas: %d", err);
	fline = marker_line(fixture(t, 0, "child.c"), "child_func");
	lline = marker_line(fixture(t, 0, "libfix.c"), "lib_func");
	check_user(t, sym, dead, a.func, false, "child_func", "child.c", fline, 0);
	check_user(t, sym, dead, a.lib_func + 1, true, "lib_func", "libfix.c", lline, 0);
	check_user(t, sym, dead, 0x10010, false, "we;ird\x01 name+0x2010", NULL, 0,
		   FRAME_F_UNKNOWN);
	check_user(t, sym, dead, 0x10, false, "[unknown]", NULL, 0, FRAME_F_UNKNOWN);
	CHECK(t->status == TEST_PASS, "see above");
	err = symbolizer__user(sym, dead, a.func, false, &f);
	CHECK(err == 1 && !strcmp(f->module, "child_pie"), "module %s", f->module);
	symbolizer__stats(sym, &st);
	CHECK(st.vma_snapshots == 1 && st.vma_matched == n && st.vma_unmatched == 1 &&
	      st.maps_errors == 0, "snapshots %" PRIu64 " matched %" PRIu64 " unmatched %"
	      PRIu64 " maps errors %" PRIu64, st.vma_snapshots, st.vma_matched,
	      st.vma_unmatched, st.maps_errors);
	/* a fuller snapshot is not replaced by a smaller one */
	err = symbolizer__add_process_vmas(sym, dead, v, 1);
	CHECK(err == 0, "smaller snapshot applied: %d", err);
	/* a snapshot read from /proc is replaced only by a fuller one */
	err = symbolizer__add_process_vmas(sym, pid, v, n);
	CHECK(err == 0, "same-size snapshot applied over /proc: %d", err);
out:
	child_reap(pid);
	symbolizer__free(sym);
}

const struct test_case symbolizer_proc_tests[] = {
	{ "symbolizer_process_vmas", test_process_vmas },
	{ "symbolizer_process_pie", test_process_pie },
	{ "symbolizer_process_nopie", test_process_nopie },
	{ "symbolizer_process_deleted", test_process_deleted },
	{ "symbolizer_unknown_pid", test_unknown_pid },
	{ NULL, NULL },
};
