// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * notes.c - build ids of the running kernel and its modules, from the ELF
 * notes the kernel exports in sysfs (/sys/kernel/notes and
 * /sys/module/NAME/notes/.note.gnu.build-id), so a profile names the exact
 * vmlinux or .ko its kernel frames came from.  The notes are parsed with
 * every length checked against what was read, and only hex comes out.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

/* Notes past this many bytes are not looked at; the kernel's hold a few hundred. */
#define NOTES_MAX 4096

#define NOTE_ALIGN(n) (((n) + 3) & ~(size_t)3)

/* Reads up to @cap bytes of @path; returns the count or -errno. */
static ssize_t read_small(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += n;
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? n : (ssize_t)len;
}

/*
 * Finds the NT_GNU_BUILD_ID note named "GNU" in @len bytes of notes (4-byte
 * aligned, as the kernel's are) and writes its descriptor to @hex.
 * Returns 0, or -ENOENT when there is none usable.
 */
static int notes_build_id(const uint8_t *buf, size_t len, char *hex, size_t hexlen)
{
	size_t off = 0, name, desc, i;
	Elf64_Nhdr nh;	/* the same three words as Elf32_Nhdr */

	while (len - off >= sizeof(nh)) {
		memcpy(&nh, buf + off, sizeof(nh));
		name = off + sizeof(nh);
		if (NOTE_ALIGN((size_t)nh.n_namesz) > len - name)
			break;
		desc = name + NOTE_ALIGN((size_t)nh.n_namesz);
		if (NOTE_ALIGN((size_t)nh.n_descsz) > len - desc)
			break;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp(buf + name, "GNU", 4) && nh.n_descsz &&
		    nh.n_descsz <= SYM_BUILD_ID_MAX && nh.n_descsz * 2 < hexlen) {
			for (i = 0; i < nh.n_descsz; i++)
				snprintf(hex + 2 * i, 3, "%02x", buf[desc + i]);
			return 0;
		}
		off = desc + NOTE_ALIGN((size_t)nh.n_descsz);
	}
	return -ENOENT;
}

/* Kernel module names are plain words; anything else is not looked up in sysfs. */
static bool module_name_ok(const char *m)
{
	return *m && *m != '.' && !strchr(m, '/');
}

int kernel__build_id(const char *module, char *hex, size_t len)
{
	uint8_t buf[NOTES_MAX];
	char path[256];
	ssize_t n;

	if (!strcmp(module, "vmlinux"))
		snprintf(path, sizeof(path), "/sys/kernel/notes");
	else if (!module_name_ok(module) ||
		 snprintf(path, sizeof(path), "/sys/module/%s/notes/.note.gnu.build-id",
			  module) >= (int)sizeof(path))
		return -ENOENT;
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	return notes_build_id(buf, n, hex, len);
}
