// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * fuzz_elf.c - libFuzzer target over the symbolizer's ELF/DWARF path: the
 * input is any file a profiled process could map, so it goes into a memfd
 * and through what a mapping goes through (entry by build id, program
 * headers, section checks, libdwfl, symbol table, DWARF names, inline
 * chains, demangling), then a few addresses in and around every PT_LOAD
 * are named.  Bad files must be counted in elf_errors, never crash.
 */
#include <fcntl.h>
#include <gelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "internal.h"
#include "log.h"

/* Program header vaddrs of the input, read independently of elf.c. */
static size_t load_addrs(const uint8_t *data, size_t size, uint64_t *out, size_t max)
{
	Elf *e = elf_memory((char *)data, size);
	size_t i, n = 0, np;
	GElf_Phdr ph;

	if (!e)
		return 0;
	if (elf_getphdrnum(e, &np))
		np = 0;
	for (i = 0; i < np && i < 64 && n + 3 <= max; i++) {
		if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		out[n++] = ph.p_vaddr;
		out[n++] = ph.p_vaddr + ph.p_memsz / 2;
		out[n++] = ph.p_vaddr + ph.p_memsz + 1;
	}
	elf_end(e);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct symbolizer_opts opts = { .debuginfod_urls = "" };
	static struct symbolizer *sym;
	uint64_t addrs[64 + 4];
	struct elf_file *ef;
	struct frames *fr;
	size_t i, n;
	int fd;

	if (!sym) {
		log_set_level(LOG_ERROR);
		sym = symbolizer__new_opts(&opts);
		if (!sym)
			abort();
	}
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	/* elf_file__get() consumes fd; a fake path keeps debug-file searches off real files */
	ef = elf_file__get(sym, fd, "/nonexistent/ember-fuzz/input");
	if (ef) {
		n = load_addrs(data, size, addrs, 64);
		addrs[n++] = 0;
		addrs[n++] = 0x1000;
		addrs[n++] = UINT64_MAX;
		for (i = 0; i < n; i++) {
			fr = elf_file__lookup(sym, ef, addrs[i]);
			if (fr && (fr->n < 1 || !fr->f[fr->n - 1].name))
				abort();
		}
	}
	/* every input is a new file: nothing kept between runs */
	symbolizer__trim(sym, 0);
	return 0;
}
