// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * fde.c - lists where every FDE starts.  libdw finds the FDE for one pc
 * but cannot enumerate them, so the starts come from .eh_frame_hdr's
 * sorted table, or from walking .eh_frame / .debug_frame with
 * dwarf_next_cfi() and decoding each FDE's initial location.
 */
#include <dwarf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define EH_PE_OMIT	0xff
#define EH_PE_DATAREL_SDATA4	0x3b

/* One PT_LOAD + PF_X range; FDEs outside them are discarded leftovers. */
struct xrange {
	uint64_t lo, hi;
};

Elf_Scn *elf_scn_by_name(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t strndx;
	const char *s;

	if (elf_getshdrstrndx(elf, &strndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh))
			return NULL;
		s = elf_strptr(elf, strndx, sh.sh_name);
		if (s && strcmp(s, name) == 0)
			return scn;
	}
	return NULL;
}

static int fdes_push(struct builder *b, uint64_t start, enum fde_src src)
{
	struct fde_ref *v;
	size_t cap;

	if (b->nfdes == b->capfdes) {
		cap = b->capfdes ? b->capfdes * 2 : 1024;
		v = realloc(b->fdes, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->fdes = v;
		b->capfdes = cap;
	}
	b->fdes[b->nfdes++] = (struct fde_ref){ .start = start, .src = src };
	return 0;
}

/*
 * Decode one DW_EH_PE_* encoded pointer at *@p (advanced past it); the
 * field itself sits at ELF vaddr @here, @data is the datarel base.
 */
static int read_enc(uint8_t enc, const uint8_t **p, const uint8_t *end,
		    uint64_t here, uint64_t data, uint64_t *out)
{
	static const uint8_t size[16] = {
		[0x0] = 8, [0x2] = 2, [0x3] = 4, [0x4] = 8,
		[0xa] = 2, [0xb] = 4, [0xc] = 8,
	};
	uint8_t n = size[enc & 0x0f];
	uint64_t v = 0;

	if (n == 0 || end - *p < n)
		return -EINVAL;
	memcpy(&v, *p, n);	/* little-endian host and file */
	if ((enc & 0x08) && n < 8 && (v >> (n * 8 - 1)))
		v |= ~0ULL << (n * 8);	/* sign-extend sdata2/4 */
	*p += n;
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += here; break;
	case 0x30: v += data; break;
	default: return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Where .eh_frame_hdr's sorted table is, if it has the usual form. */
struct hdr {
	const uint8_t *table, *end;
	uint64_t count, addr;
	uint8_t enc;
};

/* Parse the .eh_frame_hdr header: 0, 1 when absent or unusual, -EINVAL. */
static int hdr_open(Elf *elf, struct hdr *h)
{
	Elf_Scn *scn = elf_scn_by_name(elf, ".eh_frame_hdr");
	const uint8_t *p, *b;
	uint64_t ptr;
	Elf_Data *d;
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh) || !(d = elf_getdata(scn, NULL)))
		return 1;
	b = d->d_buf;
	if (d->d_size < 4 || b[0] != 1 || b[3] != EH_PE_DATAREL_SDATA4 ||
	    b[1] == EH_PE_OMIT || b[2] == EH_PE_OMIT)
		return 1;	/* walk .eh_frame instead */
	*h = (struct hdr){ .end = b + d->d_size, .addr = sh.sh_addr,
			   .enc = b[3] };
	p = b + 4;
	if (read_enc(b[1], &p, h->end, h->addr + 4, h->addr, &ptr) ||
	    read_enc(b[2], &p, h->end, h->addr + (p - b), h->addr, &h->count) ||
	    h->count > (uint64_t)(h->end - p) / 8)
		return -EINVAL;
	h->table = p;
	return 0;
}

/*
 * The .eh_frame_hdr table (pairs of initial location, FDE address), the
 * linker's own sorted index: 0 when used, 1 when absent or unusual.
 */
static int collect_hdr(struct builder *b)
{
	struct hdr h;
	uint64_t i, start;
	const uint8_t *q;
	int err = hdr_open(b->elf, &h);

	for (i = 0; !err && i < h.count; i++) {
		q = h.table + 8 * i;
		err = read_enc(h.enc, &q, h.end, 0, h.addr, &start);
		if (!err)
			err = fdes_push(b, start, FDE_EH);
	}
	return err;
}

/* The FDE pointer encoding from a CIE's augmentation ('R'), else absptr. */
static int cie_enc(const Dwarf_CIE *cie, uint8_t *enc)
{
	const char *a = cie->augmentation;
	const uint8_t *p = cie->augmentation_data;
	const uint8_t *end = p + cie->augmentation_data_size;
	uint64_t skip;

	*enc = 0;
	if (!a || a[0] != 'z')
		return 0;
	for (a++; *a; a++) {
		if (*a == 'S' || *a == 'B')
			continue;
		if (!p || p >= end)
			return -EINVAL;
		switch (*a) {
		case 'R':
			*enc = *p++;
			break;
		case 'L':
			p++;
			break;
		case 'P':
			p++;
			if (read_enc(p[-1] & 0x0f, &p, end, 0, 0, &skip))
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/* One CFI section being walked, with the last CIE's encoding cached. */
struct walk {
	const unsigned char *ident;
	Elf_Data *d;
	GElf_Shdr sh;
	enum fde_src src;
	Dwarf_Off cie_off;
	uint8_t enc;
};

/* Encoding of the FDEs that point at the CIE at @off. */
static int walk_enc(struct walk *w, Dwarf_Off off)
{
	Dwarf_CFI_Entry e;
	Dwarf_Off next;
	int err;

	if (w->src == FDE_DEBUG)
		return 0;	/* .debug_frame: target-size absolute address */
	if (off == w->cie_off)
		return 0;
	if (dwarf_next_cfi(w->ident, w->d, true, off, &next, &e) != 0 ||
	    !dwarf_cfi_cie_p(&e))
		return -EINVAL;
	err = cie_enc(&e.cie, &w->enc);
	if (!err)
		w->cie_off = off;
	return err;
}

/* Push the start of FDE @f unless it covers no code. */
static int walk_fde(struct builder *b, struct walk *w, const Dwarf_FDE *f)
{
	const uint8_t *p = f->start, *end = f->end;
	uint64_t here, start, len;
	int err;

	err = walk_enc(w, f->CIE_pointer);
	if (err)
		return err;
	here = w->sh.sh_addr + (p - (const uint8_t *)w->d->d_buf);
	if (read_enc(w->enc, &p, end, here, 0, &start) ||
	    read_enc(w->enc & 0x0f, &p, end, 0, 0, &len))
		return -EINVAL;
	return len ? fdes_push(b, start, w->src) : 0;
}

/* Walk every entry of @scn and push each FDE's start. */
static int collect_walk(struct builder *b, Elf_Scn *scn, enum fde_src src)
{
	struct walk w = { .src = src, .cie_off = (Dwarf_Off)-1 };
	Dwarf_Off off = 0, next;
	Dwarf_CFI_Entry e;
	int r;

	w.ident = (const unsigned char *)elf_getident(b->elf, NULL);
	if (!w.ident || !gelf_getshdr(scn, &w.sh) ||
	    !(w.d = elf_getdata(scn, NULL)))
		return -EINVAL;
	while (off < w.d->d_size) {
		r = dwarf_next_cfi(w.ident, w.d, src == FDE_EH, off, &next, &e);
		if (r > 0)
			break;
		if (r < 0 || next <= off)
			return -EINVAL;
		off = next;
		if (dwarf_cfi_cie_p(&e))
			continue;
		r = walk_fde(b, &w, &e.fde);
		if (r)
			return r;
	}
	return 0;
}

static int cmp_fde(const void *a, const void *b)
{
	const struct fde_ref *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return (int)x->src - (int)y->src;
}

/* True when @a is in an executable PT_LOAD, or the file has none. */
static bool in_exec(Elf *elf, uint64_t a)
{
	size_t i, n;
	GElf_Phdr ph;
	bool any = false;

	if (elf_getphdrnum(elf, &n) != 0)
		return true;
	for (i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_X))
			continue;
		any = true;
		if (a >= ph.p_vaddr && a - ph.p_vaddr < ph.p_memsz)
			return true;
	}
	return !any;
}

/*
 * Sort, then keep one entry per start, drop starts outside code and
 * .debug_frame starts that .eh_frame already describes.
 */
static void fdes_tidy(struct builder *b)
{
	Dwarf_Frame *fr;
	size_t i, n = 0;

	if (b->nfdes)	/* fdes is NULL when there are none */
		qsort(b->fdes, b->nfdes, sizeof(*b->fdes), cmp_fde);
	for (i = 0; i < b->nfdes; i++) {
		struct fde_ref f = b->fdes[i];

		if (n && b->fdes[n - 1].start == f.start)
			continue;
		if (!in_exec(b->elf, f.start))
			continue;
		if (f.src == FDE_DEBUG && b->cfi[FDE_EH] &&
		    dwarf_cfi_addrframe(b->cfi[FDE_EH], f.start, &fr) == 0) {
			free(fr);
			continue;
		}
		b->fdes[n++] = f;
	}
	b->nfdes = n;
}

int fdes__collect(struct builder *b)
{
	Elf_Scn *scn;
	int err = 0;

	if (b->cfi[FDE_EH]) {
		err = collect_hdr(b);
		scn = elf_scn_by_name(b->elf, ".eh_frame");
		if (err == 1)
			err = scn ? collect_walk(b, scn, FDE_EH) : -EINVAL;
		if (err)
			goto out;
	}
	if (b->cfi[FDE_DEBUG]) {
		scn = elf_scn_by_name(b->elf, ".debug_frame");
		err = scn ? collect_walk(b, scn, FDE_DEBUG) : 0;
		if (err)
			goto out;
	}
	fdes_tidy(b);
out:
	return err;
}
