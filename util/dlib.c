// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* dlib.c - a library opened by SONAME at first use, its functions resolved (see dlib.h). */
#include <dlfcn.h>
#include <stdio.h>
#include "dlib.h"

void *dlib__open(const char *soname, const struct dlib_sym *syms, int n, char *why,
		 size_t why_len)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	const char *err;
	int i;

	if (!h) {
		err = dlerror();	/* names the library */
		snprintf(why, why_len, "%s", err ? err : soname);
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		dlerror();
		*syms[i].ptr = dlsym(h, syms[i].name);
		if (!*syms[i].ptr) {
			err = dlerror();	/* names the library and the symbol */
			if (err)
				snprintf(why, why_len, "%s", err);
			else
				snprintf(why, why_len, "%s: %s is NULL", soname, syms[i].name);
			dlclose(h);
			h = NULL;
			goto cleanup;
		}
	}
	return h;
cleanup:
	for (i = 0; i < n; i++)
		*syms[i].ptr = NULL;
	return NULL;
}

void dlib__close(void *handle)
{
	if (handle)
		dlclose(handle);
}
