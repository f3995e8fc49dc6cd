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
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <zlib.h>
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

/* Writes all @len bytes of @buf at @off of @fd; 0 or -errno. */
static int write_at(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/*
 * Inflates compressed section @scn of @src straight to @fd at @off, 64 KB
 * at a time: exactly @size bytes or -EINVAL (only zlib, which is all
 * libelf knows here too).
 */
static int inflate_section(Elf *src, Elf_Scn *scn, int fd, off_t off, uint64_t size)
{
	size_t hdr = gelf_getclass(src) == ELFCLASS32 ? sizeof(Elf32_Chdr) : sizeof(Elf64_Chdr);
	Elf_Data *raw = elf_rawdata(scn, NULL);
	unsigned char buf[65536];
	z_stream z = { 0 };
	uint64_t done = 0;
	int zr = Z_OK, err = 0;
	GElf_Chdr ch;
	size_t n;

	if (!raw || raw->d_size < hdr || raw->d_size - hdr > UINT_MAX || !gelf_getchdr(scn, &ch) ||
	    ch.ch_type != ELFCOMPRESS_ZLIB)
		return -EINVAL;
	if (inflateInit(&z) != Z_OK)
		return -ENOMEM;
	z.next_in = (unsigned char *)raw->d_buf + hdr;
	z.avail_in = raw->d_size - hdr;
	while (!err && zr != Z_STREAM_END) {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		zr = inflate(&z, Z_NO_FLUSH);
		n = sizeof(buf) - z.avail_out;
		if ((zr != Z_OK && zr != Z_STREAM_END) || n > size - done)
			err = -EINVAL;
		else
			err = write_at(fd, buf, n, off + done);
		done += n;
	}
	inflateEnd(&z);
	return err ? err : done == size ? 0 : -EINVAL;
}

/*
 * Writes @src with its compressed sections inflated to @fd through @dst:
 * libelf writes the headers of a layout made here, then each section's
 * contents go straight to the file, so no more than one compressed
 * section and 64 KB of inflated data are in memory at a time.
 */
static int write_elf(Elf *src, Elf *dst, int fd)
{
	Elf_Scn *scn = NULL, *out = NULL;
	size_t i, nph, shstrndx;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	GElf_Shdr sh;
	GElf_Chdr ch;
	uint64_t off, align;
	Elf_Data *raw;
	int err = 0;

	if (!gelf_getehdr(src, &eh) || elf_getphdrnum(src, &nph) ||
	    elf_getshdrstrndx(src, &shstrndx) || shstrndx >= SHN_LORESERVE ||
	    !gelf_newehdr(dst, gelf_getclass(src)) || (nph && !gelf_newphdr(dst, nph)))
		return -EINVAL;
	for (i = 0; i < nph; i++)
		if (!gelf_getphdr(src, i, &ph) || !gelf_update_phdr(dst, i, &ph))
			return -EINVAL;
	off = gelf_fsize(src, ELF_T_EHDR, 1, EV_CURRENT) + gelf_fsize(src, ELF_T_PHDR, nph, EV_CURRENT);
	while ((scn = elf_nextscn(src, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return -EINVAL;
		if (sh.sh_flags & SHF_COMPRESSED) {
			if (!gelf_getchdr(scn, &ch))
				return -EINVAL;
			sh.sh_size = ch.ch_size;
			sh.sh_addralign = ch.ch_addralign;
			sh.sh_flags &= ~(GElf_Xword)SHF_COMPRESSED;
		}
		align = sh.sh_addralign ? sh.sh_addralign : 1;
		if (align & (align - 1))
			return -EINVAL;
		off = (off + align - 1) & ~(align - 1);
		sh.sh_offset = off;
		if (sh.sh_type != SHT_NOBITS)
			off += sh.sh_size;
		if (!(out = elf_newscn(dst)) || !gelf_update_shdr(out, &sh))
			return -EINVAL;
	}
	eh.e_phoff = nph ? gelf_fsize(src, ELF_T_EHDR, 1, EV_CURRENT) : 0;
	eh.e_shoff = (off + 7) & ~7ULL;
	eh.e_shstrndx = shstrndx;
	if (!gelf_update_ehdr(dst, &eh) || !elf_flagelf(dst, ELF_C_SET, ELF_F_LAYOUT) ||
	    elf_update(dst, ELF_C_WRITE) < 0)
		return -EIO;
	for (scn = NULL, out = NULL; !err && (scn = elf_nextscn(src, scn));) {
		GElf_Shdr in;

		out = elf_nextscn(dst, out);
		if (!out || !gelf_getshdr(out, &sh) || !gelf_getshdr(scn, &in))
			return -EINVAL;
		if (sh.sh_type == SHT_NOBITS || !sh.sh_size)
			continue;
		if (in.sh_flags & SHF_COMPRESSED) {
			err = inflate_section(src, scn, fd, sh.sh_offset, sh.sh_size);
			continue;
		}
		raw = elf_rawdata(scn, NULL);
		err = raw && raw->d_size == sh.sh_size ?
		      write_at(fd, raw->d_buf, raw->d_size, sh.sh_offset) : -EINVAL;
	}
	return err;
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
	err = dst ? write_elf(src, dst, out) : -ENOMEM;
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
