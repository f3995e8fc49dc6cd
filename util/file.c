// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * file.c - opens untrusted files without blocking and checks what they are
 * before anything is read: O_NONBLOCK makes opening a FIFO return at once,
 * and fstat() then turns it away; opens a path inside another process's
 * root without leaving it; tells files only root can change (safe to map)
 * from the rest, copies the rest where a mapping is unavoidable; reads
 * another process's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include "file.h"

#define OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

int file__open_regular(const char *path, uint64_t max_size, struct stat *st)
{
	struct stat tmp;
	int fd, err;

	if (!st)
		st = &tmp;
	fd = open(path, OPEN_FLAGS);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st))
		err = -errno;
	else if (!S_ISREG(st->st_mode))
		err = -EINVAL;
	else if (max_size && (uint64_t)st->st_size > max_size)
		err = -EFBIG;
	else
		return fd;
	close(fd);
	return err;
}

bool file__root_only(const struct stat *st)
{
	return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

int file__copy_private(int fd, uint64_t max_size)
{
	struct stat st;
	off_t off = 0;
	ssize_t n = 0;
	int mfd, err;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max_size)
		return -EFBIG;
	mfd = memfd_create("ember-copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	/* never more than the size seen: a file growing meanwhile is cut there */
	while (off < st.st_size && (n = sendfile(mfd, fd, &off, st.st_size - off)) > 0)
		;
	if (off < st.st_size && n < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		err = -errno;
		goto cleanup;
	}
	return mfd;
cleanup:
	close(mfd);
	return err;
}

/* Keeps @fd only if it is a regular file; closes it otherwise. */
static int keep_regular(int fd)
{
	struct stat st;
	int err;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st))
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	else
		return fd;
	close(fd);
	return err;
}

/*
 * Without openat2: one component at a time, following no symlink (absolute
 * or not) and no "..", so nothing can lead outside @rootfd.
 */
static int open_walk(int rootfd, const char *path)
{
	char buf[PATH_MAX], *comp, *next;
	int dfd, fd = -EINVAL;
	struct stat st;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	dfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	for (comp = buf; comp; comp = next) {
		next = strchr(comp, '/');
		if (next)
			*next++ = '\0';
		if (!*comp || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			fd = -EXDEV;
			break;
		}
		if (!next || !*next) {
			fd = openat(dfd, comp, OPEN_FLAGS | O_NOFOLLOW);
			fd = fd < 0 ? -errno : fd;
			break;
		}
		fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			fd = errno == ENOTDIR && !fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) &&
			     S_ISLNK(st.st_mode) ? -ELOOP : -errno;
			break;
		}
		close(dfd);
		dfd = fd;
		fd = -EINVAL;	/* a path ending in a directory */
	}
	close(dfd);
	return fd;
}

int file__open_in_root(int rootfd, const char *path, bool no_openat2)
{
	struct open_how how = {
		.flags = OPEN_FLAGS,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = -1;

	if (!no_openat2) {
		fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (fd < 0 && errno != ENOSYS)
			return -errno;
	}
	if (fd < 0)
		fd = open_walk(rootfd, path);
	return keep_regular(fd);
}

int process__read_mem(int pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}
