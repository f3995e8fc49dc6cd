// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* private.c - the agent's store files: readable by its user and group only, whatever the umask. */
#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "commands.h"
#include "log.h"

/* Sets @file's mode to @mode when the agent's user owns it and it differs. */
static void set_mode(const char *file, mode_t mode)
{
	struct stat st;

	if (stat(file, &st) || st.st_uid != geteuid() || (st.st_mode & 07777) == mode)
		return;
	if (chmod(file, mode))
		log_warn("cannot make '%s' %o: %s", file, mode, strerror(errno));
	else if (st.st_mode & 07)
		log_info("'%s' was readable by other users: now %o", file, mode);
}

/*
 * The store holds every process's stacks, which perf shows only to
 * privileged users: its directory is 0750 and its files 0640, for the
 * agent's user and group (ember's group in the Debian package), whatever
 * the umask; one made by an older ember is made so once it opens as a
 * store.  SQLite gives its -wal and -shm files the store's mode.
 */
void make_private(const char *path, bool opened)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char file[4096], *copy = strdup(path);
	unsigned int i;

	umask(027);
	if (!opened && copy && mkdir(dirname(copy), 0750) && errno != EEXIST)
		log_warn("cannot create the directory of '%s': %s", path, strerror(errno));
	if (opened && copy)
		set_mode(dirname(copy), 0750);
	free(copy);
	for (i = 0; opened && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
		set_mode(file, 0640);
	}
}
