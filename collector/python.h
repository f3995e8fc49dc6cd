/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * python.h - finds CPython in sampled processes and hands the BPF walk
 * what it needs to follow their Python frames (struct py_proc); names the
 * frames it emitted through the symbolizer.
 */
#ifndef EMBER_COLLECTOR_PYTHON_H
#define EMBER_COLLECTOR_PYTHON_H

#include <stdbool.h>
#include <stdint.h>
#include "procmaps.h"
#include "symbolizer.h"

struct python;

struct python_stats {
	uint64_t procs;			/* CPython processes whose frames BPF walks */
	uint64_t unwalked;		/* CPython processes found where BPF cannot walk them */
	uint64_t not_cpython;		/* python-named files without the interpreter */
	uint64_t no_runtime;		/* python binaries without _PyRuntime (stripped) */
	uint64_t unsupported;		/* CPython versions without a layout entry */
	uint64_t tss_waits;		/* processes whose thread-state key was not set yet */
	uint64_t tss_late;		/* ... and got it on a retry */
	uint64_t errors;		/* ELF or memory reads that failed */
};

/*
 * @py_procs_fd is the BPF map of struct py_proc, or -1 when the loaded
 * program cannot walk Python frames (CPython is then only counted).
 * Returns NULL with errno set.
 */
struct python *python__new(int py_procs_fd);

/* NULL is a no-op. */
void python__free(struct python *py);

/*
 * Looks for CPython in @pm, a process's mappings (a python executable or a
 * loaded libpython, opened through proc_map__open(), refusals counted in
 * @open) and, when found, publishes its config to BPF.  A process already
 * known is left alone.  Returns 1 when it runs CPython, 0 when not, or
 * -errno.
 */
int python__add_process(struct python *py, const struct proc_maps *pm,
			struct proc_open_stats *open);

/* Whether the file at @path may hold CPython (a python executable or libpython). */
bool python__candidate(const char *path);

/* Withdraws @pid (after it exited). */
void python__remove_process(struct python *py, int pid);

/* Retries thread-state keys of interpreters still starting (cheap; call often). */
void python__tick(struct python *py);

/* When python__tick() next has work (mono_ms() clock); 0: never. */
uint64_t python__next_tick_ms(const struct python *py);

/* True when @pid is a CPython process whose frames may sit in its stacks. */
bool python__knows(struct python *py, int pid);

/*
 * Names the Python frame whose two stack words (see PY_FRAME_MARK) are
 * @w0 and @w1.  Returns the frame count (1) or -errno.
 */
int python__frame(struct python *py, struct symbolizer *sym, int pid, uint64_t w0, uint64_t w1,
		  const struct frame **frames);

void python__stats(const struct python *py, struct python_stats *st);

#endif /* EMBER_COLLECTOR_PYTHON_H */
