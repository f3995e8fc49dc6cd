// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * elfimage.c - what is checked before an untrusted ELF file is used: its
 * headers, segments and section table lie inside the file, and the key it
 * is shared by (build id, tied to the file unless root owns it).
 */
#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <elfutils/libdwelf.h>
#include "internal.h"

/*
 * Build id when the file has one, so copies and containers share an entry
 * ("b:HEX").  A build id is only a claim, and any user can plant a file
 * claiming libc's: only files that root owns and no one else may write
 * share by it; any other file's key names the file too ("b:HEX@DEV:INO"),
 * so its names stay its own.
 */
int elf_image__key(Elf *e, const struct stat *st, char *buf, size_t len)
{
	const unsigned char *id = NULL;
	ssize_t n = e ? dwelf_elf_gnu_build_id(e, (const void **)&id) : -1;
	size_t i, pos;

	if (n <= 0 || (size_t)n * 2 + 48 > len)
		return snprintf(buf, len, "i:%ju:%ju", (uintmax_t)st->st_dev,
				(uintmax_t)st->st_ino) < 0 ? -EINVAL : 0;
	pos = snprintf(buf, len, "b:");
	for (i = 0; i < (size_t)n; i++)
		pos += snprintf(buf + pos, len - pos, "%02x", id[i]);
	if (st->st_uid != 0 || (st->st_mode & (S_IWGRP | S_IWOTH)))
		snprintf(buf + pos, len - pos, "@%ju:%ju", (uintmax_t)st->st_dev,
			 (uintmax_t)st->st_ino);
	return 0;
}

size_t elf_key__hex_len(const char *hex)
{
	return strcspn(hex, "@");
}

static bool in_file(uint64_t off, uint64_t len, off_t size)
{
	return off <= (uint64_t)size && len <= (uint64_t)size - off;
}

static int read_loads(Elf *e, off_t size, struct elf_load **out, size_t *nout)
{
	struct elf_load *loads;
	GElf_Phdr ph;
	size_t i, n;

	if (elf_getphdrnum(e, &n))
		return -EINVAL;
	loads = *out = calloc(n ? n : 1, sizeof(*loads));
	if (!loads)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!gelf_getphdr(e, i, &ph))
			return -EINVAL;
		if (ph.p_type != PT_LOAD)
			continue;
		if (!in_file(ph.p_offset, ph.p_filesz, size))
			return -EINVAL;
		loads[*nout].off = ph.p_offset;
		loads[*nout].filesz = ph.p_filesz;
		loads[(*nout)++].vaddr = ph.p_vaddr;
	}
	return *nout ? 0 : -EINVAL;
}

/*
 * Rejects a truncated or corrupt section table up front, since libelf
 * and libdw only find out lazily; notes whether DWARF should be there.
 */
static int check_sections(Elf *e, off_t size, bool *has_debug_info)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;
	const char *name;

	if (elf_getshdrstrndx(e, &shstrndx))
		return -EINVAL;
	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return -EINVAL;
		if (sh.sh_type != SHT_NOBITS && !in_file(sh.sh_offset, sh.sh_size, size))
			return -EINVAL;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (name && (!strcmp(name, ".debug_info") || !strcmp(name, ".zdebug_info")))
			*has_debug_info = true;
	}
	return 0;
}

int elf_image__check(Elf *e, off_t size, struct elf_load **loads, size_t *nloads,
		     bool *has_debug_info)
{
	GElf_Ehdr eh;
	int err;

	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh))
		return -EINVAL;
	/* libelf silently hides a section table cut off by truncation. */
	if (eh.e_shoff && !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * eh.e_shentsize, size))
		return -EINVAL;
	if (!in_file(eh.e_phoff, (uint64_t)eh.e_phnum * eh.e_phentsize, size))
		return -EINVAL;
	err = read_loads(e, size, loads, nloads);
	return err ? err : check_sections(e, size, has_debug_info);
}
