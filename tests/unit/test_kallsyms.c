// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_kallsyms.c - the kallsyms table read again when code appears after
 * the start: a sampled address past every known symbol re-reads the file,
 * a re-read that finds nothing new backs off, and nothing is re-read while
 * every address is known.  The table is read from a file in kallsyms'
 * format that the test rewrites, as a module load rewrites /proc/kallsyms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"
#include "symbolizer.h"
#include "../../symbolizer/internal.h"

#define LATE_ADDR 0xffffffffc0200010ULL

static const char base_syms[] =
	"ffffffff81000000 T _stext\n"
	"ffffffff81000100 T first_func\n"
	"ffffffff81000200 T schedule\n"
	"ffffffff81000300 D not_text\n"
	"ffffffff81000400 T last_text\n"
	"ffffffffc0000000 t mod_a_fn\t[mod_a]\n"
	"ffffffffc0000100 t mod_a_last\t[mod_a]\n";

static int write_syms(const char *path, bool late)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(base_syms, f);
	fputs("ffffffffc0300000 t bpf_prog_0123456789abcdef_on_sample\t[bpf]\n", f);
	if (late)
		fputs("ffffffffc0200000 t late_fn\t[late_mod]\n", f);
	return fclose(f) ? -errno : 0;
}

/* The name @addr gets, "" when unknown. */
static const char *name_of(struct kallsyms *ks, uint64_t addr)
{
	struct symbolizer_stats st = {};
	struct frames *fr = kallsyms__lookup(ks, addr, &st);

	return fr ? fr->f[0].name : "";
}

/* Writes the base table to @path (a mkstemp() template) and loads it; NULL (failed) on error. */
static struct kallsyms *load_base(struct test *t, char *path, struct strpool *pool)
{
	struct kallsyms *ks = NULL;
	int fd = mkstemp(path);

	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
	CHECK(!write_syms(path, false), "write");
	ks = kallsyms__load(path, pool);
	CHECK(ks, "load: %s", strerror(errno));
out:
	return ks;
}

static void test_reload_on_unknown(struct test *t)
{
	char path[] = "/tmp/ember-kallsyms-XXXXXX";
	struct strpool pool = {};
	struct kallsyms *ks = load_base(t, path, &pool);
	int r;

	if (!ks)
		goto out;
	CHECK(!strcmp(name_of(ks, 0xffffffff81000210ULL), "schedule"), "schedule+0x10 not named");
	/* every address known: the table is not read again */
	r = kallsyms__refresh(&ks, path, 1000);
	CHECK(r == 0, "refresh with nothing unknown: %d", r);

	/* an address past every symbol, and nothing new in the file: read once, then back off */
	CHECK(!*name_of(ks, LATE_ADDR), "an address 2 MiB past mod_a named '%s'", name_of(ks, LATE_ADDR));
	r = kallsyms__refresh(&ks, path, 2000);
	CHECK(r == 0, "refresh of an unchanged file replaced the table: %d", r);

	/* the module arrives; the next unknown address waits out the backoff (20 s), then reads it */
	CHECK(!write_syms(path, true), "rewrite");
	CHECK(!*name_of(ks, LATE_ADDR), "named before the reload");
	r = kallsyms__refresh(&ks, path, 3000);
	CHECK(r == 0, "re-read inside the backoff: %d", r);
	r = kallsyms__refresh(&ks, path, 21999);
	CHECK(r == 0, "re-read 1 ms before the backoff ends: %d", r);
	r = kallsyms__refresh(&ks, path, 2000 + 20000);
	CHECK(r == 1, "no re-read after the backoff: %d", r);
	CHECK(!strcmp(name_of(ks, LATE_ADDR), "late_fn"), "late module's address named '%s'",
	      name_of(ks, LATE_ADDR));
	CHECK(!strcmp(name_of(ks, 0xffffffff81000210ULL), "schedule"), "schedule lost in the reload");
	/* all known again: no more re-reads however long it runs */
	r = kallsyms__refresh(&ks, path, 10000000);
	CHECK(r == 0, "re-read with every address known: %d", r);
out:
	kallsyms__free(ks);
	strpool__clear(&pool);
	unlink(path);
}

/*
 * A sample in the last BPF program is no hunch that code was loaded: the
 * program list has its own check, so it alone never re-reads the table.
 */
static void test_bpf_no_reload(struct test *t)
{
	char path[] = "/tmp/ember-kallsyms-XXXXXX";
	struct strpool pool = {};
	struct kallsyms *ks = load_base(t, path, &pool);
	int r;

	if (!ks)
		goto out;
	CHECK(!strcmp(name_of(ks, 0xffffffffc0300040ULL), "bpf_prog_0123456789abcdef_on_sample"),
	      "BPF program not named: '%s'", name_of(ks, 0xffffffffc0300040ULL));
	CHECK(!write_syms(path, true), "rewrite");
	r = kallsyms__refresh(&ks, path, 100000);
	CHECK(r == 0, "a sample in the last BPF program re-read the table: %d", r);
	CHECK(!*name_of(ks, LATE_ADDR), "late module named without a re-read");
	r = kallsyms__refresh(&ks, path, 200000);
	CHECK(r == 1, "an address past mod_a did not re-read the table: %d", r);
out:
	kallsyms__free(ks);
	strpool__clear(&pool);
	unlink(path);
}

/* The module @addr's frame names, "" when unknown. */
static const char *module_of(struct kallsyms *ks, uint64_t addr)
{
	struct symbolizer_stats st = {};
	struct frames *fr = kallsyms__lookup(ks, addr, &st);

	return fr ? fr->f[0].module : "";
}

/*
 * The compact table (address halves and modules stored per run): unsorted
 * lines, aliases (the global one wins), data skipped, module edges, and
 * addresses whose high halves differ, each named as the file says.
 */
static void test_compact_table(struct test *t)
{
	static const char syms[] =
		"ffffffff81000200 t local_alias\n"
		"ffffffff81000100 T first_func\n"
		"ffffffff81000200 T global_alias\n"
		"ffffffff81000300 D not_text\n"
		"ffffffff81000400 W weak_fn\n"
		"ffffffffc0000000 t mod_a_fn\t[mod_a]\n"
		"ffffffffc0000100 t mod_a_last\t[mod_a]\n"
		"ffffffffc0001000 t mod_b_fn\t[mod_b]\n"
		"ffff800000001000 T low_half_fn\n"
		"ffff800000002000 T low_half_next\n";
	static const struct {
		uint64_t addr;
		const char *name, *module;
	} want[] = {
		{ 0xffffffff81000100ULL, "first_func", "vmlinux" },
		{ 0xffffffff810001ffULL, "first_func", "vmlinux" },
		{ 0xffffffff81000200ULL, "global_alias", "vmlinux" },
		{ 0xffffffff81000350ULL, "global_alias", "vmlinux" },	/* data skipped */
		{ 0xffffffff81000410ULL, "weak_fn", "vmlinux" },
		{ 0xffffffffc0000050ULL, "mod_a_fn", "mod_a" },
		{ 0xffffffffc0000180ULL, "mod_a_last", "mod_a" },
		{ 0xffffffffc0001010ULL, "mod_b_fn", "mod_b" },
		{ 0xffff800000001010ULL, "low_half_fn", "vmlinux" },
		{ 0xffff800000002010ULL, "low_half_next", "vmlinux" },
		{ 0xffff800000000fffULL, "", "" },	/* below every symbol */
		{ 0xffffffffc0101000ULL, "", "" },	/* 1 MiB past mod_b's last symbol */
	};
	char path[] = "/tmp/ember-kallsyms-XXXXXX";
	struct strpool pool = {};
	struct kallsyms *ks = NULL;
	int fd = mkstemp(path);
	FILE *f = NULL;
	size_t i;

	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	f = fdopen(fd, "w");
	CHECK(f && fputs(syms, f) >= 0 && !fclose(f), "write: %s", strerror(errno));
	ks = kallsyms__load(path, &pool);
	CHECK(ks, "load: %s", strerror(errno));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *name = name_of(ks, want[i].addr), *mod = module_of(ks, want[i].addr);

		CHECK(!strcmp(name, want[i].name) && !strcmp(mod ? mod : "?", want[i].module),
		      "%#llx: '%s' [%s], want '%s' [%s]", (unsigned long long)want[i].addr, name,
		      mod ? mod : "?", want[i].name, want[i].module);
	}
out:
	kallsyms__free(ks);
	strpool__clear(&pool);
	unlink(path);
}

const struct test_case kallsyms_tests[] = {
	{ "kallsyms_reload_on_unknown", test_reload_on_unknown },
	{ "kallsyms_compact_table", test_compact_table },
	{ "kallsyms_bpf_no_reload", test_bpf_no_reload },
	{ NULL, NULL },
};
