// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * fde.c - lists where every FDE starts.  libdw finds the FDE for one pc
 * but cannot enumerate them, so the starts come from .eh_frame_hdr's
 * sorted table, or from walking .eh_frame / .debug_frame with
 * dwarf_next_cfi() and decoding each FDE's initial location.
 *
 * Every CIE and FDE libdw may run is also checked first (check_ops()): a
 * CFA instruction naming register N makes libdw grow the frame to N + 1
 * rules, so one crafted DW_CFA_register of 250,000,000 allocates 4 GiB.
 */
#include <dwarf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define EH_PE_OMIT	0xff
#define EH_PE_DATAREL_SDATA4	0x3b
/* Largest DWARF register a CFA instruction may name (x86_64 uses below 130). */
#define MAX_DWARF_REG	255

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

static int read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	int shift;

	*v = 0;
	for (shift = 0; *p < end; shift += 7) {
		uint8_t byte = *(*p)++;

		if (shift < 64)
			*v |= (uint64_t)(byte & 0x7f) << shift;
		else if (byte & 0x7f)
			*v = UINT64_MAX;	/* too big for anything */
		if (!(byte & 0x80))
			return 0;
	}
	return -EINVAL;
}

/* Skip a register operand: -ERANGE when it names a register beyond MAX_DWARF_REG. */
static int skip_reg(const uint8_t **p, const uint8_t *end)
{
	uint64_t v;

	if (read_uleb(p, end, &v))
		return -EINVAL;
	return v > MAX_DWARF_REG ? -ERANGE : 0;
}

/*
 * Decode the CFA instructions [@p, @end) (pointer encoding @enc for
 * DW_CFA_set_loc) and reject a register number libdw would grow a frame
 * to.  Returns 0, or -EINVAL for such a register or a set_loc it cannot
 * size.  Decoding stops, with 0, at an operand cut short or an unknown
 * opcode: libdw stops with an error there too.
 */
static int check_ops(const uint8_t *p, const uint8_t *end, uint8_t enc)
{
	static const uint8_t fixed[0x30] = {	/* bytes of a fixed-size operand */
		[0x02] = 1, [0x03] = 2, [0x04] = 4, [0x1d] = 8,
	};
	static const uint8_t enc_size[16] = {
		[0x0] = 8, [0x2] = 2, [0x3] = 4, [0x4] = 8,
		[0xa] = 2, [0xb] = 4, [0xc] = 8,
	};
	uint64_t v;
	uint8_t op;
	int err = 0;

	while (!err && p < end) {
		op = *p++;
		if (op & 0xc0) {	/* advance_loc, offset (reg <= 63), restore */
			if ((op & 0xc0) == 0x80)
				err = read_uleb(&p, end, &v);
			continue;
		}
		switch (op) {
		case 0x00: case 0x0a: case 0x0b: case 0x2d:	/* no operand */
			break;
		case 0x01:	/* set_loc */
			if (!enc_size[enc & 0x0f])
				return -ERANGE;
			p += enc_size[enc & 0x0f];
			break;
		case 0x02: case 0x03: case 0x04: case 0x1d:
			p += fixed[op];
			break;
		case 0x06: case 0x07: case 0x08: case 0x0d:	/* register */
			err = skip_reg(&p, end);
			break;
		case 0x05: case 0x09: case 0x0c: case 0x11: case 0x12:
		case 0x14: case 0x15: case 0x2f:	/* register, number */
			err = skip_reg(&p, end);
			if (!err)
				err = read_uleb(&p, end, &v);	/* an SLEB spans the same */
			break;
		case 0x0e: case 0x13: case 0x2e:	/* number */
			err = read_uleb(&p, end, &v);
			break;
		case 0x0f:	/* block */
			err = read_uleb(&p, end, &v);
			if (!err)
				p = v < (uint64_t)(end - p) ? p + v : end;
			break;
		case 0x10: case 0x16:	/* register, block */
			err = skip_reg(&p, end);
			if (!err)
				err = read_uleb(&p, end, &v);
			if (!err)
				p = v < (uint64_t)(end - p) ? p + v : end;
			break;
		default:
			return 0;
		}
	}
	return err == -ERANGE ? err : 0;
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

	/* d_buf is NULL for an SHT_NOBITS section, whatever its size */
	if (!scn || !gelf_getshdr(scn, &sh) || !(d = elf_getdata(scn, NULL)) || !d->d_buf)
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
	bool z;		/* the CIE has augmentation data ("z...") */
};

/* Encoding of the FDEs that point at the CIE at @off; its instructions checked. */
static int walk_enc(struct walk *w, Dwarf_Off off)
{
	Dwarf_CFI_Entry e;
	Dwarf_Off next;
	int err = 0;

	if (off == w->cie_off)
		return 0;
	if (dwarf_next_cfi(w->ident, w->d, w->src == FDE_EH, off, &next, &e) != 0 ||
	    !dwarf_cfi_cie_p(&e))
		return -EINVAL;
	/* .debug_frame: target-size absolute addresses */
	w->enc = 0;
	if (w->src == FDE_EH)
		err = cie_enc(&e.cie, &w->enc);
	w->z = e.cie.augmentation && e.cie.augmentation[0] == 'z';
	if (!err)
		err = check_ops(e.cie.initial_instructions, e.cie.initial_instructions_end, w->enc);
	if (!err)
		w->cie_off = off;
	return err;
}

/* Check FDE @f's instructions; push its start if @push and it covers code. */
static int walk_fde(struct builder *b, struct walk *w, const Dwarf_FDE *f, bool push)
{
	const uint8_t *p = f->start, *end = f->end;
	uint64_t here, start, len, alen;
	int err;

	err = walk_enc(w, f->CIE_pointer);
	if (err)
		return err;
	here = w->sh.sh_addr + (p - (const uint8_t *)w->d->d_buf);
	if (read_enc(w->enc, &p, end, here, 0, &start) ||
	    read_enc(w->enc & 0x0f, &p, end, 0, 0, &len))
		return -EINVAL;
	if (w->z && (read_uleb(&p, end, &alen) || alen > (uint64_t)(end - p)))
		return -EINVAL;
	if (w->z)
		p += alen;
	err = check_ops(p, end, w->enc);
	if (err)
		return err;
	return len && push ? fdes_push(b, start, w->src) : 0;
}

static int walk_open(struct builder *b, struct walk *w, Elf_Scn *scn, enum fde_src src)
{
	*w = (struct walk){ .src = src, .cie_off = (Dwarf_Off)-1 };
	w->ident = (const unsigned char *)elf_getident(b->elf, NULL);
	if (!w->ident || !gelf_getshdr(scn, &w->sh) || !(w->d = elf_getdata(scn, NULL)) ||
	    !w->d->d_buf)
		return -EINVAL;
	return 0;
}

/*
 * Walk every entry of @scn, checking each; push each FDE's start if @push.
 * Without @push (the FDEs came from .eh_frame_hdr) only what check_ops()
 * rejects fails the walk: where an entry does not parse, libdw's own walk
 * stops too.
 */
static int collect_walk(struct builder *b, Elf_Scn *scn, enum fde_src src, bool push)
{
	Dwarf_Off off = 0, next;
	Dwarf_CFI_Entry e;
	struct walk w;
	int r;

	r = walk_open(b, &w, scn, src);
	while (!r && off < w.d->d_size) {
		r = dwarf_next_cfi(w.ident, w.d, src == FDE_EH, off, &next, &e);
		if (r > 0)
			return 0;
		if (r < 0 || next <= off)
			return -EINVAL;
		if (dwarf_cfi_cie_p(&e))
			r = walk_enc(&w, off);
		else
			r = walk_fde(b, &w, &e.fde, push);
		if (r && r != -ERANGE && !push)
			return 0;
		off = next;
	}
	return r;
}

/*
 * Check the FDEs .eh_frame_hdr points libdw at: with a table, libdw reads
 * FDEs where the table says, which need not be where a walk finds them.
 */
static int check_hdr_fdes(struct builder *b, Elf_Scn *scn)
{
	struct walk w;
	struct hdr h;
	uint64_t i, start, fde;
	const uint8_t *q;
	Dwarf_CFI_Entry e;
	Dwarf_Off next;
	int err = hdr_open(b->elf, &h);

	if (err)
		return err > 0 ? 0 : err;
	err = walk_open(b, &w, scn, FDE_EH);
	for (i = 0; !err && i < h.count; i++) {
		q = h.table + 8 * i;
		if (read_enc(h.enc, &q, h.end, 0, h.addr, &start) ||
		    read_enc(h.enc, &q, h.end, 0, h.addr, &fde))
			break;	/* libdw cannot read this table either */
		/* libdw fails on an FDE it cannot find or parse: nothing runs */
		if (fde < w.sh.sh_addr || fde - w.sh.sh_addr >= w.d->d_size ||
		    dwarf_next_cfi(w.ident, w.d, true, fde - w.sh.sh_addr, &next, &e) != 0 ||
		    dwarf_cfi_cie_p(&e))
			continue;
		err = walk_fde(b, &w, &e.fde, false);
		if (err != -ERANGE)
			err = 0;
	}
	return err;
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
		scn = elf_scn_by_name(b->elf, ".eh_frame");
		if (!scn) {
			err = -EINVAL;
			goto out;
		}
		/* every entry is checked (walked) even when the table lists the FDEs */
		err = collect_hdr(b);
		if (err == 1)
			err = collect_walk(b, scn, FDE_EH, true);
		else if (!err)
			err = collect_walk(b, scn, FDE_EH, false);
		if (!err)
			err = check_hdr_fdes(b, scn);
		if (err)
			goto out;
	}
	if (b->cfi[FDE_DEBUG]) {
		scn = elf_scn_by_name(b->elf, ".debug_frame");
		err = scn ? collect_walk(b, scn, FDE_DEBUG, true) : 0;
		if (err)
			goto out;
	}
	fdes_tidy(b);
out:
	return err == -ERANGE ? -EINVAL : err;
}
