// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_unwind.c - tests for unwind/: tables built from real system files
 * must agree with libdw at sampled pcs and carry PLT/STOP rows where the
 * linker and glibc put them; live.c walks real stacks, corrupt.c feeds
 * broken ELF.  Prints one "PASS name" / "FAIL name: why" / "SKIP name"
 * line per test and "# bench" lines; always exits 0 (a runner counts).
 */
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include "tests.h"

void report(const char *name, const char *fmt, ...)
{
	va_list ap;

	if (!fmt) {
		printf("PASS %s\n", name);
		return;
	}
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int section_of(const char *path, const char *name, struct sec *out)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t strndx;
	int fd = open(path, O_RDONLY), err = -1;
	Elf *elf = fd < 0 ? NULL : elf_begin(fd, ELF_C_READ, NULL);
	const char *s;

	if (!elf || elf_getshdrstrndx(elf, &strndx) != 0)
		goto out;
	while ((scn = elf_nextscn(elf, scn)) && gelf_getshdr(scn, &sh)) {
		s = elf_strptr(elf, strndx, sh.sh_name);
		if (s && strcmp(s, name) == 0) {
			*out = (struct sec){ sh.sh_addr, sh.sh_size, sh.sh_offset };
			err = 0;
			break;
		}
	}
out:
	elf_end(elf);
	if (fd >= 0)
		close(fd);
	return err;
}

const char *check_sorted(const struct unwind_table *t)
{
	size_t i, n;
	const struct unwind_row *r = unwind_table__rows(t, &n);

	if (n == 0 || r[n - 1].kind != UNWIND_INVALID)
		return "no INVALID terminator";
	for (i = 1; i < n; i++) {
		if (r[i].pc_off <= r[i - 1].pc_off)
			return "rows not sorted";
		if (r[i].kind == r[i - 1].kind && r[i].cfa_off == r[i - 1].cfa_off &&
		    r[i].rbp_off == r[i - 1].rbp_off)
			return "identical rows not merged";
	}
	return NULL;
}

/* The row libdw's frame at @fr implies, computed independently of unwind/. */
static struct unwind_row expected_row(Dwarf_Frame *fr)
{
	struct unwind_row r = { .kind = UNWIND_INVALID };
	Dwarf_Op mem[3], *ops = NULL;
	size_t nops = 0;
	bool sig;
	int ra = dwarf_frame_info(fr, NULL, NULL, &sig);
	int64_t off;

	if (sig)
		return (struct unwind_row){ .kind = UNWIND_SIGNAL };
	if (dwarf_frame_register(fr, ra, mem, &ops, &nops) == 0 &&
	    nops == 0 && ops)
		return (struct unwind_row){ .kind = UNWIND_STOP };
	if (nops != 2 || ops[0].atom != DW_OP_call_frame_cfa ||
	    (int64_t)ops[1].number != -8)
		return r;
	if (dwarf_frame_cfa(fr, &ops, &nops) != 0)
		return r;
	if (nops == 9 && ops[0].atom == DW_OP_breg7 && ops[8].atom == DW_OP_plus)
		r.kind = ops[4].atom == DW_OP_lit11 ? UNWIND_PLT11 :
			 ops[4].atom == DW_OP_lit10 ? UNWIND_PLT10 : UNWIND_INVALID;
	else if (nops == 1 && ops[0].atom == DW_OP_bregx &&
		 (ops[0].number == 6 || ops[0].number == 7)) {
		off = (int64_t)ops[0].number2;
		r.kind = off == (int16_t)off ?
			 (ops[0].number == 7 ? UNWIND_RSP : UNWIND_RBP) :
			 UNWIND_INVALID;
		r.cfa_off = r.kind == UNWIND_INVALID ? 0 : off;
	}
	if (r.kind == UNWIND_INVALID ||
	    dwarf_frame_register(fr, 6, mem, &ops, &nops) != 0)
		return (struct unwind_row){ .kind = UNWIND_INVALID };
	if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa &&
	    (int64_t)ops[1].number == (int8_t)ops[1].number)
		r.rbp_off = (int64_t)ops[1].number;
	else if (nops != 0)
		return (struct unwind_row){ .kind = UNWIND_INVALID };
	return r;
}

/* Compare the table with libdw at @a; NULL when they agree. */
static const char *check_pc(const struct unwind_table *t, Dwarf_CFI *cfi,
			    uint64_t a)
{
	const struct unwind_row *row = unwind_table__lookup(t, a);
	struct unwind_row want;
	Dwarf_Frame *fr;

	if (dwarf_cfi_addrframe(cfi, a, &fr) != 0)
		return !row || row->kind == UNWIND_INVALID ? NULL :
		       "row where libdw has no CFI";
	want = expected_row(fr);
	free(fr);
	if (!row)
		return "no row where libdw has CFI";
	if (row->kind != want.kind)
		return "kind differs";
	if (row->cfa_off != want.cfa_off || row->rbp_off != want.rbp_off)
		return "offsets differ";
	return NULL;
}

/* Every 97th byte of .text: table row == libdw's rule. */
static void test_faithful(const char *path, const char *name)
{
	struct unwind_table *t = NULL;
	struct unwind_stats st;
	uint64_t a, first = 0, bad = 0, n = 0;
	struct sec text;
	const char *why = NULL;
	Dwarf_CFI *cfi = NULL;
	int fd = -1, err;
	Elf *elf = NULL;
	double ms;

	if (access(path, R_OK) != 0) {
		printf("SKIP %s: %s missing\n", name, path);
		return;
	}
	ms = now_ms();
	err = unwind_table__build(path, &t);
	ms = now_ms() - ms;
	if (err || (why = check_sorted(t))) {
		report(name, "build %s: %s", path, why ? why : strerror(-err));
		goto out;
	}
	fd = open(path, O_RDONLY);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	cfi = dwarf_getcfi_elf(elf);
	if (!cfi || section_of(path, ".text", &text)) {
		report(name, "libdw cannot read %s", path);
		goto out;
	}
	for (a = text.addr; a < text.addr + text.size; a += 97, n++) {
		const char *w = check_pc(t, cfi, a);

		if (w && !bad++) {
			why = w;
			first = a;
		}
	}
	unwind_table__stats(t, &st);
	printf("# bench %s build_ms %.2f rows %zu bytes %zu fdes %zu "
	       "bytes_per_text_mb %.0f samples %lu\n", path, ms, st.rows,
	       st.bytes, st.fdes, st.bytes / (text.size / 1048576.0),
	       (unsigned long)n);
	if (bad)
		report(name, "%lu of %lu pcs disagree, first %#lx: %s",
		       (unsigned long)bad, (unsigned long)n, (unsigned long)first, why);
	else
		report(name, NULL);
out:
	if (cfi)
		dwarf_cfi_end(cfi);
	elf_end(elf);
	if (fd >= 0)
		close(fd);
	unwind_table__free(t);
}

/*
 * .plt of @path: PLT0 (pushes twice, then jumps) has rsp+16 / rsp+24 rows,
 * every later 16-byte entry the PLT expression with K = 11.
 */
static void test_plt(const char *path)
{
	struct unwind_table *t = NULL;
	const struct unwind_row *r;
	struct sec plt;
	uint64_t a;
	int err;

	if (access(path, R_OK) != 0 || section_of(path, ".plt", &plt)) {
		printf("SKIP plt_rows: no %s with .plt\n", path);
		return;
	}
	err = unwind_table__build(path, &t);
	if (err) {
		report("plt_rows", "build: %s", strerror(-err));
		return;
	}
	r = unwind_table__lookup(t, plt.addr);
	if (!r || r->kind != UNWIND_RSP || r->cfa_off != 16) {
		report("plt_rows", "PLT0 is not rsp+16");
		goto out;
	}
	for (a = plt.addr + 16; a < plt.addr + plt.size; a += 5) {
		r = unwind_table__lookup(t, a);
		if (!r || r->kind != UNWIND_PLT11) {
			report("plt_rows", "%#lx: kind %d", (unsigned long)a,
			       r ? r->kind : -1);
			goto out;
		}
	}
	report("plt_rows", NULL);
out:
	unwind_table__free(t);
}

/* The row at the ELF entry point (_start) of @path must be STOP. */
static void test_stop(const char *path, const char *name)
{
	struct unwind_table *t = NULL;
	const struct unwind_row *r;
	GElf_Ehdr eh;
	int fd = open(path, O_RDONLY), err;
	Elf *elf = fd < 0 ? NULL : elf_begin(fd, ELF_C_READ, NULL);

	if (!elf || !gelf_getehdr(elf, &eh)) {
		printf("SKIP %s: cannot read %s\n", name, path);
		goto out;
	}
	err = unwind_table__build(path, &t);
	r = err ? NULL : unwind_table__lookup(t, eh.e_entry);
	if (!r || r->kind != UNWIND_STOP)
		report(name, "entry %#lx: %s kind %d", (unsigned long)eh.e_entry,
		       strerror(-err), r ? r->kind : -1);
	else
		report(name, NULL);
out:
	unwind_table__free(t);
	elf_end(elf);
	if (fd >= 0)
		close(fd);
}

/* The vDSO image this process runs, built from memory. */
static void test_vdso(void)
{
	const ElfW(Ehdr) *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	struct unwind_table *t = NULL;
	struct unwind_stats st;
	const char *why;
	size_t len;
	int err;

	if (!eh) {
		printf("SKIP vdso: no AT_SYSINFO_EHDR\n");
		return;
	}
	len = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	err = unwind_table__from_memory(eh, len, &t);
	why = err ? strerror(-err) : check_sorted(t);
	if (why) {
		report("vdso", "%s", why);
		goto out;
	}
	unwind_table__stats(t, &st);
	printf("# bench vdso fdes %zu rows %zu\n", st.fdes, st.rows);
	report("vdso", NULL);
out:
	unwind_table__free(t);
}

/* No CFI → -ENOENT; not ELF (or not x86_64) → -ENOEXEC; missing → -ENOENT. */
static void test_no_cfi(void)
{
	ElfW(Ehdr) eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64,
			     ELFDATA2LSB, EV_CURRENT },
		.e_type = ET_DYN, .e_machine = EM_X86_64,
		.e_version = EV_CURRENT, .e_ehsize = sizeof(eh),
	};
	struct unwind_table *t = NULL;
	char junk[256] = "not an ELF file";
	int e1, e2, e3, e4;

	e1 = unwind_table__from_memory(&eh, sizeof(eh), &t);
	e2 = unwind_table__from_memory(junk, sizeof(junk), &t);
	eh.e_machine = EM_AARCH64;
	e3 = unwind_table__from_memory(&eh, sizeof(eh), &t);
	e4 = unwind_table__build("/nonexistent/ember", &t);
	if (e1 != -ENOENT || e2 != -ENOEXEC || e3 != -ENOEXEC || e4 != -ENOENT)
		report("no_cfi_errors", "got %d %d %d %d", e1, e2, e3, e4);
	else
		report("no_cfi_errors", NULL);
	unwind_table__free(t);
}

int main(void)
{
	elf_version(EV_CURRENT);
	test_faithful(LIBC, "faithful_libc");
	test_faithful("/usr/bin/python3.11", "faithful_python3.11");
	test_faithful("/usr/bin/xz", "faithful_xz");
	test_faithful("/usr/bin/perl", "faithful_perl");
	test_plt("/usr/bin/xz");
	test_stop("/usr/bin/xz", "start_stop_xz");
	test_stop("/proc/self/exe", "start_stop_self");
	test_vdso();
	test_no_cfi();
	test_live();
	test_corrupt();
	test_budget();
	return 0;
}
