// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_unwinder.c - the unwind-table manager over real BPF maps and a real
 * child process: a build that fails is tried again after 1 s, then 2 s
 * (counted, and not rebuilt at every re-read in between), and a file's
 * slot is freed once no process maps it; a process refused a slot is
 * handed back to be read again as soon as another one's files fall idle.
 * Needs root (BPF maps).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "procmaps.h"
#include "test.h"
#include "unwind_abi.h"
#include "unwinder.h"

static int map_new(enum bpf_map_type type, size_t value, uint32_t n, uint32_t flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);

	return bpf_map_create(type, NULL, sizeof(uint32_t), value, n, &o);
}

/* The registry's one read of @pid's mappings, handed to the unwinder. */
static int add_process(struct unwinder *u, pid_t pid)
{
	struct proc_open_stats open = {};
	struct proc_maps *pm = NULL;
	int err = proc_maps__read(pid, &pm);

	if (!err)
		err = unwinder__add_process(u, pm, &open);
	proc_maps__free(pm);
	return err;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	nanosleep(&ts, NULL);
}

static void test_retry_backoff_and_slots(struct test *t)
{
	struct sampler_unwind_maps m = { .rows_fd = -1, .files_fd = -1, .procs_fd = -1, .inodes_fd = -1,
					 .py_procs_fd = -1 };
	struct unwinder *u = NULL;
	struct unwinder_stats st;
	uint64_t refused, built;
	pid_t child = -1;

	if (geteuid())
		SKIP("needs root for BPF maps");
	/* a pool of 8 rows: every real table is refused for room */
	m.rows_max = 8;
	m.files_max = 8;
	m.rows_fd = map_new(BPF_MAP_TYPE_ARRAY, sizeof(struct unwind_row), m.rows_max,
			    BPF_F_MMAPABLE);
	m.files_fd = map_new(BPF_MAP_TYPE_ARRAY, sizeof(struct unwind_file), m.files_max, 0);
	m.procs_fd = map_new(BPF_MAP_TYPE_HASH, sizeof(struct unwind_proc), 4, 0);
	CHECK(m.rows_fd >= 0 && m.files_fd >= 0 && m.procs_fd >= 0, "bpf_map_create: %s",
	      strerror(errno));
	u = unwinder__new(&m);
	CHECK(u, "unwinder__new: %s", strerror(errno));
	child = fork();
	CHECK(child >= 0, "fork");
	if (!child) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	sleep_ms(200);	/* exec'd */

	CHECK(!add_process(u, child), "add_process");
	unwinder__stats(u, &st);
	refused = st.tables_no_room;
	built = st.tables_built;
	CHECK(refused >= 2 && st.tables_retried == 0 && st.slots_used == refused,
	      "first read: no_room=%llu retried=%llu slots=%llu", (unsigned long long)refused,
	      (unsigned long long)st.tables_retried, (unsigned long long)st.slots_used);

	/* a re-read right away builds nothing: the retry waits 1 s */
	CHECK(!add_process(u, child), "add_process");
	unwinder__stats(u, &st);
	CHECK(st.tables_built == built && st.tables_no_room == refused,
	      "re-read at once rebuilt: built %llu -> %llu", (unsigned long long)built,
	      (unsigned long long)st.tables_built);

	sleep_ms(1100);
	CHECK(!add_process(u, child), "add_process");
	unwinder__stats(u, &st);
	CHECK(st.tables_retried == refused && st.tables_no_room == 2 * refused,
	      "after 1 s: retried=%llu no_room=%llu (want %llu, %llu)",
	      (unsigned long long)st.tables_retried, (unsigned long long)st.tables_no_room,
	      (unsigned long long)refused, (unsigned long long)(2 * refused));

	/* the next wait is 2 s */
	sleep_ms(1100);
	CHECK(!add_process(u, child), "add_process");
	unwinder__stats(u, &st);
	CHECK(st.tables_retried == refused, "retried again after 1.1 s of a 2 s backoff: %llu",
	      (unsigned long long)st.tables_retried);

	/* gone and idle past its backoff: every slot is free again */
	unwinder__remove_process(u, child);
	sleep_ms(2000);
	unwinder__expire(u, 0);
	unwinder__stats(u, &st);
	CHECK(st.slots_used == 0, "%llu slots still held after the process left",
	      (unsigned long long)st.slots_used);
out:
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	unwinder__free(u);
	if (m.rows_fd >= 0)
		close(m.rows_fd);
	if (m.files_fd >= 0)
		close(m.files_fd);
	if (m.procs_fd >= 0)
		close(m.procs_fd);
}

/* A child sleeping in @path (a copy of sleep(1) or sleep itself), once exec'd. */
static pid_t sleeper(const char *path)
{
	pid_t pid = fork();

	if (!pid) {
		execl(path, "sleep", "30", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Copies @from to a new file @to (a new inode: another file to the unwinder). */
static int copy_exec(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, err = -1;
	struct stat st;

	if (in < 0 || fstat(in, &st))
		goto cleanup;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out >= 0 && !fchmod(out, 0755) && sendfile(out, in, NULL, st.st_size) == st.st_size)
		err = 0;
cleanup:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return err;
}

static int maps_new(struct sampler_unwind_maps *m, uint32_t files)
{
	*m = (struct sampler_unwind_maps){ .rows_max = 1 << 18, .files_max = files,
					   .inodes_fd = -1, .py_procs_fd = -1 };
	m->rows_fd = map_new(BPF_MAP_TYPE_ARRAY, sizeof(struct unwind_row), m->rows_max,
			     BPF_F_MMAPABLE);
	m->files_fd = map_new(BPF_MAP_TYPE_ARRAY, sizeof(struct unwind_file), files, 0);
	m->procs_fd = map_new(BPF_MAP_TYPE_HASH, sizeof(struct unwind_proc), 4, 0);
	return m->rows_fd >= 0 && m->files_fd >= 0 && m->procs_fd >= 0 ? 0 : -1;
}

static void maps_close(struct sampler_unwind_maps *m)
{
	if (m->rows_fd > 0)
		close(m->rows_fd);
	if (m->files_fd > 0)
		close(m->files_fd);
	if (m->procs_fd > 0)
		close(m->procs_fd);
	m->rows_fd = m->files_fd = m->procs_fd = -1;
}

static void test_starved_fed_when_room(struct test *t)
{
	char copy[] = "/tmp/ember-unwinder-XXXXXX";
	struct sampler_unwind_maps m = { .rows_fd = -1, .files_fd = -1, .procs_fd = -1,
					 .inodes_fd = -1 };
	struct unwinder *u = NULL;
	struct unwinder_stats st;
	pid_t a = -1, b = -1;
	uint64_t files;
	int fd, pids[4], n;

	if (geteuid())
		SKIP("needs root for BPF maps");
	fd = mkstemp(copy);
	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
	CHECK(!copy_exec("/bin/sleep", copy), "cannot copy /bin/sleep to %s", copy);
	a = sleeper("/bin/sleep");
	b = sleeper(copy);
	CHECK(a > 0 && b > 0, "fork");
	sleep_ms(200);	/* exec'd */

	/* how many files the first maps: exactly the slots there will be */
	CHECK(!maps_new(&m, 64), "bpf_map_create: %s", strerror(errno));
	u = unwinder__new(&m);
	CHECK(u && !add_process(u, a), "add_process");
	unwinder__stats(u, &st);
	files = st.slots_used;
	CHECK(files >= 2 && st.files_loaded == files, "sleep(1): %llu files, %llu loaded",
	      (unsigned long long)files, (unsigned long long)st.files_loaded);
	unwinder__free(u);
	maps_close(&m);

	CHECK(!maps_new(&m, files), "bpf_map_create: %s", strerror(errno));
	u = unwinder__new(&m);
	CHECK(u && !add_process(u, a) && !add_process(u, b), "add_process");
	unwinder__stats(u, &st);
	CHECK(st.procs == 2 && st.procs_starved == 1 && st.tables_no_room >= 1 &&
	      st.slots_mapped == files, "every slot mapped: starved %llu, no_room %llu, mapped %llu",
	      (unsigned long long)st.procs_starved, (unsigned long long)st.tables_no_room,
	      (unsigned long long)st.slots_mapped);
	/* no file fell idle: nothing to read again */
	CHECK(unwinder__take_starved(u, pids, 4) == 0, "starved handed out with no room freed");

	/* the first one exits: its own binary falls idle at once, no grace period */
	unwinder__remove_process(u, a);
	n = unwinder__take_starved(u, pids, 4);
	CHECK(n == 1 && pids[0] == b, "after the exit: %d handed out (want pid %d)", n, b);
	CHECK(unwinder__take_starved(u, pids, 4) == 0, "handed out twice");
	CHECK(!add_process(u, b), "add_process");
	unwinder__stats(u, &st);
	CHECK(st.procs_starved == 0 && st.files_loaded == files && st.tables_evicted >= 1,
	      "read again: starved %llu, loaded %llu of %llu, evicted %llu",
	      (unsigned long long)st.procs_starved, (unsigned long long)st.files_loaded,
	      (unsigned long long)files, (unsigned long long)st.tables_evicted);
out:
	if (a > 0) {
		kill(a, SIGKILL);
		waitpid(a, NULL, 0);
	}
	if (b > 0) {
		kill(b, SIGKILL);
		waitpid(b, NULL, 0);
	}
	unlink(copy);
	unwinder__free(u);
	maps_close(&m);
}

const struct test_case unwinder_tests[] = {
	{ "unwinder_retry_backoff_and_slots", test_retry_backoff_and_slots },
	{ "unwinder_starved_fed_when_room", test_starved_fed_when_room },
	{ NULL, NULL },
};
