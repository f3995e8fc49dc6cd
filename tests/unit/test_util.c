// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_util.c - helpers for the unit tests: fixture paths, symbol
 * addresses read straight from a fixture's .symtab (independently of the
 * symbolizer), LINE markers from fixture sources, and child processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "symbolizer.h"
#include "test.h"

const char *fixture(const struct test *t, int slot, const char *name)
{
	static char buf[4][4096];

	snprintf(buf[slot & 3], sizeof(buf[0]), "%s/%s", t->dir, name);
	return buf[slot & 3];
}

const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : path;
}

static int symtab_find(Elf *e, const char *name, uint64_t *addr, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	GElf_Sym s;
	Elf_Data *d;
	size_t i;

	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			const char *n;

			if (!gelf_getsym(d, i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC)
				continue;
			n = elf_strptr(e, sh.sh_link, s.st_name);
			if (n && !strcmp(n, name) && s.st_value) {
				*addr = s.st_value;
				*size = s.st_size;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int elf_symbol(const char *path, const char *name, uint64_t *addr, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = -EINVAL;
	Elf *e = NULL;

	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e)
		err = symtab_find(e, name, addr, size);
	elf_end(e);
	close(fd);
	return err;
}

static int section_find(Elf *e, const char *name, uint64_t *off, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;
	const char *n;

	if (elf_getshdrstrndx(e, &shstrndx))
		return -EINVAL;
	while ((scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(e, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name)) {
			*off = sh.sh_offset;
			*size = sh.sh_size;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_section(const char *path, const char *name, uint64_t *off, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = -EINVAL;
	Elf *e = NULL;

	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e)
		err = section_find(e, name, off, size);
	elf_end(e);
	close(fd);
	return err;
}

bool frame_differs(const struct frame *f, const char *name, const char *file,
		   uint32_t line, uint32_t flags, char *why, size_t len)
{
	const char *fb = base_name(f->file);

	snprintf(why, len, "got %s at %s:%u flags %#x, want %s at %s:%u flags %#x",
		 f->name ? f->name : "(null)", fb ? fb : "(null)", f->line, f->flags,
		 name, file ? file : "(null)", line, flags);
	if (!f->name || strcmp(f->name, name) || f->line != line || f->flags != flags)
		return true;
	if (!file || !fb)
		return file != fb;
	return strcmp(fb, file) != 0;
}

int marker_line(const char *path, const char *name)
{
	char want[128], buf[1024];
	int line = 0, found = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	snprintf(want, sizeof(want), "LINE:%s */", name);
	while (!found && fgets(buf, sizeof(buf), f)) {
		line++;
		found = strstr(buf, want) != NULL;
	}
	fclose(f);
	return found ? line : 0;
}

int copy_file(const char *src, const char *dst, size_t max)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, err = 0;
	char buf[8192];
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0) {
		err = -errno;
		goto out;
	}
	while (!err && max && (n = read(in, buf, max < sizeof(buf) ? max : sizeof(buf))) > 0) {
		if (write(out, buf, n) != n)
			err = -EIO;
		max -= n;
	}
out:
	close(in);
	if (out >= 0)
		close(out);
	return err;
}

static void child_exec(const char *path, int fds[2])
{
	close(fds[0]);
	if (dup2(fds[1], STDOUT_FILENO) >= 0)
		execl(path, path, (char *)NULL);
	_exit(127);
}

pid_t child_start(const char *path, char *line, size_t len)
{
	int fds[2];
	FILE *f;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		child_exec(path, fds);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -errno;
	}
	f = fdopen(fds[0], "r");
	if (!f || !fgets(line, len, f)) {
		if (f)
			fclose(f);
		else
			close(fds[0]);
		child_reap(pid);
		return -EIO;
	}
	fclose(f);
	return pid;
}

void child_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The build id of @path as hex, via the symbolizer-independent readelf. */
int readelf_build_id(const char *path, char *out, size_t len)
{
	char cmd[4200];
	FILE *p;
	int ok;

	snprintf(cmd, sizeof(cmd), "readelf -n '%s' | awk '/Build ID/ {print $3}'", path);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	ok = fgets(out, len, p) != NULL;
	pclose(p);
	if (!ok)
		return -ENOENT;
	out[strcspn(out, "\n")] = '\0';
	return *out ? 0 : -ENOENT;
}
