// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * python_elf.c - where a CPython executable or libpython keeps what the
 * Python walk needs (_PyRuntime, Py_Version, PyCode_Type, the eval loop
 * and its .cold part), and its load bias where it is mapped; each file read
 * once while it stays the same.
 */
#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "file.h"
#include "internal.h"

static void take_sym(struct py_syms *s, const char *name, const GElf_Sym *sym)
{
	if (!strcmp(name, "_PyRuntime"))
		s->runtime = sym->st_value;
	else if (!strcmp(name, "Py_Version"))
		s->version = sym->st_value;
	else if (!strcmp(name, "PyCode_Type"))
		s->code_type = sym->st_value;
	else if (!strcmp(name, "_PyEval_EvalFrameDefault")) {
		s->eval = sym->st_value;
		s->eval_size = sym->st_size;
	} else if (!strcmp(name, "_PyEval_EvalFrameDefault.cold")) {
		s->cold = sym->st_value;
		s->cold_size = sym->st_size;
	}
}

/* Reads @fd's CPython symbols and load segments into @e (its identity set by the caller). */
static int elf_read(int fd, struct py_elf *e)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	GElf_Phdr ph;
	GElf_Sym sym;
	Elf_Data *data;
	size_t nph, i, n;
	const char *name;
	Elf *elf;
	int err = -ENOEXEC;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nph))
		goto cleanup;
	for (i = 0; i < nph && e->nload < PY_ELF_LOADS; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		e->load[e->nload].off = ph.p_offset;
		e->load[e->nload].vaddr = ph.p_vaddr;
		e->load[e->nload].filesz = ph.p_filesz;
		e->nload++;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || !(data = elf_getdata(scn, NULL)))
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (name && (name[0] == '_' || name[0] == 'P'))
				take_sym(&e->s, name, &sym);
		}
	}
	err = 0;
cleanup:
	elf_end(elf);
	return err;
}

/*
 * The file @st describes, read before or now into the cache's oldest
 * slot.  Keyed by device, inode, change time and size: an inode number is
 * reused only once its file is gone, and a file changed in place has a new
 * change time.
 */
static const struct py_elf *elf_get(struct py_elf_cache *c, int fd, const struct stat *st)
{
	struct py_elf *e;
	unsigned int i;

	for (i = 0; i < PY_ELF_CACHE; i++) {
		e = &c->e[i];
		if (e->used && e->dev == st->st_dev && e->ino == st->st_ino &&
		    e->size == st->st_size && e->ctime.tv_sec == st->st_ctim.tv_sec &&
		    e->ctime.tv_nsec == st->st_ctim.tv_nsec)
			return e;
	}
	e = &c->e[c->next++ % PY_ELF_CACHE];
	*e = (struct py_elf){ .used = true, .dev = st->st_dev, .ino = st->st_ino,
			      .size = st->st_size, .ctime = st->st_ctim };
	e->err = elf_read(fd, e);
	return e;
}

int python_elf__read(struct py_elf_cache *c, int fd, uint64_t start, uint64_t pgoff,
		     struct py_syms *s, uint64_t *bias)
{
	const struct py_elf *e;
	struct stat st;
	unsigned int i;

	if (fstat(fd, &st))
		return -errno;
	e = elf_get(c, fd, &st);
	if (e->err)
		return e->err;
	for (i = 0; i < e->nload; i++) {
		if (pgoff >= (e->load[i].off & ~0xfffULL) && pgoff < e->load[i].off + e->load[i].filesz) {
			*bias = start - (e->load[i].vaddr - (e->load[i].off - pgoff));
			*s = e->s;
			return 0;
		}
	}
	return -ENOEXEC;
}
