// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * demangle.c - readable C++ (Itanium) and Rust (legacy and v0) names
 * through libiberty's demangler, the one binutils and gdb use, rather
 * than one of our own.  Each raw name is demangled once: the answer is
 * kept by the raw name's interned pointer.
 */
#include <errno.h>
#include <stdlib.h>
#include <libiberty/demangle.h>
#include "internal.h"

/*
 * DMGL_AUTO tries Rust, then C++: DMGL_RUST alone would turn every C++
 * name away, and legacy Rust names are valid C++ names too.
 */
#define DEMANGLE_FLAGS (DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO)

static bool is_mangled(const char *s)
{
	return (s[0] == '_' && (s[1] == 'Z' || s[1] == 'R')) ||
	       (s[0] == '_' && s[1] == '_' && s[2] == 'Z');
}

const char *symbolizer__demangle(struct symbolizer *sym, const char *name)
{
	const char *done;
	char *plain;

	if (!sym->demangle || !name || !is_mangled(name))
		return name;
	done = hmap__get(&sym->demangled, (uintptr_t)name);
	if (done)
		return done;
	plain = cplus_demangle(name, DEMANGLE_FLAGS);
	done = plain && *plain ? strpool__intern(&sym->names, plain) : name;
	free(plain);
	if (!done || hmap__put(&sym->demangled, (uintptr_t)name, (void *)done)) {
		errno = ENOMEM;
		return NULL;
	}
	return done;
}
