// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_names.c - symbolizer tests for names beyond plain C symbols:
 * demangled C++/Rust names (and raw ones on request), JIT code from perf
 * maps (with garbage lines and reloads as the map grows), code in a memfd
 * or anonymous memory, and debug files fetched from a debuginfod server
 * (a minimal one in a thread here) without blocking the lookup.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "symbolizer.h"
#include "test.h"

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct mangled {
	const char *raw, *plain;
};

static const struct mangled cxx_names[] = {
	{ "_ZN2ns6WorkerIiE3runEv", "ns::Worker<int>::run()" },
	{ "_ZZN2ns6WorkerIiE3runEvENKUliE_clEi",
	  "ns::Worker<int>::run()::{lambda(int)#1}::operator()(int) const" },
	{ "_ZN7mycrate6legacy17h0123456789abcdefE", "mycrate::legacy" },
	{ "_RNvCs1234_7mycrate3foo", "mycrate::foo" },
	{ NULL, NULL },
};

static void check_demangle(struct test *t, bool raw)
{
	struct symbolizer_opts o = { .no_demangle = raw };
	struct symbolizer *sym = symbolizer__new_opts(&o);
	const struct mangled *m;
	const struct frame *f;
	uint64_t addr, size;
	const char *want;
	int n;

	CHECK(sym, "symbolizer__new_opts: %s", strerror(errno));
	for (m = cxx_names; m->raw; m++) {
		CHECK(!elf_symbol(fixture(t, 0, "cxx_fix"), m->raw, &addr, &size),
		      "no symbol %s in cxx_fix", m->raw);
		n = symbolizer__elf(sym, fixture(t, 0, "cxx_fix"), addr, &f);
		want = raw ? m->raw : m->plain;
		CHECK(n >= 1 && !strcmp(f[n - 1].name, want), "%s named '%s', expected '%s'",
		      m->raw, n >= 1 ? f[n - 1].name : "nothing", want);
		CHECK(!(f[n - 1].flags & FRAME_F_UNKNOWN) && f[n - 1].file, "%s: no file:line", m->raw);
	}
out:
	symbolizer__free(sym);
}

static void test_demangle(struct test *t)
{
	check_demangle(t, false);
}

static void test_demangle_off(struct test *t)
{
	check_demangle(t, true);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n <= 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

static int append(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), err;

	if (fd < 0)
		return -errno;
	err = write_all(fd, text, len);
	close(fd);
	return err;
}

/* Names @addr of this process and checks the single frame. */
static bool jit_differs(struct symbolizer *sym, uint64_t addr, const char *name, uint32_t flags,
			char *why, size_t len)
{
	const struct frame *f;
	int n = symbolizer__user(sym, getpid(), addr, false, &f);

	if (n != 1 || strncmp(f->name, name, strlen(name)) || f->flags != flags) {
		snprintf(why, len, "%#" PRIx64 ": %d frames, '%s' flags %#x; expected '%s' %#x",
			 addr, n, n >= 1 ? f->name : "", n >= 1 ? f->flags : 0, name, flags);
		return true;
	}
	return false;
}

/* Code in an anonymous mapping, named by a perf map that grows. */
static void test_jit_perf_map(struct test *t)
{
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	char path[64], line[256], *junk = NULL;
	size_t page = sysconf(_SC_PAGESIZE);
	uint8_t *code = MAP_FAILED;
	uint64_t base;
	char why[512];
	int len;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	unlink(path);
	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	code = mmap(NULL, 4 * page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(code != MAP_FAILED, "mmap: %s", strerror(errno));
	base = (uintptr_t)code;
	/* garbage first: the map is the profiled process's to write */
	junk = malloc(20000);
	CHECK(junk, "malloc");
	memset(junk, 'a', 20000);
	junk[19999] = '\n';
	CHECK(!append(path, "not a perf map line\n", 20) && !append(path, junk, 20000) &&
	      !append(path, "zz 10 bad_hex\n0 0 zero_size\n-1 10 negative\n", 43) &&
	      !append(path, "12 34\n\x01\x02\xff\n\n", 11), "writing %s", path);
	len = snprintf(line, sizeof(line), "%" PRIx64 " 100 jit_first\n0x%" PRIx64
		       " 80 LazyCompile:*emberHot [eval]:1\n", base, base + 0x100);
	CHECK(!append(path, line, len), "writing %s", path);
	CHECK(!jit_differs(sym, base + 0x10, "jit_first", FRAME_F_JIT, why, sizeof(why)), "%s", why);
	CHECK(!jit_differs(sym, base + 0x17f, "LazyCompile:*emberHot [eval]:1", FRAME_F_JIT, why,
			   sizeof(why)), "%s", why);
	CHECK(!jit_differs(sym, base + 0x800, "[anon]+0x", FRAME_F_UNKNOWN, why, sizeof(why)),
	      "%s", why);
	symbolizer__stats(sym, &st);
	CHECK(st.jit_bad_lines == 7, "%" PRIu64 " bad lines counted, expected 7", st.jit_bad_lines);
	/* compiled later: found once the map is read again */
	len = snprintf(line, sizeof(line), "%" PRIx64 " 100 jit_second\n", base + 0x800);
	CHECK(!append(path, line, len), "writing %s", path);
	usleep(600 * 1000);
	CHECK(!jit_differs(sym, base + 0x810, "jit_second", FRAME_F_JIT, why, sizeof(why)), "%s",
	      why);
	/* an unfinished last line waits for its newline */
	len = snprintf(line, sizeof(line), "%" PRIx64 " 100 jit_thi", base + 0x1000);
	CHECK(!append(path, line, len), "writing %s", path);
	usleep(600 * 1000);
	CHECK(!jit_differs(sym, base + 0x1010, "[anon]+0x", FRAME_F_UNKNOWN, why, sizeof(why)),
	      "%s", why);
	CHECK(!append(path, "rd\n", 3), "writing %s", path);
	usleep(600 * 1000);
	CHECK(!jit_differs(sym, base + 0x1010, "jit_third", FRAME_F_JIT, why, sizeof(why)), "%s",
	      why);
	/* an over-long line still being written is skipped, once, up to its end */
	memset(junk, 'b', 20000);
	CHECK(!append(path, junk, 20000), "writing %s", path);
	usleep(600 * 1000);
	CHECK(!jit_differs(sym, base + 0x2010, "[anon]+0x", FRAME_F_UNKNOWN, why, sizeof(why)),
	      "%s", why);
	len = snprintf(line, sizeof(line), "bbb\n%" PRIx64 " 100 jit_fourth\n", base + 0x2000);
	CHECK(!append(path, junk, 10000) && !append(path, line, len), "writing %s", path);
	usleep(600 * 1000);
	CHECK(!jit_differs(sym, base + 0x2010, "jit_fourth", FRAME_F_JIT, why, sizeof(why)), "%s",
	      why);
	symbolizer__stats(sym, &st);
	CHECK(st.jit_bad_lines == 8 && !st.elf_errors, "%" PRIu64 " bad lines (expected 8), %"
	      PRIu64 " elf errors", st.jit_bad_lines, st.elf_errors);
out:
	free(junk);
	unlink(path);
	if (code != MAP_FAILED)
		munmap(code, 4 * page);
	symbolizer__free(sym);
}

/* Code in a memfd that holds no ELF file is anonymous code, not a broken file. */
static void test_memfd_anon(struct test *t)
{
	struct symbolizer *sym = symbolizer__new();
	struct symbolizer_stats st;
	size_t page = sysconf(_SC_PAGESIZE);
	uint8_t *code = MAP_FAILED, buf[4096];
	char why[512];
	int fd = -1;

	CHECK(sym, "symbolizer__new: %s", strerror(errno));
	fd = memfd_create("ember-jit", MFD_CLOEXEC);
	CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
	memset(buf, 0xc3, sizeof(buf));
	CHECK(!write_all(fd, buf, sizeof(buf)) && page <= sizeof(buf), "memfd write");
	code = mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	CHECK(code != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK(!jit_differs(sym, (uintptr_t)code + 0x123, "[anon]+0x123", FRAME_F_UNKNOWN, why,
			   sizeof(why)), "%s", why);
	symbolizer__stats(sym, &st);
	CHECK(!st.elf_errors, "%" PRIu64 " elf errors", st.elf_errors);
out:
	if (code != MAP_FAILED)
		munmap(code, page);
	if (fd >= 0)
		close(fd);
	symbolizer__free(sym);
}

/* --- debuginfod ----------------------------------------------------------- */

/* Serves one file as /buildid/<id>/debuginfo, after a delay; 404 otherwise. */
struct server {
	int fd;
	int port;
	const char *file;
	char id[128];
	int delay_ms;
	int requests;
};

static void serve_one(struct server *s, int c)
{
	char req[4096], head[256], body[65536];
	size_t have = 0;
	ssize_t n;
	struct stat st;
	int fd = -1;

	while (have < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		n = read(c, req + have, sizeof(req) - 1 - have);
		if (n <= 0)
			return;
		have += n;
		req[have] = '\0';
	}
	s->requests++;
	usleep(s->delay_ms * 1000);
	snprintf(head, sizeof(head), "GET /buildid/%s/debuginfo ", s->id);
	if (!strncmp(req, head, strlen(head)))
		fd = open(s->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
			 "Connection: close\r\n\r\n");
		write_all(c, head, strlen(head));
		goto out;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\n"
		 "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
		 (long long)st.st_size);
	write_all(c, head, strlen(head));
	while ((n = read(fd, body, sizeof(body))) > 0)
		if (write_all(c, body, n))
			break;
out:
	if (fd >= 0)
		close(fd);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		serve_one(s, c);
		close(c);
	}
	return NULL;
}

static int server_start(struct server *s, pthread_t *th)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) || listen(s->fd, 16) ||
	    getsockname(s->fd, (struct sockaddr *)&a, &len))
		return -errno;
	s->port = ntohs(a.sin_port);
	return -pthread_create(th, NULL, server_main, s);
}

static void server_stop(struct server *s, pthread_t th)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(s->fd);
}

/*
 * Copies basic_stripped into @dir (a mkdtemp() template, made here) as
 * @exe, and starts @s answering for its build id with its debug file.
 * Returns true when the server runs; debuginfod_done() undoes it all.
 */
static bool serve_stripped(struct test *t, char *dir, char *exe, size_t len, struct server *s,
			   pthread_t *th)
{
	CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(exe, len, "%s/basic_stripped", dir);	/* no debug file beside it */
	CHECK(!copy_file(fixture(t, 0, "basic_stripped"), exe, SIZE_MAX), "copy failed");
	s->file = fixture(t, 1, "basic_stripped.debug");
	CHECK(!readelf_build_id(exe, s->id, sizeof(s->id)), "no build id in %s", exe);
	CHECK(!server_start(s, th), "server: %s", strerror(errno));
	return true;
out:
	return false;
}

/* Stops the server (when @started), clears the environment, removes @dir (when @exe is set). */
static void debuginfod_done(struct test *t, const char *dir, const char *exe, struct server *s,
			    const pthread_t *th, bool started)
{
	char cmd[128];

	if (started)
		server_stop(s, *th);
	unsetenv("DEBUGINFOD_URLS");
	unsetenv("DEBUGINFOD_CACHE_PATH");
	if (exe[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			test__set(t, TEST_FAIL, "cannot remove %s", dir);
	}
}

/*
 * A stripped binary without a local debug file: unknown at first (the
 * lookup does not wait for the slow server), named with file:line once the
 * debug file arrived and symbolizer__trim() put it to use.
 */
static void test_debuginfod(struct test *t)
{
	char dir[] = "/tmp/ember-dbgd-XXXXXX", exe[64], cache[64], url[64], why[512];
	struct server s = { .fd = -1, .delay_ms = 300 };
	struct symbolizer_opts o = { .debuginfod_urls = url };
	struct symbolizer *sym = NULL;
	struct symbolizer_stats st;
	const struct frame *f;
	uint64_t addr, size;
	bool started = false;
	double t0, took;
	pthread_t th;
	int n, line;

	exe[0] = '\0';
	CHECK(!elf_symbol(fixture(t, 0, "basic_stripped.debug"), "basic_leaf", &addr, &size),
	      "no basic_leaf in basic_stripped.debug");
	line = marker_line(fixture(t, 0, "basic.c"), "basic_leaf");
	CHECK(line > 0, "no LINE:basic_leaf marker");
	started = serve_stripped(t, dir, exe, sizeof(exe), &s, &th);
	if (!started)
		goto out;
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
	setenv("DEBUGINFOD_CACHE_PATH", cache, 1);
	sym = symbolizer__new_opts(&o);
	CHECK(sym, "symbolizer__new_opts: %s", strerror(errno));
	t0 = mono();
	n = symbolizer__elf(sym, exe, addr, &f);
	took = mono() - t0;
	CHECK(n == 1 && (f->flags & FRAME_F_UNKNOWN), "named before debuginfod answered: %s",
	      n >= 1 ? f->name : "nothing");
	CHECK(took < s.delay_ms / 1000.0, "the lookup waited %.3f s for debuginfod", took);
	for (t0 = mono(); mono() - t0 < 15; usleep(20 * 1000)) {
		symbolizer__trim(sym, 100);
		n = symbolizer__elf(sym, exe, addr, &f);
		if (n >= 1 && !(f->flags & FRAME_F_UNKNOWN))
			break;
	}
	CHECK(n == 1 && !frame_differs(f, "basic_leaf", "basic.c", line, 0, why, sizeof(why)),
	      "after debuginfod: %s", n == 1 ? why : "not one frame");
	symbolizer__stats(sym, &st);
	CHECK(st.debuginfod_asked == 1 && st.debuginfod_found == 1 && s.requests == 1,
	      "asked %" PRIu64 " found %" PRIu64 " requests %d", st.debuginfod_asked,
	      st.debuginfod_found, s.requests);
out:
	symbolizer__free(sym);
	debuginfod_done(t, dir, exe, &s, &th, started);
}

/*
 * Freeing the symbolizer while debuginfod still waits for a slow server
 * cancels the transfer (the progress callback finds its fetcher through
 * the dlopen()ed library) instead of waiting for the answer.
 */
static void test_debuginfod_cancel(struct test *t)
{
	char dir[] = "/tmp/ember-dbgc-XXXXXX", exe[64], url[64];
	struct server s = { .fd = -1, .delay_ms = 3000 };
	struct symbolizer_opts o = { .debuginfod_urls = url };
	struct symbolizer *sym = NULL;
	const struct frame *f;
	bool started = false;
	double t0, took;
	void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);	/* the server writes to a cancelled client */
	pthread_t th;
	int i;

	exe[0] = '\0';
	started = serve_stripped(t, dir, exe, sizeof(exe), &s, &th);
	if (!started)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
	setenv("DEBUGINFOD_CACHE_PATH", dir, 1);
	sym = symbolizer__new_opts(&o);
	CHECK(sym, "symbolizer__new_opts: %s", strerror(errno));
	symbolizer__elf(sym, exe, 0x1000, &f);
	for (i = 0; i < 200 && !s.requests; i++)
		usleep(10 * 1000);
	CHECK(s.requests == 1, "debuginfod never asked the server");
	t0 = mono();
	symbolizer__free(sym);
	sym = NULL;
	took = mono() - t0;
	CHECK(took < 1.5, "freeing waited %.3f s for the %d ms server", took, s.delay_ms);
out:
	symbolizer__free(sym);
	debuginfod_done(t, dir, exe, &s, &th, started);
	signal(SIGPIPE, old_pipe);
}

const struct test_case names_tests[] = {
	{ "names_demangle", test_demangle },
	{ "names_demangle_off", test_demangle_off },
	{ "names_jit_perf_map", test_jit_perf_map },
	{ "names_memfd_anon", test_memfd_anon },
	{ "names_debuginfod_async", test_debuginfod },
	{ "names_debuginfod_cancel", test_debuginfod_cancel },
	{ NULL, NULL },
};
