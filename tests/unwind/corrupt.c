// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * corrupt.c - feeds truncated and garbled copies of libc to the table
 * builder, from memory and from files in /tmp: every build must return
 * -errno or a well-formed table, and never crash (run it under ASan too).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tests.h"

/* Read all of @path; NULL on failure. */
static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat sb;
	unsigned char *buf = NULL;
	int fd = open(path, O_RDONLY);

	if (fd >= 0 && fstat(fd, &sb) == 0 && (buf = malloc(sb.st_size)) &&
	    read(fd, buf, sb.st_size) != sb.st_size) {
		free(buf);
		buf = NULL;
	}
	*len = buf ? (size_t)sb.st_size : 0;
	if (fd >= 0)
		close(fd);
	return buf;
}

/* One corrupt image: must return 0 with a sane table or -errno. */
static const char *try_image(const unsigned char *img, size_t len, int *err)
{
	struct unwind_table *t = NULL;
	const char *why = NULL;

	*err = unwind_table__from_memory(img, len, &t);
	if (*err == 0)
		why = check_sorted(t);
	else if (*err < -4095 || *err > 0)
		why = "not a -errno";
	unwind_table__free(t);
	return why;
}

/* Truncate a copy of @path on disk at @len and build from the file. */
static int try_truncated_file(const unsigned char *img, size_t len)
{
	char path[] = "/tmp/ember-unwind-XXXXXX";
	struct unwind_table *t = NULL;
	int fd = mkstemp(path), err = -EIO;

	if (fd >= 0 && write(fd, img, len) == (ssize_t)len)
		err = unwind_table__build(path, &t);
	unwind_table__free(t);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	return err;
}

/* Garble @n bytes of @img inside [off, off + size). */
static void garble(unsigned char *img, uint64_t off, uint64_t size, int n,
		   unsigned *seed)
{
	while (size && n--)
		img[off + rand_r(seed) % size] ^= 1 + rand_r(seed) % 255;
}

/* .eh_frame_hdr made SHT_NOBITS: libelf gives it no bytes (d_buf NULL), whatever its size. */
static const char *try_nobits_hdr(const unsigned char *orig, unsigned char *img, size_t len,
				  const struct sec *hdr)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Shdr *sh;
	size_t i;
	int err;

	memcpy(img, orig, len);
	if (len < sizeof(*eh) || eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) > len)
		return "no section table";
	sh = (Elf64_Shdr *)(img + eh->e_shoff);
	for (i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_offset == hdr->off && sh[i].sh_addr == hdr->addr)
			break;
	if (i == eh->e_shnum)
		return "no .eh_frame_hdr section header";
	sh[i].sh_type = SHT_NOBITS;
	return try_image(img, len, &err);
}

void test_corrupt(void)
{
	size_t len, cuts[] = { 0, 1, 63, 64, 4096 }, i;
	unsigned char *orig = slurp(LIBC, &len), *img = malloc(len ? len : 1);
	struct sec hdr, eh;
	unsigned seed = 1;
	int err, ok = 0, failed = 0;
	const char *why = NULL;

	if (!orig || !img || section_of(LIBC, ".eh_frame_hdr", &hdr) ||
	    section_of(LIBC, ".eh_frame", &eh)) {
		printf("SKIP corrupt_input: cannot read %s\n", LIBC);
		goto out;
	}
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]) && !why; i++) {
		why = try_image(orig, cuts[i], &err);
		if (!why && err == 0)
			why = "tiny truncated image accepted";
	}
	if (!why && (try_truncated_file(orig, 100) >= 0 ||
		     try_truncated_file(orig, eh.off + eh.size / 2) >= 0))
		why = "truncated file accepted";
	for (i = 0; i < 120 && !why; i++) {
		memcpy(img, orig, len);
		if (i % 3 == 0)
			garble(img, hdr.off, hdr.size, 1 + i % 8, &seed);
		else if (i % 3 == 1)
			garble(img, eh.off, eh.size, 1 + i % 32, &seed);
		else
			garble(img, 0, 4096, 1 + i % 4, &seed);
		why = try_image(img, i % 5 ? len : len / 2 + i, &err);
		err ? failed++ : ok++;
	}
	printf("# bench corrupt builds ok %d failed %d\n", ok, failed);
	report("corrupt_input", why);
	report("corrupt_nobits_eh_frame_hdr", try_nobits_hdr(orig, img, len, &hdr));
out:
	free(orig);
	free(img);
}

