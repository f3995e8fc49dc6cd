// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * live.c - unwinds this test process's own stack with the reference step
 * and tables built for every loaded object: from a known call chain up to
 * _start, and from a signal handler back through __restore_rt.
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <gelf.h>
#include "tests.h"

#define MAX_FRAMES 64
#define MAX_MODS 8

/* A loaded object's executable range, bias and table. */
struct mod {
	uint64_t lo, hi, bias;
	char path[256];
	struct unwind_table *t;
};

/* Tables for this process plus the frames of one walk. */
struct walker {
	struct mod mods[MAX_MODS];
	int nmods;
	uint64_t pcs[MAX_FRAMES];
	int kinds[MAX_FRAMES];	/* row kind per frame, -1 without a row */
	int n;
	int end;		/* unwind__step's final result */
	uint64_t sig_pc;	/* interrupted pc seen by the signal handler */
	void *ra[3];		/* return addresses of f3, f2, f1 */
};

static int add_mod(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct walker *w = ctx;
	struct mod *m;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum && w->nmods < MAX_MODS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		m = &w->mods[w->nmods++];
		m->bias = info->dlpi_addr;
		m->lo = m->bias + ph->p_vaddr;
		m->hi = m->lo + ph->p_memsz;
		snprintf(m->path, sizeof(m->path), "%s",
			 info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe");
		unwind_table__build(m->path, &m->t);	/* vDSO: none */
	}
	return 0;
}

static void walker_free(struct walker *w)
{
	int i;

	for (i = 0; i < w->nmods; i++)
		unwind_table__free(w->mods[i].t);
}

static struct mod *mod_of(struct walker *w, uint64_t pc)
{
	int i;

	for (i = 0; i < w->nmods; i++) {
		if (pc >= w->mods[i].lo && pc < w->mods[i].hi)
			return &w->mods[i];
	}
	return NULL;
}

/* Read our own memory without faulting on a bad address. */
static int read_self(uint64_t addr, uint64_t *val, void *ctx)
{
	struct iovec local = { val, 8 }, remote = { (void *)addr, 8 };

	(void)ctx;
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 8)
		return -EFAULT;
	return 0;
}

/* Walk from @regs with the reference step; no allocation (signal-safe). */
static void walk(struct walker *w, struct unwind_regs regs)
{
	const struct unwind_row *row;
	struct mod *m;

	for (w->n = 0; w->n < MAX_FRAMES; w->n++) {
		m = mod_of(w, regs.pc);
		row = m && m->t ? unwind_table__lookup(m->t, regs.pc - m->bias -
						       regs.is_ret) : NULL;
		w->pcs[w->n] = regs.pc;
		w->kinds[w->n] = row ? row->kind : -1;
		w->end = unwind__step(row, &regs, read_self, NULL);
		if (w->end) {
			w->n++;
			return;
		}
	}
	w->end = -E2BIG;
}

#define CAPTURE(r) \
	asm volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" \
		     : "=r"((r).pc), "=r"((r).sp), "=r"((r).bp))

static __attribute__((noinline)) void f3(struct walker *w)
{
	struct unwind_regs r = { 0 };

	CAPTURE(r);
	w->ra[0] = __builtin_return_address(0);
	walk(w, r);
	asm volatile("" ::: "memory");	/* no tail calls in the chain */
}

static __attribute__((noinline)) void f2(struct walker *w)
{
	w->ra[1] = __builtin_return_address(0);
	f3(w);
	asm volatile("" ::: "memory");
}

static __attribute__((noinline)) void f1(struct walker *w)
{
	w->ra[2] = __builtin_return_address(0);
	f2(w);
	asm volatile("" ::: "memory");
}

/* [lo, hi) of function @name in .symtab/.dynsym of @path; 0 or -1. */
static int sym_range(const char *path, const char *name, uint64_t *lo,
		     uint64_t *hi)
{
	int fd = open(path, O_RDONLY), err = -1;
	Elf *elf = fd < 0 ? NULL : elf_begin(fd, ELF_C_READ, NULL);
	Elf_Scn *scn = NULL;
	Elf_Data *d;
	GElf_Shdr sh;
	GElf_Sym sym;
	size_t i;
	const char *s;

	while (elf && err && (scn = elf_nextscn(elf, scn)) && gelf_getshdr(scn, &sh)) {
		if ((sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !(d = elf_getdata(scn, NULL)) || !sh.sh_entsize)
			continue;
		for (i = 0; i < sh.sh_size / sh.sh_entsize && err; i++) {
			if (!gelf_getsym(d, i, &sym) || !sym.st_value)
				continue;
			s = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (s && strcmp(s, name) == 0) {
				*lo = sym.st_value;
				*hi = sym.st_value + (sym.st_size ? sym.st_size : 1);
				err = 0;
			}
		}
	}
	elf_end(elf);
	if (fd >= 0)
		close(fd);
	return err;
}

/* Index of the first frame at or after @from inside @path's @fn; -1 if none. */
static int frame_in(struct walker *w, int from, const char *path,
		    const char *fn)
{
	uint64_t lo, hi, pc;
	struct mod *m;
	int i;

	if (sym_range(path, fn, &lo, &hi))
		return -1;
	for (i = from; i < w->n; i++) {
		m = mod_of(w, w->pcs[i]);
		pc = w->pcs[i] - (i > 0);	/* callers: a return address */
		if (m && strcmp(m->path, path) == 0 && pc - m->bias >= lo &&
		    pc - m->bias < hi)
			return i;
	}
	return -1;
}

/* The end of every walk: main, libc's start code, _start with STOP. */
static const char *check_bottom(struct walker *w, int from)
{
	int m = frame_in(w, from, "/proc/self/exe", "main");

	if (w->end != -ENODATA)
		return strerror(-w->end);
	if (w->kinds[w->n - 1] != UNWIND_STOP)
		return "walk did not end on a STOP row";
	if (m < 0)
		return "main not reached";
	if (m + 1 >= w->n || !strstr(mod_of(w, w->pcs[m + 1])->path, "libc.so"))
		return "main's caller is not in libc";
	if (frame_in(w, m, LIBC, "__libc_start_main") < 0)
		return "__libc_start_main not reached";
	if (frame_in(w, m, "/proc/self/exe", "_start") != w->n - 1)
		return "last frame is not _start";
	return NULL;
}

static void test_live_unwind(struct walker *w)
{
	const char *why = NULL;
	int i;

	f1(w);
	for (i = 0; i < 3 && !why; i++) {
		if (w->n <= i + 1 || w->pcs[i + 1] != (uint64_t)w->ra[i])
			why = "return addresses differ from __builtin_return_address";
	}
	if (!why)
		why = check_bottom(w, 3);
	if (why)
		report("live_unwind", "%s (%d frames)", why, w->n);
	else
		report("live_unwind", NULL);
	printf("# bench live_unwind frames %d\n", w->n);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	struct walker *w = si->si_value.sival_ptr;
	struct unwind_regs r = { 0 };

	(void)sig;
	CAPTURE(r);
	w->sig_pc = ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
	walk(w, r);
}

/* Walk out of a signal handler through __restore_rt (a SIGNAL row). */
static void test_signal_unwind(struct walker *w)
{
	struct sigaction sa = { .sa_sigaction = on_signal,
				.sa_flags = SA_SIGINFO }, old;
	const struct mod *libc = NULL;
	const struct unwind_row *r;
	const char *why = NULL;
	int i, s = -1;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGUSR1, NULL, &old) ||
	    !(libc = mod_of(w, (uint64_t)old.sa_restorer))) {
		report("restore_rt_signal", "no sa_restorer in libc");
		return;
	}
	r = unwind_table__lookup(libc->t, (uint64_t)old.sa_restorer - 1 - libc->bias);
	report("restore_rt_signal", r && r->kind == UNWIND_SIGNAL ? NULL :
	       "row at __restore_rt - 1 is not SIGNAL");
	sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_ptr = w });
	signal(SIGUSR1, SIG_DFL);
	for (i = 0; i < w->n && s < 0; i++)
		s = w->kinds[i] == UNWIND_SIGNAL ? i : -1;
	if (s < 0 || s + 1 >= w->n || w->pcs[s + 1] != w->sig_pc)
		why = "no SIGNAL frame leading to the interrupted pc";
	if (!why)
		why = check_bottom(w, s + 1);
	if (why)
		report("signal_unwind", "%s (%d frames)", why, w->n);
	else
		report("signal_unwind", NULL);
}

void test_live(void)
{
	struct walker w = { 0 };

	dl_iterate_phdr(add_mod, &w);
	test_live_unwind(&w);
	test_signal_unwind(&w);
	walker_free(&w);
}
