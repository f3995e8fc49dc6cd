/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * tests.h - helpers shared by the unwind test files: result lines, ELF
 * section lookup and the table invariants every built table must meet.
 */
#ifndef EMBER_TESTS_UNWIND_H
#define EMBER_TESTS_UNWIND_H

#include <stdint.h>
#include "unwind.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

struct sec {
	uint64_t addr, size, off;
};

/* Print "PASS @name", or "FAIL @name: ..." when @fmt is not NULL. */
void report(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Monotonic clock in milliseconds. */
double now_ms(void);

/* Section @name of the ELF at @path into *@out; 0 or -1. */
int section_of(const char *path, const char *name, struct sec *out);

/* NULL when @t is sorted, merged and INVALID-terminated, else why not. */
const char *check_sorted(const struct unwind_table *t);

/* Walk this process's own stack, plain and through a signal frame. */
void test_live(void);

/* Truncated and garbled copies of libc: errors, never crashes. */
void test_corrupt(void);

/* Builds past their row or time budget stop with a well-formed table. */
void test_budget(void);

#endif /* EMBER_TESTS_UNWIND_H */
