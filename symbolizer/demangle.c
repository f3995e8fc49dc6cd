// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * demangle.c - readable names: C++ (Itanium) and Rust (legacy and v0)
 * through libiberty's demangler, the one binutils and gdb use, rather
 * than one of our own, and ELF symbol versions cut off.  Each raw name is
 * done once: the answer is kept by the raw name's interned pointer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/*
 * Where an ELF symbol version starts ("memcpy@GLIBC_2.2.5",
 * "__libc_start_main@@GLIBC_2.34"), or NULL.  perf and the other profilers
 * show names without it, and diffs between glibc builds line up so.
 */
static const char *version_at(const char *s)
{
	const char *at = strchr(s, '@');

	if (!at || at == s)
		return NULL;
	return at[1] && (at[1] != '@' || at[2]) && !strpbrk(at, " ()<>") ? at : NULL;
}

const char *symbolizer__demangle(struct symbolizer *sym, const char *name)
{
	bool mangled = sym->demangle && name && is_mangled(name);
	const char *done, *at = name ? version_at(name) : NULL;
	char *plain = NULL, *base = NULL;

	if (!mangled && !at)
		return name;
	done = hmap__get(&sym->demangled, (uintptr_t)name);
	if (done)
		return done;
	if (at && !(base = strndup(name, at - name))) {
		errno = ENOMEM;
		return NULL;
	}
	if (mangled)
		plain = cplus_demangle(base ? base : name, DEMANGLE_FLAGS);
	done = plain && *plain ? strpool__intern(&sym->names, plain) :
	       base ? strpool__intern(&sym->names, base) : name;
	free(plain);
	free(base);
	if (!done || hmap__put(&sym->demangled, (uintptr_t)name, (void *)done)) {
		errno = ENOMEM;
		return NULL;
	}
	return done;
}
