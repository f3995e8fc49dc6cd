// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_procmaps.c - reading mappings and opening mapped files the one way
 * (util/procmaps.c), and the collector's process registry, on real /proc
 * data: a path resolved inside a process root never follows an absolute
 * symlink to the host, the fallback for old kernels follows no symlink at
 * all, and a pid reused by a new process is not removed by the exit of the
 * process that had it before.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "file.h"
#include "procmaps.h"
#include "registry.h"
#include "test.h"

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int read_fd(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/*
 * root/ holds lib -> "<host>" (absolute) and its own <host>/f; <host>/f
 * outside holds other bytes.  Inside the root, lib/f is the root's file.
 */
static void test_open_in_root(struct test *t)
{
	char tmp[] = "/tmp/ember-root-XXXXXX", host[256], root[256], p[2048];
	char buf[64];
	int rfd = -1, fd = -1;

	CHECK(mkdtemp(tmp), "mkdtemp: %s", strerror(errno));
	snprintf(host, sizeof(host), "%s/host", tmp);
	snprintf(root, sizeof(root), "%s/root", tmp);
	CHECK(!mkdir(host, 0700) && !mkdir(root, 0700), "mkdir: %s", strerror(errno));
	snprintf(p, sizeof(p), "%s/f", host);
	CHECK(!write_file(p, "host"), "write %s", p);
	snprintf(p, sizeof(p), "mkdir -p '%s%s' && echo -n root > '%s%s/f' && ln -s '%s' '%s/lib' "
		 "&& mkfifo '%s/fifo'", root, host, root, host, host, root, root);
	CHECK(!system(p), "%s failed", p);
	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(rfd >= 0, "open %s: %s", root, strerror(errno));
	fd = file__open_in_root(rfd, "/lib/f", false);
	CHECK(fd >= 0, "openat2 /lib/f: %s", strerror(-fd));
	read_fd(fd, buf, sizeof(buf));
	CHECK(!strcmp(buf, "root"), "/lib/f inside the root read '%s'", buf);
	close(fd);
	fd = file__open_in_root(rfd, "/lib/f", true);
	CHECK(fd == -ELOOP, "the fallback followed a symlink: %d", fd);
	fd = file__open_in_root(rfd, "/../../host/f", true);
	CHECK(fd == -EXDEV, "the fallback took '..': %d", fd);
	snprintf(p, sizeof(p), "%s/f", host + 1);
	fd = file__open_in_root(rfd, p, true);
	CHECK(fd >= 0, "the fallback on a plain path: %s", strerror(-fd));
	read_fd(fd, buf, sizeof(buf));
	CHECK(!strcmp(buf, "root"), "%s read '%s'", p, buf);
	close(fd);
	fd = file__open_in_root(rfd, "/fifo", false);
	CHECK(fd == -EINVAL, "a FIFO: %d", fd);
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (rfd >= 0)
		close(rfd);
	snprintf(p, sizeof(p), "rm -rf '%s'", tmp);
	if (system(p))
		fprintf(stderr, "cannot remove %s\n", tmp);
}

/* Our own executable, in our own maps, opened through proc_map__open(). */
static void test_maps_self(struct test *t)
{
	struct proc_maps *pm = NULL, *none = NULL;
	char exe[PATH_MAX];
	struct stat st, fst;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t i;
	int err, fd = -1;

	CHECK(n > 0 && !stat("/proc/self/exe", &st), "readlink: %s", strerror(errno));
	exe[n] = '\0';
	err = proc_maps__read(getpid(), &pm);
	CHECK(!err, "proc_maps__read: %s", strerror(-err));
	for (i = 0; i < pm->n && strcmp(pm->maps[i].path, exe); i++)
		;
	CHECK(i < pm->n, "%s not among %zu executable mappings", exe, pm->n);
	CHECK(pm->maps[i].dev == st.st_dev && pm->maps[i].ino == st.st_ino, "dev/ino differ");
	fd = proc_map__open(getpid(), &pm->maps[i], NULL, NULL);
	CHECK(fd >= 0 && !fstat(fd, &fst) && fst.st_ino == st.st_ino, "open: %s", strerror(-fd));
	err = proc_maps__read(999999999, &none);
	CHECK(err == -ESRCH, "a missing pid: %d", err);
out:
	if (fd >= 0)
		close(fd);
	proc_maps__free(pm);
}

static pid_t sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

static void end(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The next fork gets @pid (root only: ns_last_pid); true if it could be set. */
static bool next_pid(pid_t pid)
{
	FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");

	if (!f)
		return false;
	fprintf(f, "%d", pid - 1);
	return !fclose(f);
}

/*
 * Process A has pid P and exits; B gets P before A's exit is applied.  The
 * exit noted for A must leave B in place; B's own exit removes it.
 */
static void test_registry_pid_reuse(struct test *t)
{
	struct registry *r = registry__new();
	const struct reg_proc *p;
	struct registry_stats st;
	pid_t a = -1, b = -1;
	uint64_t start_a;
	int tries;

	CHECK(r, "registry__new");
	for (tries = 0; tries < 50 && b < 0; tries++) {
		a = sleeper();
		CHECK(a > 0, "fork");
		p = registry__add(r, a, NULL, true);
		CHECK(p && p->start && p->maps && p->exe, "registry__add of a live child");
		/* the start time differs by at least a clock tick */
		usleep(20000);
		start_a = registry__start_of(r, a);	/* noted at A's exit */
		end(a);
		if (!next_pid(a))
			SKIP("cannot set ns_last_pid (not root?)");
		b = sleeper();
		if (b != a) {	/* another process took it first: try again */
			registry__remove(r, a, start_a);
			end(b);
			b = -1;
		}
	}
	CHECK(b > 0, "pid not reused in %d tries", tries);
	p = registry__add(r, b, NULL, true);	/* B announced before A's exit is applied */
	CHECK(p && p->start != start_a, "B has A's start time");
	CHECK(!registry__remove(r, a, start_a), "A's exit removed B");
	p = registry__find(r, b);
	CHECK(p && p->maps, "B is gone from the registry");
	registry__stats(r, &st);
	CHECK(st.reused == 1 && st.stale_exits == 1, "reused %llu, stale exits %llu",
	      (unsigned long long)st.reused, (unsigned long long)st.stale_exits);
	CHECK(registry__remove(r, b, p->start) && !registry__find(r, b), "B's own exit");
out:
	if (b > 0)
		end(b);
	registry__free(r);
}

/*
 * An executable is read from /proc/PID/exe once per exec'd path and file:
 * a second process with the same (device, inode, path) takes the first's,
 * while another path or another file is read again.
 */
static void test_registry_exe_cache(struct test *t)
{
	struct registry *r = registry__new();
	struct reg_ident id = { .exe_hint = "/ember/test/hint" };
	const struct reg_proc *p;
	struct registry_stats st;
	char self[4096];
	struct stat sb;
	pid_t kids[4] = { -1, -1, -1, -1 };
	ssize_t n;
	int i;

	CHECK(r, "registry__new");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(n > 0 && !stat("/proc/self/exe", &sb), "cannot read /proc/self/exe");
	self[n] = '\0';
	id.exe_dev = sb.st_dev;
	id.exe_ino = sb.st_ino;
	for (i = 0; i < 4; i++) {
		kids[i] = sleeper();
		CHECK(kids[i] > 0, "fork");
	}
	p = registry__add(r, kids[0], &id, false);
	CHECK(p && p->exe && !strcmp(p->exe, self), "first: exe %s", p ? p->exe : "-");
	p = registry__add(r, kids[1], &id, false);
	CHECK(p && p->exe && !strcmp(p->exe, self), "cached: exe %s", p ? p->exe : "-");
	registry__stats(r, &st);
	CHECK(st.exe_reads == 1 && st.exe_cached == 1, "reads %llu, cached %llu",
	      (unsigned long long)st.exe_reads, (unsigned long long)st.exe_cached);
	id.exe_hint = "/ember/test/other";	/* another path to the same file */
	p = registry__add(r, kids[2], &id, false);
	id.exe_hint = "/ember/test/hint";
	id.exe_ino++;				/* the same path to another file */
	p = registry__add(r, kids[3], &id, false);
	registry__stats(r, &st);
	CHECK(st.exe_reads == 3 && st.exe_cached == 1, "reads %llu, cached %llu",
	      (unsigned long long)st.exe_reads, (unsigned long long)st.exe_cached);
	CHECK(p && p->exe && !strcmp(p->exe, self), "re-read: exe %s", p ? p->exe : "-");
out:
	for (i = 0; i < 4; i++)
		if (kids[i] > 0)
			end(kids[i]);
	registry__free(r);
}

/* The cgroup2 mount (unified or hybrid), or NULL. */
static const char *cgroup2_dir(void)
{
	static const char *const where[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char probe[128];
	size_t i;

	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		snprintf(probe, sizeof(probe), "%s/cgroup.procs", where[i]);
		if (!access(probe, F_OK))
			return where[i];
	}
	return NULL;
}

/*
 * A cgroup id BPF saw is named by a walk of cgroup2 when no live process
 * told its path; a miss makes the next walks wait longer (a user making
 * cgroups by the thousand cannot keep the agent walking).
 */
static void test_cgroup_names_find(struct test *t)
{
	struct cgroup_names *cn = cgroup_names__new();
	const char *mnt = cgroup2_dir(), *path;
	char dir[256], want[128];
	struct stat st;
	bool made = false;

	CHECK(cn, "cgroup_names__new");
	if (!mnt)
		SKIP("no cgroup2 mount");
	snprintf(want, sizeof(want), "/ember-unit-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "%s%s", mnt, want);
	if (mkdir(dir, 0755))
		SKIP("cannot make a cgroup (%s): %s", dir, strerror(errno));
	made = true;
	CHECK(!stat(dir, &st), "stat %s", dir);
	CHECK(!cgroup_names__get(cn, st.st_ino), "known before any walk");
	path = cgroup_names__find(cn, st.st_ino);
	CHECK(path && !strcmp(path, want), "found %s, want %s", path ? path : "(null)", want);
	CHECK(!cgroup_names__find(cn, ~0ULL), "an id no cgroup has");
	cgroup_names__put(cn, 12345, "/put");
	path = cgroup_names__get(cn, 12345);
	CHECK(path && !strcmp(path, "/put"), "a path put is got");
	/* the miss above made the next walk wait: a cgroup made now is not found yet */
	CHECK(!rmdir(dir), "rmdir %s", dir);
	made = false;
	snprintf(want, sizeof(want), "/ember-unit-%d-b", (int)getpid());
	snprintf(dir, sizeof(dir), "%s%s", mnt, want);
	CHECK(!mkdir(dir, 0755), "mkdir %s", dir);
	made = true;
	CHECK(!stat(dir, &st), "stat %s", dir);
	CHECK(!cgroup_names__find(cn, st.st_ino), "walked again right after a miss");
out:
	if (made)
		rmdir(dir);
	cgroup_names__free(cn);
}

const struct test_case procmaps_tests[] = {
	{ "cgroup_names_find", test_cgroup_names_find },
	{ "procmaps_open_in_root", test_open_in_root },
	{ "procmaps_read_self", test_maps_self },
	{ "registry_pid_reuse", test_registry_pid_reuse },
	{ "registry_exe_cache", test_registry_exe_cache },
	{ NULL, NULL },
};
