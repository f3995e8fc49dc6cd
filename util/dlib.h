/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * dlib.h - opens a shared library by its SONAME at first use and resolves
 * the functions a caller needs into its own table of typed pointers, so
 * that libraries only an optional feature wants (libcurl for --push,
 * libdebuginfod for fetching debug files) are not mapped into every run.
 */
#ifndef EMBER_DLIB_H
#define EMBER_DLIB_H

#include <stddef.h>

/* One function to resolve: its symbol name and where its address goes. */
struct dlib_sym {
	const char *name;
	void **ptr;
};

/*
 * dlopen()s @soname (RTLD_NOW | RTLD_LOCAL) and resolves @syms[0..n).
 * Returns the handle, or NULL with the reason ("SONAME: dlerror()") in
 * @why; the pointers are then all NULL.
 */
void *dlib__open(const char *soname, const struct dlib_sym *syms, int n, char *why,
		 size_t why_len);
/* Closes a handle from dlib__open(); NULL is a no-op. */
void dlib__close(void *handle);

#endif /* EMBER_DLIB_H */
