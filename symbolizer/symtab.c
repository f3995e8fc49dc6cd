// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * symtab.c - a sorted copy of one module's function symbols.  libdwfl's
 * dwfl_module_addrinfo() scans every symbol on each call (a third of the
 * cost of a cache miss in libc), so the table is read once through
 * libdwfl (.symtab, else .dynsym, from the file or its debug file) and
 * binary-searched after that.  libdwfl hands out a name as a pointer into
 * its string table without checking that it ends there: a file read with
 * ELF_C_READ has each section in a buffer of exactly its size, so every
 * name is checked to end inside a string table of its file (str_ranges).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <elfutils/libdwfl.h>
#include "internal.h"

/* A sizeless symbol (hand-written assembly) covers at most this much. */
#define SIZELESS_MAX 4096

struct sym_ent {
	uint64_t addr, size;	/* module addresses */
	const char *name;	/* owned by the Dwfl */
	int rank;		/* global, weak, local: lower wins at one address */
};

struct symtab {
	struct sym_ent *ents;
	size_t n;
};

/* The string tables of one ELF file's symbol tables (.symtab, .dynsym). */
struct str_ranges {
	Elf *elf;
	int n;
	struct { const char *lo, *hi; } r[4];
};

static void str_ranges_load(struct str_ranges *sr, Elf *elf)
{
	Elf_Scn *scn = NULL;
	Elf_Data *d;
	GElf_Shdr sh;

	sr->elf = elf;
	sr->n = 0;
	while (elf && sr->n < 4 && (scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		d = elf_getdata(elf_getscn(elf, sh.sh_link), NULL);
		if (d && d->d_buf && d->d_size) {
			sr->r[sr->n].lo = d->d_buf;
			sr->r[sr->n++].hi = (const char *)d->d_buf + d->d_size;
		}
	}
}

/* Whether @name (from @elf) ends with a NUL inside one of its string tables. */
static bool name_in_bounds(struct str_ranges *sr, Elf *elf, const char *name)
{
	int i;

	if (elf != sr->elf)
		str_ranges_load(sr, elf);
	for (i = 0; i < sr->n; i++)
		if (name >= sr->r[i].lo && name < sr->r[i].hi)
			return memchr(name, '\0', sr->r[i].hi - name) != NULL;
	return false;
}

static int bind_rank(int bind)
{
	return bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
}

static int sym_ent_cmp(const void *a, const void *b)
{
	const struct sym_ent *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->rank - y->rank;
}

static bool sym_wanted(const GElf_Sym *s, GElf_Word shndx, GElf_Addr addr, const char *name)
{
	int type = GELF_ST_TYPE(s->st_info);

	return name && *name && addr && shndx != SHN_UNDEF &&
	       (type == STT_FUNC || type == STT_GNU_IFUNC);
}

/* Returns the table (maybe empty), or NULL with errno ENOMEM. */
struct symtab *symtab__load(struct Dwfl_Module *mod)
{
	struct symtab *st = calloc(1, sizeof(*st));
	int i, n = dwfl_module_getsymtab(mod);
	struct str_ranges sr = { 0 };
	GElf_Word shndx;
	Elf *elf;
	GElf_Addr addr;
	GElf_Sym s;

	if (!st)
		return NULL;
	if (n <= 0)
		return st;
	st->ents = calloc(n, sizeof(*st->ents));
	if (!st->ents) {
		free(st);
		return NULL;
	}
	for (i = 1; i < n; i++) {
		const char *name = dwfl_module_getsym_info(mod, i, &s, &addr, &shndx, &elf, NULL);

		if (!sym_wanted(&s, shndx, addr, name) || !name_in_bounds(&sr, elf, name))
			continue;
		st->ents[st->n++] = (struct sym_ent){ addr, s.st_size, name,
						      bind_rank(GELF_ST_BIND(s.st_info)) };
	}
	qsort(st->ents, st->n, sizeof(*st->ents), sym_ent_cmp);
	return st;
}

void symtab__free(struct symtab *st)
{
	if (!st)
		return;
	free(st->ents);
	free(st);
}

/* First entry above @addr. */
static size_t symtab_upper(const struct symtab *st, uint64_t addr)
{
	size_t lo = 0, hi = st->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->ents[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool sym_covers(const struct sym_ent *e, uint64_t addr, uint64_t next)
{
	if (e->size)
		return addr - e->addr < e->size;
	return addr < next && addr - e->addr < SIZELESS_MAX;
}

/*
 * The name of the function holding module address @addr, or NULL.  The
 * first symbol at the closest start wins; a few earlier ones are tried
 * for symbols nested in a larger one.
 */
const char *symtab__find(const struct symtab *st, uint64_t addr)
{
	size_t up = symtab_upper(st, addr), i, first;
	uint64_t next = up < st->n ? st->ents[up].addr : UINT64_MAX;

	for (i = up; i > 0 && up - i < 4; i--) {
		first = i - 1;
		while (first > 0 && st->ents[first - 1].addr == st->ents[i - 1].addr)
			first--;
		if (sym_covers(&st->ents[first], addr, next))
			return st->ents[first].name;
		i = first + 1;
	}
	return NULL;
}
