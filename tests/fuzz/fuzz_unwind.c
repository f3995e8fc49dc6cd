// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * fuzz_unwind.c - libFuzzer target over the unwind table builder (unwind/):
 * the input is any file a profiled process could map.  An input starting
 * with the ELF magic is the whole file; any other input becomes the
 * .eh_frame of a small x86_64 ELF built around it, so the fuzzer reaches
 * CIE/FDE parsing, libdw's CFA programs and the row classifier without
 * having to keep ELF headers intact.  Each file goes into a memfd and
 * through unwind_table__from_fd_limited() as the agent reads it; a table
 * that comes back must be sorted, merged and INVALID-terminated.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "unwind.h"

#define TEXT_ADDR	0x1000
#define TEXT_SIZE	0x10000
#define EH_ADDR		0x20000
#define EH_OFF		256

static const char shstrtab[] = "\0.text\0.eh_frame\0.shstrtab";

/* The ELF image around @cfi: Ehdr, one R+X PT_LOAD, .text (no bits), .eh_frame, .shstrtab. */
static uint8_t *wrap_cfi(const uint8_t *cfi, size_t n, size_t *len)
{
	size_t shoff = (EH_OFF + n + 7) & ~(size_t)7;
	uint8_t *img = calloc(1, shoff + 4 * sizeof(Elf64_Shdr));
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph;
	Elf64_Shdr *sh;

	if (!img)
		return NULL;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(*eh);
	eh->e_shoff = shoff;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	eh->e_shentsize = sizeof(*sh);
	eh->e_shnum = 4;
	eh->e_shstrndx = 3;
	ph = (Elf64_Phdr *)(img + sizeof(*eh));
	*ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0,
			    .p_vaddr = 0, .p_memsz = EH_ADDR + n, .p_align = 0x1000 };
	memcpy(img + sizeof(*eh) + sizeof(*ph), shstrtab, sizeof(shstrtab));
	memcpy(img + EH_OFF, cfi, n);
	sh = (Elf64_Shdr *)(img + shoff);
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_NOBITS, .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
			      .sh_addr = TEXT_ADDR, .sh_size = TEXT_SIZE, .sh_addralign = 16 };
	sh[2] = (Elf64_Shdr){ .sh_name = 7, .sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC,
			      .sh_addr = EH_ADDR, .sh_offset = EH_OFF, .sh_size = n, .sh_addralign = 8 };
	sh[3] = (Elf64_Shdr){ .sh_name = 17, .sh_type = SHT_STRTAB,
			      .sh_offset = sizeof(*eh) + sizeof(*ph), .sh_size = sizeof(shstrtab),
			      .sh_addralign = 1 };
	*len = shoff + 4 * sizeof(*sh);
	return img;
}

/* The invariants BPF relies on (tests/unwind/test_unwind.c: check_sorted()). */
static void check_table(const struct unwind_table *t)
{
	const struct unwind_row *rows;
	struct unwind_stats st;
	size_t n, i;

	rows = unwind_table__rows(t, &n);
	unwind_table__stats(t, &st);
	if (!n || rows[0].pc_off != 0 || rows[n - 1].kind != UNWIND_INVALID || st.rows != n)
		abort();
	for (i = 1; i < n; i++)
		if (rows[i].pc_off <= rows[i - 1].pc_off ||
		    (rows[i].kind == rows[i - 1].kind && rows[i].cfa_off == rows[i - 1].cfa_off &&
		     rows[i].rbp_off == rows[i - 1].rbp_off))
			abort();
	for (i = 0; i < n; i++)
		if (unwind_table__lookup(t, unwind_table__base(t) + rows[i].pc_off) != (i + 1 < n ? &rows[i] : NULL))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* small budgets: a quadratic input must end well inside libFuzzer's -timeout */
	static const struct unwind_limits lim = { .max_cfi_rows = 100000, .max_ns = 500000000 };
	struct unwind_table *t = NULL;
	uint8_t *img = NULL;
	size_t len = size;
	int fd;

	if (size < SELFMAG || memcmp(data, ELFMAG, SELFMAG)) {
		img = wrap_cfi(data, size, &len);
		if (!img)
			return 0;
		data = img;
	}
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (len && write(fd, data, len) != (ssize_t)len)
		abort();
	if (!unwind_table__from_fd_limited(fd, &lim, &t))
		check_table(t);
	unwind_table__free(t);
	close(fd);
	free(img);
	return 0;
}
