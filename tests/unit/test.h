/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * test.h - a tiny unit-test harness.  A test is a function taking
 * `struct test *t`, with one `out:` label where it releases what it took;
 * CHECK() and SKIP() record the outcome and jump there.  main.c prints one
 * line per test: "PASS name", "FAIL name: reason" or "SKIP name: reason".
 */
#ifndef EMBER_TEST_H
#define EMBER_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum test_status { TEST_PASS, TEST_FAIL, TEST_SKIP };

struct test {
	const char *dir;	/* fixtures directory */
	enum test_status status;
	char reason[512];
};

void test__set(struct test *t, enum test_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fails the test (once: the first failure is kept) and jumps to out. */
#define CHECK(cond, fmt, ...)							\
	do {									\
		if (!(cond)) {							\
			test__set(t, TEST_FAIL, "%s:%d: " fmt, __FILE__,	\
				  __LINE__, ##__VA_ARGS__);			\
			goto out;						\
		}								\
	} while (0)

#define SKIP(fmt, ...)								\
	do {									\
		test__set(t, TEST_SKIP, fmt, ##__VA_ARGS__);			\
		goto out;							\
	} while (0)

struct test_case {
	const char *name;
	void (*fn)(struct test *t);
};

/* Each test file exports its table, ended by a { NULL, NULL } entry. */
extern const struct test_case symbolizer_tests[];
extern const struct test_case symbolizer_proc_tests[];
extern const struct test_case symbolizer_mem_tests[];
extern const struct test_case names_tests[];
extern const struct test_case clock_tests[];
extern const struct test_case push_tests[];
extern const struct test_case python_tests[];
extern const struct test_case kallsyms_tests[];
extern const struct test_case unwinder_tests[];
extern const struct test_case procmaps_tests[];

/* test_util.c: fixture helpers, shared by the test files. */

/* "<fixtures dir>/<name>" in a static buffer per slot (0..3). */
const char *fixture(const struct test *t, int slot, const char *name);
/* Looks up @name in @path's .symtab; returns 0 or -errno. */
int elf_symbol(const char *path, const char *name, uint64_t *addr, uint64_t *size);
/* The 1-based line holding "LINE:<name>" in @path, or 0. */
int marker_line(const char *path, const char *name);
const char *base_name(const char *path);
/* File offset and size of section @name in @path; returns 0 or -errno. */
int elf_section(const char *path, const char *name, uint64_t *off, uint64_t *size);
/*
 * Returns true (and says why in @why) unless @f is named @name, in a file
 * whose basename is @file (NULL: no file), at @line, with exactly @flags.
 */
struct frame;
bool frame_differs(const struct frame *f, const char *name, const char *file,
		   uint32_t line, uint32_t flags, char *why, size_t len);
/* Copies at most @max bytes of @src to @dst; returns 0 or -errno. */
int copy_file(const char *src, const char *dst, size_t max);
/*
 * Starts @path, reads its first stdout line into @line, and leaves it
 * running; returns the pid or -errno.  child_reap() kills and reaps it.
 */
pid_t child_start(const char *path, char *line, size_t len);
void child_reap(pid_t pid);
/* The build id of @path as hex, read by readelf (independent of the symbolizer); 0 or -errno. */
int readelf_build_id(const char *path, char *out, size_t len);

#endif /* EMBER_TEST_H */
