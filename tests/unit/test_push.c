// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_push.c - the push module's pure parts: the service a process counts
 * under, the label checks, and the cuts at Pyroscope's 16,000 samples and
 * 4 MiB per profile, read back from the encoded PushRequest with a walker
 * of the protobuf wire format written here (not the module's encoder).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "test.h"
#include "push.h"
#include "../../push/internal.h"

static void test_service_names(struct test *t)
{
	static const struct {
		const char *cgroup, *exe, *comm, *want;
	} cases[] = {
		{ "/system.slice/nginx.service", "/usr/sbin/nginx", "nginx", "nginx" },
		{ "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service",
		  "/usr/bin/foo", "foo", "foo" },
		{ "/user.slice/user-1000.slice/user@1000.service/init.scope", "/usr/lib/systemd/systemd",
		  "systemd", "systemd" },
		{ "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
		  "/app/server", "server", "docker-0123456789ab" },
		{ "/kubepods.slice/kubepods-pod1.slice/cri-containerd-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210.scope",
		  "/bin/x", "x", "cri-containerd-fedcba987654" },
		{ "/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL, "y",
		  "container-0123456789ab" },
		{ "/", "/opt/app/bin/worker (deleted)", "worker", "worker" },
		{ NULL, NULL, "kworker/0:1", "kworker/0:1" },
		{ NULL, NULL, "", "unknown" },
		{ "/user.slice/user-0.slice/session-3.scope", "/usr/bin/python3.11", "python3", "python3.11" },
	};
	char buf[256];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store_proc p = { .comm = cases[i].comm, .exe = cases[i].exe,
					.cgroup = cases[i].cgroup };

		push_service_name(&p, buf, sizeof(buf));
		CHECK(!strcmp(buf, cases[i].want), "case %u: '%s', want '%s'", i, buf, cases[i].want);
	}
out:;
}

static void test_label_checks(struct test *t)
{
	char longv[PUSH_MAX_VALUE_LEN + 2];
	struct push_label ok = { "env", "prod-1.eu" }, reserved = { "__name__", "x" },
		bad_name = { "9x", "v" }, dash = { "a-b", "v" }, brace = { "env", "a{b" },
		big = { "env", longv };

	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	CHECK(!push_label__check(&ok, PUSH_CONNECT), "a plain label refused");
	CHECK(push_label__check(&reserved, PUSH_CONNECT), "__name__ accepted");
	CHECK(push_label__check(&bad_name, PUSH_CONNECT), "9x accepted");
	CHECK(push_label__check(&dash, PUSH_CONNECT), "a-b accepted");
	CHECK(!push_label__check(&brace, PUSH_CONNECT), "{ refused for connect");
	CHECK(push_label__check(&brace, PUSH_INGEST), "{ accepted for /ingest");
	CHECK(push_label__check(&big, PUSH_CONNECT), "a 2049-byte value accepted");
	longv[PUSH_MAX_VALUE_LEN] = '\0';
	CHECK(!push_label__check(&big, PUSH_CONNECT), "a 2048-byte value refused");
out:;
}

/* The wire format, read independently: one field at *pos. */
static int next_field(const uint8_t *b, size_t len, size_t *pos, int *field, const uint8_t **val,
		      size_t *vlen)
{
	uint64_t key = 0, n = 0;
	int shift;

	for (shift = 0; *pos < len; shift += 7) {
		key |= (uint64_t)(b[*pos] & 0x7f) << shift;
		if (!(b[(*pos)++] & 0x80))
			break;
	}
	if ((key & 7) != 2)
		return -1;	/* PushRequest has length-delimited fields only */
	for (shift = 0; *pos < len; shift += 7) {
		n |= (uint64_t)(b[*pos] & 0x7f) << shift;
		if (!(b[(*pos)++] & 0x80))
			break;
	}
	if (n > len - *pos)
		return -1;
	*field = key >> 3;
	*val = b + *pos;
	*vlen = n;
	*pos += n;
	return 0;
}

/* Uncompressed size of a gzip stream, -1 if it is none. */
static long gunzip_size(const uint8_t *gz, size_t len)
{
	z_stream zs = { .next_in = (uint8_t *)gz, .avail_in = len };
	static uint8_t out[1 << 16];
	long total = 0;
	int rc;

	if (inflateInit2(&zs, 16 + 15) != Z_OK)
		return -1;
	do {
		zs.next_out = out;
		zs.avail_out = sizeof(out);
		rc = inflate(&zs, Z_NO_FLUSH);
		total += sizeof(out) - zs.avail_out;
	} while (rc == Z_OK);
	inflateEnd(&zs);
	return rc == Z_STREAM_END ? total : -1;
}

/*
 * @nstacks distinct stacks of one service, names @name_len long: the
 * RawSamples of its one series, each a gzip pprof no larger than 4 MiB.
 */
static int count_profiles(struct test *t, int nstacks, int name_len, int *nprofiles)
{
	struct push_label label = { "env", "unit" };
	struct push_enc e = { .protocol = PUSH_CONNECT, .freq = 99, .host = "h",
			      .labels = &label, .nlabels = 1 };
	struct push_collect *c = push_collect__new(1000, 2000, 99);
	struct store_proc proc = { .comm = "w", .pid = 7, .exe = "/bin/w" };
	struct push_window *w = NULL;
	char *name = malloc(name_len + 16);
	const uint8_t *s, *f, *r;
	size_t sl, fl, rl, p0 = 0, p1, p2;
	int i, err = -1, fld, nseries = 0;

	*nprofiles = 0;
	CHECK(c && name, "out of memory");
	memset(name, 'f', name_len);
	for (i = 0; i < nstacks; i++) {
		struct frame fr[2] = { { .name = "main" }, { .name = name } };

		snprintf(name + name_len, 16, "%d", i);
		CHECK(!push_collect__add(c, "svc", &proc, fr, 2, 1), "add %d failed", i);
	}
	w = push_collect__finish(c, &e, &err);
	CHECK(w && !err && w->nreqs == 1, "finish: %d, %d requests", err, w ? w->nreqs : 0);
	CHECK(!strcmp(w->reqs[0].path, "/push.v1.PusherService/Push"), "path %s", w->reqs[0].path);
	while (p0 < w->reqs[0].len) {
		CHECK(!next_field(w->reqs[0].body, w->reqs[0].len, &p0, &fld, &s, &sl) && fld == 1,
		      "PushRequest: bad field");
		nseries++;
		for (p1 = 0; p1 < sl;) {
			CHECK(!next_field(s, sl, &p1, &fld, &f, &fl), "series: bad field");
			if (fld != 2)
				continue;
			for (p2 = 0; p2 < fl;) {
				CHECK(!next_field(f, fl, &p2, &fld, &r, &rl), "RawSample: bad field");
				if (fld != 1)
					continue;
				CHECK(gunzip_size(r, rl) > 0 &&
				      gunzip_size(r, rl) <= (long)PUSH_MAX_PROFILE_BYTES,
				      "profile %d: %ld bytes uncompressed", *nprofiles,
				      gunzip_size(r, rl));
				(*nprofiles)++;
			}
		}
	}
	CHECK(nseries == 1, "%d series for one service", nseries);
	err = 0;
out:
	push_window__free(w);
	push_collect__free(c);
	free(name);
	return err;
}

static void test_split_samples(struct test *t)
{
	int n;

	CHECK(!count_profiles(t, 16000, 8, &n) && n == 1, "16000 stacks: %d profiles", n);
	CHECK(!count_profiles(t, 40000, 8, &n) && n == 3, "40000 stacks: %d profiles", n);
out:;
}

static void test_split_bytes(struct test *t)
{
	int n;

	/* 3000 functions of 4 KiB names: about 12 MiB of strings */
	CHECK(!count_profiles(t, 3000, 4096, &n) && n >= 3, "12 MiB: %d profiles", n);
out:;
}

const struct test_case push_tests[] = {
	{ "push_service_names", test_service_names },
	{ "push_label_checks", test_label_checks },
	{ "push_split_16000_samples", test_split_samples },
	{ "push_split_4mib", test_split_bytes },
	{ NULL, NULL },
};
