// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * python_elf.c - where a CPython executable or libpython keeps what the
 * Python walk needs (_PyRuntime, Py_Version, PyCode_Type, the eval loop
 * and its .cold part), and its load bias where it is mapped.
 */
#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
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

/*
 * Reads the symbols and the load bias of the file mapped at @start from
 * file offset @pgoff (open as @fd, which stays open).  Returns 0 or -errno.
 */
int python_elf__read(int fd, uint64_t start, uint64_t pgoff, struct py_syms *s,
		    uint64_t *bias)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	GElf_Phdr ph;
	GElf_Sym sym;
	Elf_Data *data;
	size_t nph, i, n;
	bool found = false;
	const char *name;
	Elf *elf;
	int err = -ENOEXEC;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nph))
		goto cleanup;
	for (i = 0; i < nph; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (pgoff >= (ph.p_offset & ~0xfffULL) && pgoff < ph.p_offset + ph.p_filesz) {
			*bias = start - (ph.p_vaddr - (ph.p_offset - pgoff));
			found = true;
			break;
		}
	}
	if (!found)
		goto cleanup;
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
				take_sym(s, name, &sym);
		}
	}
	err = 0;
cleanup:
	elf_end(elf);
	return err;
}
