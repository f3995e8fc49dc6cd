// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * inflate.c - writes a debug file whose DWARF sections are compressed
 * (SHF_COMPRESSED: Debian's -dbg and -dbgsym packages, most of what
 * debuginfod serves) out once, inflated, to an unlinked file on disk.
 *
 * libdw inflates every compressed debug section into the heap each time
 * it opens a file: for libc6-dbg's libc that is ~11 MB and ~40 ms of zlib
 * at every reopen, and the symbolizer closes the DWARF of idle files to
 * bound its memory, so under process churn libc's was inflated again
 * every few seconds.  Inflated on disk, the file is mapped instead: its
 * pages are clean page cache, given back after each drain
 * (dwfl_file__pageout()), and a reopen costs no inflating.  The copy is
 * an O_TMPFILE, so it is gone when the last descriptor closes and never
 * left behind; never on tmpfs, where it would only move the memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "internal.h"

/*
 * Whether @e has a compressed section and, if so, whether all of them
 * inflate to at most @max_bytes together (sizes from the untrusted
 * headers; libelf checks each against what inflates).  0, -ENODATA when
 * nothing is compressed, -EFBIG or -EINVAL.
 */
static int inflated_size(Elf *e, uint64_t max_bytes)
{
	Elf_Scn *scn = NULL;
	uint64_t total = 0;
	bool any = false;
	GElf_Chdr ch;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return -EINVAL;
		if (!(sh.sh_flags & SHF_COMPRESSED))
			continue;
		if (!gelf_getchdr(scn, &ch))
			return -EINVAL;
		any = true;
		total += ch.ch_size;
		if (ch.ch_size > max_bytes || total > max_bytes)
			return -EFBIG;
	}
	return any ? 0 : -ENODATA;
}

/* Copies every section of @src (compressed ones inflated) and its headers into @dst. */
static int copy_elf(Elf *src, Elf *dst)
{
	Elf_Scn *scn = NULL, *out;
	Elf_Data *d, *nd;
	size_t i, nph, shstrndx;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	GElf_Shdr sh;

	if (!gelf_getehdr(src, &eh) || elf_getphdrnum(src, &nph) ||
	    elf_getshdrstrndx(src, &shstrndx) || shstrndx >= SHN_LORESERVE ||
	    !gelf_newehdr(dst, gelf_getclass(src)))
		return -EINVAL;
	eh.e_shstrndx = shstrndx;
	if (!gelf_update_ehdr(dst, &eh) || (nph && !gelf_newphdr(dst, nph)))
		return -EINVAL;
	for (i = 0; i < nph; i++)
		if (!gelf_getphdr(src, i, &ph) || !gelf_update_phdr(dst, i, &ph))
			return -EINVAL;
	while ((scn = elf_nextscn(src, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return -EINVAL;
		if ((sh.sh_flags & SHF_COMPRESSED) && elf_compress(scn, 0, 0) != 1)
			return -EINVAL;
		if (!gelf_getshdr(scn, &sh) || !(out = elf_newscn(dst)) ||
		    !gelf_update_shdr(out, &sh))
			return -EINVAL;
		/* the data stays the source's until elf_update() has written it */
		for (d = NULL; (d = elf_getdata(scn, d));) {
			nd = elf_newdata(out);
			if (!nd)
				return -ENOMEM;
			*nd = *d;
		}
	}
	return 0;
}

int debug_inflate(int fd, const char *dir, uint64_t max_bytes)
{
	Elf *src = NULL, *dst = NULL;
	struct statfs fs;
	int out = -1, err;

	src = elf_begin(fd, ELF_C_READ, NULL);
	if (!src || elf_kind(src) != ELF_K_ELF) {
		err = -EINVAL;
		goto out;
	}
	err = inflated_size(src, max_bytes);
	if (err)
		goto out;
	out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out < 0) {
		err = -errno;
		goto out;
	}
	if (fstatfs(out, &fs) || fs.f_type == TMPFS_MAGIC) {
		err = -EXDEV;
		goto out;
	}
	dst = elf_begin(out, ELF_C_WRITE, NULL);
	err = dst ? copy_elf(src, dst) : -ENOMEM;
	if (!err && elf_update(dst, ELF_C_WRITE) < 0)
		err = errno ? -errno : -EIO;
out:
	elf_end(dst);
	elf_end(src);
	if (err && out >= 0)
		close(out);
	return err ? err : out;
}

void dwfl_inflate__count(struct dwfl_inflate *inf, struct symbolizer_stats *st)
{
	if (!inf->tried || inf->counted)
		return;
	inf->counted = true;
	st->debug_inflated += inf->fd >= 0;
	st->debug_inflated_bytes += inf->fd >= 0 ? inf->bytes : 0;
	st->debug_inflate_failed += inf->fd < 0 && inf->err != -ENODATA;
}

void dwfl_inflate__drop(struct dwfl_inflate *inf, struct symbolizer_stats *st)
{
	if (inf->fd >= 0 && st && inf->counted)
		st->debug_inflated_bytes -= inf->bytes;
	if (inf->fd >= 0)
		close(inf->fd);
	inf->fd = -1;
	free(inf->name);
	inf->name = NULL;
}
