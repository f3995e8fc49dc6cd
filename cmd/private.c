// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* private.c - the agent's store files: readable by its user and group only, whatever the umask. */
#include <dirent.h>
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
 * True when @dir holds nothing but @base's files (the store, its -wal,
 * -shm and -journal): a directory ember made, not one it shares.  Shared
 * ones (/tmp, /var, /) are never chmod-ed, whoever owns them.
 */
static bool holds_only_store(const char *dir, const char *base)
{
	size_t len = strlen(base);
	struct dirent *de;
	bool only = true;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return false;
	while (only && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		only = ++n <= 8 && !strncmp(de->d_name, base, len);
	}
	closedir(d);
	return only;
}

/*
 * The store holds every process's stacks, which perf shows only to
 * privileged users: its directory is 0750 and its files 0640, for the
 * agent's user and group (ember's group in the Debian package), whatever
 * the umask.  A store made by an older ember is made so once it opens, its
 * directory only when that holds nothing else and is not sticky.  SQLite
 * gives its -wal and -shm files the store's mode.
 */
void make_private(const char *path, bool opened)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char file[4096], *dir = strdup(path), *base = strdup(path);
	struct stat st;
	unsigned int i;

	umask(027);
	if (!dir || !base)
		goto cleanup;
	if (!opened && mkdir(dirname(dir), 0750) && errno != EEXIST)
		log_warn("cannot create the directory of '%s': %s", path, strerror(errno));
	if (opened && !stat(dirname(dir), &st) && !(st.st_mode & (S_ISVTX | S_IWOTH))) {
		if (holds_only_store(dir, basename(base)))
			set_mode(dir, 0750);
		else if (st.st_mode & 07)
			log_info("'%s' holds other files and is readable by other users: its mode is "
				 "left as it is (the store's files are 0640)", dir);
	}
	for (i = 0; opened && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
		set_mode(file, 0640);
	}
cleanup:
	free(dir);
	free(base);
}
