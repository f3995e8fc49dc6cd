// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * file.c - opens untrusted files without blocking and checks what they are
 * before anything is read: O_NONBLOCK makes opening a FIFO return at once,
 * and fstat() then turns it away; tells files only root can change (safe
 * to map) from the rest, copies the rest where a mapping is unavoidable;
 * reads another process's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include "file.h"

int file__open_regular(const char *path, uint64_t max_size, struct stat *st)
{
	struct stat tmp;
	int fd, err;

	if (!st)
		st = &tmp;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
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

int process__read_mem(int pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}
