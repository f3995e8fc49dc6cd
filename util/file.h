/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * file.h - reading what belongs to untrusted local users (their binaries,
 * debug links, perf maps, their processes' memory): never block on them (a
 * FIFO waits for a writer forever), and never take more than is expected.
 */
#ifndef EMBER_FILE_H
#define EMBER_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Opens @path read-only without blocking, and keeps it only if it is a
 * regular file of at most @max_size bytes (0: any size); its stat goes to
 * @st unless NULL.  Returns the fd, or -errno: -EINVAL when it is no
 * regular file (a FIFO, a device, a directory), -EFBIG when it is larger.
 */
struct stat;
int file__open_regular(const char *path, uint64_t max_size, struct stat *st);

/*
 * Whether only root can change the file @st describes: owned by root, no
 * group or other write bit.  Only such a file may be mapped; a mapping of
 * a file its owner truncates faults (SIGBUS) on the next read past the new
 * end, so everything else is read (ELF_C_READ, pread) instead.
 */
bool file__root_only(const struct stat *st);

/*
 * Copies the regular file @fd, at most @max_size bytes, into a new memfd
 * that only the caller holds (sealed against shrinking), so it can be
 * handed to code that maps it.  Returns the memfd or -errno, -EFBIG when
 * @fd is larger.  A file cut short while it is copied gives a short copy.
 */
int file__copy_private(int fd, uint64_t max_size);

/*
 * Opens @path below the directory @rootfd as if @rootfd were "/": absolute
 * symlinks and ".." stay inside.  Same flags and checks as above.  With
 * @no_openat2, uses the fallback (no symlink followed at all), as on
 * kernels before 5.6.  Returns the fd, -ELOOP or -EXDEV when refused, or
 * -errno.
 */
int file__open_in_root(int rootfd, const char *path, bool no_openat2);

/*
 * Copies @len bytes at @addr of process @pid into @buf (process_vm_readv:
 * never blocks, faults come back as errors).  Returns 0, -EFAULT when only
 * part was readable, or -errno.
 */
int process__read_mem(int pid, uint64_t addr, void *buf, size_t len);

#endif /* EMBER_FILE_H */
