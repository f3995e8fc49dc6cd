// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * webproc.c - the agent's UI and API in a process of their own, without
 * privileges.  The agent forks it before it loads BPF or starts a thread;
 * the child gives up every capability (and root, for the user ember when
 * the agent runs as root), then serves the store read-only like `ember
 * serve`.  What the sampler counts reaches its /metrics through a snapshot
 * in memory shared between the two processes, published after each window.
 * A request parser bug then reaches at most what the user ember may read.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "log.h"
#include "webproc.h"

#define UI_USER "ember"
#define NO_STORE_ACCESS INT_MIN	/* the child's answer when the user cannot read the store */

struct webproc {
	pid_t pid;
	int port;
};

/* Gives @path's directory and files to @gid's group (modes stay 0750/0640). */
static void share_store(const char *path, gid_t gid)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char file[4096], *copy = strdup(path);
	unsigned int i;

	if (copy && chown(dirname(copy), -1, gid) && errno != ENOENT)
		log_warn("cannot give the store's directory to group %u: %s", gid, strerror(errno));
	free(copy);
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
		if (chown(file, -1, gid) && errno != ENOENT)
			log_warn("cannot give '%s' to group %u: %s", file, gid, strerror(errno));
	}
}

/* In the child: root becomes @pw (when given); then no capability is left. */
static int drop_privileges(const struct passwd *pw)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	int cap;

	if (pw) {
		/* the bounding set can be emptied only while CAP_SETPCAP is held */
		for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
		if (setgroups(1, &pw->pw_gid) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return 0;
}

/* The child's life: drop privileges, serve, report the port (or -errno) on @fd. */
static void child(const struct web_opts *o, const struct passwd *pw, int fd, pid_t parent,
		  volatile sig_atomic_t *exiting)
{
	struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
	struct web *w = NULL;
	int res;

	prctl(PR_SET_NAME, "ember-ui", 0, 0, 0);
	res = drop_privileges(pw);
	/* after setuid, which clears it; then the agent may already be gone */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	if (res)
		log_error("UI process: cannot drop privileges: %s", strerror(-res));
	else if (pw && access(o->db, R_OK))
		res = NO_STORE_ACCESS;	/* e.g. a directory only root may enter */
	else
		res = web__new(o, &w);
	if (!res)
		res = web__port(w);
	if (write(fd, &res, sizeof(res)) != sizeof(res) || res < 0)
		_exit(1);
	close(fd);
	while (!*exiting)
		nanosleep(&tick, NULL);
	web__free(w);
	_exit(0);
}

/* Forks the child as @pw (NULL: the agent's own uid); sets *out or returns its answer. */
static int fork_ui(const struct web_opts *o, const struct passwd *pw,
		   volatile sig_atomic_t *exiting, struct webproc **out)
{
	struct webproc *wp;
	int fds[2], res = -EIO;
	pid_t parent = getpid();

	wp = calloc(1, sizeof(*wp));
	if (!wp || pipe2(fds, O_CLOEXEC)) {
		free(wp);
		return -ENOMEM;
	}
	fflush(NULL);
	wp->pid = fork();
	if (wp->pid == 0) {
		close(fds[0]);
		child(o, pw, fds[1], parent, exiting);
	}
	close(fds[1]);
	if (wp->pid > 0 && read(fds[0], &res, sizeof(res)) != sizeof(res))
		res = -EIO;	/* the child died before it could say */
	close(fds[0]);
	if (wp->pid < 0)
		res = -errno;
	if (res < 0) {
		webproc__stop(wp);
		return res;
	}
	wp->port = res;
	*out = wp;
	return 0;
}

int webproc__start(const struct web_opts *o, volatile sig_atomic_t *exiting,
		   struct webproc **out)
{
	struct passwd *pw = NULL;
	int err;

	*out = NULL;
	if (geteuid() == 0) {
		pw = getpwnam(UI_USER);
		if (pw)
			share_store(o->db, pw->pw_gid);
		else
			log_warn("no user '%s' (the Debian package makes it): the UI process keeps "
				 "uid 0, without capabilities", UI_USER);
	}
	err = fork_ui(o, pw, exiting, out);
	if (err == NO_STORE_ACCESS) {
		log_warn("the user '%s' cannot read '%s' (a directory on its path is closed to "
			 "it): the UI process keeps uid 0, without capabilities", UI_USER, o->db);
		err = fork_ui(o, NULL, exiting, out);
	}
	return err;
}

int webproc__port(const struct webproc *wp)
{
	return wp->port;
}

void webproc__stop(struct webproc *wp)
{
	int status;

	if (!wp)
		return;
	if (wp->pid > 0) {
		kill(wp->pid, SIGTERM);
		while (waitpid(wp->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	free(wp);
}
