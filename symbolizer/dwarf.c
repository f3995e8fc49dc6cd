// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * dwarf.c - names one ELF virtual address through libdwfl: DWARF for
 * file:line and the inline chain, the symbol table (symtab.c) for the
 * function, and libdwfl's standard search for separate debug files
 * (build-id and .gnu_debuglink).  One Dwfl per ELF file, reported so that
 * module addresses are the ELF's own virtual addresses.
 */
#include <dwarf.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <elfutils/libdwfl.h>
#include "internal.h"

struct dwfl_file {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf_Addr bias;	/* module address - ELF vaddr */
	struct symtab *symtab;	/* loaded on the first lookup */
};

/* NULL debuginfo_path: the default ":.debug:/usr/lib/debug" search. */
static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = NULL,
};

/*
 * @fd is consumed.  @path must be the file's real name: debug files are
 * looked up next to it.  Base 0 with add_p_vaddr keeps module addresses
 * equal to ELF vaddrs for both ET_EXEC and ET_DYN.
 */
int dwfl_file__open(int fd, const char *path, const char *name, struct dwfl_file **out)
{
	struct dwfl_file *df = calloc(1, sizeof(*df));
	int err = 0;

	*out = NULL;
	if (!df) {
		err = -ENOMEM;
		goto out;
	}
	df->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!df->dwfl) {
		err = -ENOMEM;
		goto out;
	}
	dwfl_report_begin(df->dwfl);
	df->mod = dwfl_report_elf(df->dwfl, name, path, fd, 0, true);
	dwfl_report_end(df->dwfl, NULL, NULL);
	if (!df->mod || !dwfl_module_getelf(df->mod, &df->bias))
		goto out;
	fd = -1;	/* owned by the module now */
	*out = df;
	df = NULL;
out:
	if (fd >= 0 && (!df || !df->mod))
		close(fd);
	dwfl_file__free(df);
	return err;
}

void dwfl_file__free(struct dwfl_file *df)
{
	if (!df)
		return;
	symtab__free(df->symtab);
	if (df->dwfl)
		dwfl_end(df->dwfl);
	free(df);
}

/*
 * Loads DWARF (main or separate file) once.  A file that carries
 * .debug_info but yields no DWARF is broken; a file without any is not.
 */
int dwfl_file__dwarf_broken(struct dwfl_file *df, int has_debug_info)
{
	Dwarf_Addr bias;

	return !dwfl_module_getdwarf(df->mod, &bias) && has_debug_info;
}

/* Linkage name if any (matches the symbol table), else the plain name. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	return name ? name : dwarf_diename(die);
}

static int is_function(Dwarf_Die *die)
{
	int tag = dwarf_tag(die);

	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
	       tag == DW_TAG_entry_point;
}

/* Where an inlined instance was called from, in its CU's file table. */
static void call_site(Dwarf_Die *inl, Dwarf_Files *files, const char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word val;

	*file = NULL;
	*line = 0;
	if (files && dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &val) == 0)
		*file = dwarf_filesrc(files, val, NULL, NULL);
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &val) == 0)
		*line = val;
}

/* Interns one frame's strings into @f; returns 0 or -ENOMEM. */
static int frame_set(struct sym_frame *f, struct strpool *pool, const char *name,
		     const char *module, const char *file, int line, uint32_t flags)
{
	f->name = strpool__intern(pool, name);
	f->module = module;
	f->file = file ? strpool__intern(pool, file) : NULL;
	f->line = line > 0 ? line : 0;
	f->flags = flags;
	if (!f->name || (file && !f->file))
		return -ENOMEM;
	return 0;
}

/*
 * The physical nesting of the innermost scope at @addr, innermost first
 * (as eu-addr2line -i does: dwarf_getscopes() would follow the abstract
 * origin instead of the caller).  Returns the count, 0 when none.
 */
static int scopes_at(struct dwfl_file *df, Dwarf_Addr addr, Dwarf_Die **scopes,
		     Dwarf_Files **files)
{
	Dwarf_Die *cudie, *inner = NULL, die;
	Dwarf_Addr bias;
	int n;

	*scopes = NULL;
	*files = NULL;
	cudie = dwfl_module_addrdie(df->mod, addr, &bias);
	if (!cudie)
		return 0;
	n = dwarf_getscopes(cudie, addr - bias, &inner);
	if (n > 0)
		die = inner[0];
	free(inner);
	if (n <= 0)
		return 0;
	if (dwarf_getsrcfiles(cudie, files, NULL) != 0)
		*files = NULL;
	n = dwarf_getscopes_die(&die, scopes);
	return n > 0 ? n : 0;
}

/* Walks the inline chain outwards up to the real function. */
static int dwarf_frames(struct dwfl_file *df, Dwarf_Addr addr, struct strpool *pool,
			const char *module, struct sym_frame *out)
{
	const char *file = NULL;
	Dwarf_Files *files;
	Dwarf_Die *scopes;
	Dwfl_Line *dl;
	int i, n, line = 0, nf = 0, err = 0;

	dl = dwfl_module_getsrc(df->mod, addr);
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	n = scopes_at(df, addr, &scopes, &files);
	for (i = 0; i < n && nf < SYM_MAX_INLINE && !err; i++) {
		int tag = dwarf_tag(&scopes[i]);
		const char *name;

		if (!is_function(&scopes[i]))
			continue;
		name = die_name(&scopes[i]);
		err = frame_set(&out[nf++], pool, name ? name : "??", module, file, line,
				tag == DW_TAG_inlined_subroutine ? SYM_F_INLINE : 0);
		if (tag != DW_TAG_inlined_subroutine)
			break;
		call_site(&scopes[i], files, &file, &line);
	}
	free(scopes);
	if (!err && !nf && file)	/* lines but no DIE: let the symbol name it */
		err = frame_set(&out[nf++], pool, "??", module, file, line, 0);
	return err ? err : nf;
}

/*
 * Fills @out with the frames of @vaddr, innermost first.  Returns the
 * number of frames (0 when the address has no name at all) or -ENOMEM.
 */
int dwfl_file__resolve(struct dwfl_file *df, uint64_t vaddr, struct strpool *pool,
		       const char *module, struct sym_frame *out)
{
	Dwarf_Addr addr = vaddr + df->bias;
	const char *symname, *name;
	int n;

	if (!df->symtab) {
		df->symtab = symtab__load(df->mod);
		if (!df->symtab)
			return -ENOMEM;
	}
	n = dwarf_frames(df, addr, pool, module, out);
	if (n < 0)
		return n;
	symname = symtab__find(df->symtab, addr);
	if (symname && *symname) {
		name = strpool__intern(pool, symname);
		if (!name)
			return -ENOMEM;
		if (!n)
			return frame_set(&out[0], pool, name, module, NULL, 0, 0) ? -ENOMEM : 1;
		out[n - 1].name = name;
		out[n - 1].flags &= ~SYM_F_INLINE;
	}
	if (n && !symname && out[n - 1].name[0] == '?' && out[n - 1].name[1] == '?')
		return 0;
	return n;
}
