/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * file.h - opening files that belong to untrusted local users (their
 * binaries, debug links, perf maps): never block on them (a FIFO waits for
 * a writer forever), and never take more than is expected of them.
 */
#ifndef EMBER_FILE_H
#define EMBER_FILE_H

#include <stdint.h>

/*
 * Opens @path read-only without blocking, and keeps it only if it is a
 * regular file of at most @max_size bytes (0: any size); its stat goes to
 * @st unless NULL.  Returns the fd, or -errno: -EINVAL when it is no
 * regular file (a FIFO, a device, a directory), -EFBIG when it is larger.
 */
struct stat;
int file__open_regular(const char *path, uint64_t max_size, struct stat *st);

#endif /* EMBER_FILE_H */
