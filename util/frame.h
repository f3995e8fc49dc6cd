/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * frame.h - the one frame type: what the symbolizer names an address as,
 * what the store keeps, and what every exporter writes.
 */
#ifndef EMBER_FRAME_H
#define EMBER_FRAME_H

#include <stdint.h>

enum frame_flags {
	FRAME_F_KERNEL = 1 << 0,	/* a kernel frame */
	FRAME_F_INLINE = 1 << 1,	/* inlined into the next (outer) frame */
	FRAME_F_UNKNOWN = 1 << 2,	/* no name: name is "module+0xOFFSET" or "[unknown]" */
	FRAME_F_JIT = 1 << 3,		/* JIT code named by the process's perf map */
	FRAME_F_PYTHON = 1 << 4,	/* a CPython function: "qualname (file.py)", file and line */
};

/*
 * One frame.  Strings are owned by whoever hands the frame out (the
 * symbolizer until symbolizer__free(), the store until its query returns);
 * they are raw, untrusted bytes from ELF files (any byte but NUL).
 */
struct frame {
	const char *name;	/* never NULL */
	const char *module;	/* ELF basename, kernel module name or "vmlinux"; NULL when unknown */
	const char *build_id;	/* the module's GNU build id in lowercase hex, NULL when unknown */
	const char *file;	/* source file, NULL when unknown */
	uint32_t line;		/* 0 when unknown */
	uint32_t flags;		/* FRAME_F_* */
};

#endif /* EMBER_FRAME_H */
