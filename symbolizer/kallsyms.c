// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * kallsyms.c - kernel text symbols from /proc/kallsyms, sorted and
 * binary-searched.  Only text symbols are kept and aliases at one address
 * collapse to the most telling one, which also halves the table.  The
 * table lives as long as the agent (over 100,000 symbols), so it is kept
 * compact: 8 bytes a symbol (the address's low half and the name's offset
 * in one blob of names) besides the names themselves, with the address's
 * high half and the module stored once per run of symbols sharing them.
 * Modules and BPF programs come and go: the table is read again when
 * /proc/modules changes, when the loaded BPF programs changed and samples
 * fell in BPF code, or when sampled addresses fall past every known symbol
 * (rate-limited, and backing off while re-reading changes nothing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "internal.h"
#include "log.h"

/*
 * A symbol that is the last of its module has no known end; past this
 * distance the address is called unknown rather than blamed on it.
 */
#define KSYM_LAST_MAX_SIZE (64 * 1024)

/* How often /proc/modules is looked at, and how soon an unknown address re-reads the table. */
#define MODULES_CHECK_MS 5000
#define RELOAD_MIN_MS 10000
#define RELOAD_MAX_MS (600 * 1000)
#define MODULES_MAX_BYTES (1 << 20)

/* One symbol while the file is read, before sorting (16 bytes: a reload's peak). */
struct ksym {
	uint64_t addr;
	uint32_t name_off;	/* into kallsyms.names, growing in file order */
	uint16_t mod;		/* into kallsyms.modv */
	uint8_t rank;		/* type preference */
};

/* A run of symbols (from index @first on) sharing a value: an address's high half, a module. */
struct krun {
	uint32_t first;
	uint32_t hi;		/* runs of high halves */
	const char *module;	/* runs of modules */
};

struct kallsyms {
	size_t n;
	uint32_t *lo;		/* low half of each address, ascending within a high run */
	uint32_t *name_off;	/* into names */
	struct krun *hi, *mods;
	size_t nhi, nmods;
	char *names;
	size_t names_len, names_cap;
	struct ksym *tmp;	/* only while loading */
	size_t tmp_cap;
	const char **modv;	/* only while loading: the interned modules seen */
	size_t nmodv;
	struct hmap frames;	/* symbol index -> struct frames */
	struct hmap build_ids;	/* interned module -> interned build id, "" when none */
	struct strpool *pool;
	uint64_t sum;		/* of every (address, name): tells a reload that changed nothing */
	uint64_t modules_sum;	/* of /proc/modules when the table was read */
	uint64_t bpf_sum;	/* of the loaded BPF programs' ids then */
	const char *bpf_module;	/* interned "bpf": BPF programs' module */
	uint64_t bpf_hits;	/* lookups in BPF programs since the last reload */
	uint64_t unsure;	/* lookups past every known symbol since the last reload */
	uint64_t modules_at, reload_at;	/* when the next check may run (ms) */
	uint64_t backoff_ms;	/* wait after an unknown address before a re-read */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

/*
 * A sum of the ids of the loaded BPF programs (0 when they cannot be
 * listed): a new program may sit between two known ones, where no address
 * looks unknown.
 */
static uint64_t bpf_progs_sum(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	__u32 id = 0;

	while (!bpf_prog_get_next_id(id, &id))
		h = fnv(h, &id, sizeof(id));
	return errno == ENOENT ? h : 0;
}

/* A sum of /proc/modules (0 where there are no modules): changes when one is (un)loaded. */
static uint64_t modules_sum(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	char buf[4096];
	size_t total = 0;
	ssize_t n;
	int fd;

	fd = open("/proc/modules", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	while (total < MODULES_MAX_BYTES && (n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv(h, buf, n);
		total += n;
	}
	close(fd);
	return h;
}

/* Global text first, then weak, then local: the name most likely to be recognised. */
static int type_rank(char type)
{
	switch (type) {
	case 'T': return 0;
	case 'W': return 1;
	case 't': return 2;
	case 'w': return 3;
	default: return -1;
	}
}

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->name_off < y->name_off ? -1 : x->name_off > y->name_off;
}

static int names_add(struct kallsyms *ks, const char *name, uint32_t *off)
{
	size_t len = strlen(name) + 1;
	char *p;

	if (ks->names_len + len > ks->names_cap) {
		size_t cap = ks->names_cap ? ks->names_cap * 2 : 1 << 20;

		p = realloc(ks->names, cap);
		if (!p)
			return -ENOMEM;
		ks->names = p;
		ks->names_cap = cap;
	}
	memcpy(ks->names + ks->names_len, name, len);
	*off = ks->names_len;
	ks->names_len += len;
	return 0;
}

/* Sets *@idx to interned @name's index in ks->modv, adding it; 0 or -errno. */
static int kallsyms_mod(struct kallsyms *ks, const char *name, uint16_t *idx)
{
	const char *mod = strpool__intern(ks->pool, name);
	size_t i = ks->nmodv;
	const char **v;

	if (!mod)
		return -ENOMEM;
	/* a module's symbols come together: the last one is nearly always it */
	while (i > 0 && ks->modv[i - 1] != mod)
		i--;
	if (i) {
		*idx = i - 1;
		return 0;
	}
	if (ks->nmodv > UINT16_MAX)
		return -E2BIG;
	v = realloc(ks->modv, (ks->nmodv + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ks->modv = v;
	ks->modv[ks->nmodv] = mod;
	*idx = ks->nmodv++;
	return 0;
}

/*
 * Parses "addr type name[\t[module]]" and appends text symbols; skips the
 * rest.  By hand, not sscanf(): a re-read parses 100,000 lines or more.
 */
static int kallsyms_add_line(struct kallsyms *ks, char *line)
{
	char *name, *end, *mod = NULL, *p;
	unsigned long long addr;
	struct ksym *s;
	int rank, err;
	char type;

	errno = 0;
	addr = strtoull(line, &p, 16);
	if (p == line || errno || p[0] != ' ' || !p[1] || p[2] != ' ')
		return 0;
	type = p[1];
	name = p + 3;
	end = name + strcspn(name, " \t\n");
	if (end == name || end - name > 511)
		return 0;
	if (end[0] == '\t' && end[1] == '[') {
		mod = end + 2;
		p = strchr(mod, ']');
		if (!p || p == mod || p - mod > 127)
			return 0;
		*p = '\0';
	}
	*end = '\0';
	rank = type_rank(type);
	if (rank < 0 || !addr)
		return 0;
	if (ks->n == ks->tmp_cap) {
		size_t cap = ks->tmp_cap ? ks->tmp_cap * 2 : 65536;

		s = realloc(ks->tmp, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		ks->tmp = s;
		ks->tmp_cap = cap;
	}
	s = &ks->tmp[ks->n];
	s->addr = addr;
	s->rank = rank;
	err = kallsyms_mod(ks, mod ? mod : "vmlinux", &s->mod);
	if (err)
		return err;
	ks->n++;
	return names_add(ks, name, &s->name_off);
}

/* Appends a run starting at symbol @first; 0 or -ENOMEM. */
static int krun_add(struct krun **runs, size_t *n, struct krun run)
{
	struct krun *p;

	if (!(*n & (*n - 1)) || !*n) {	/* at powers of two: 1, 2, 4, ... */
		p = realloc(*runs, (*n ? *n * 2 : 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*runs = p;
	}
	(*runs)[(*n)++] = run;
	return 0;
}

/*
 * Sorts, keeps only the preferred symbol at each address, and builds the
 * compact table from what is left; the names' blob gives back the room
 * its growth reserved.
 */
static int kallsyms_sort(struct kallsyms *ks)
{
	const struct ksym *s;
	size_t i, out = 0;
	void *p;

	qsort(ks->tmp, ks->n, sizeof(*ks->tmp), ksym_cmp);
	ks->sum = 0xcbf29ce484222325ULL;
	ks->lo = malloc((ks->n ? ks->n : 1) * sizeof(*ks->lo));
	ks->name_off = malloc((ks->n ? ks->n : 1) * sizeof(*ks->name_off));
	if (!ks->lo || !ks->name_off)
		return -ENOMEM;
	for (i = 0; i < ks->n; i++) {
		s = &ks->tmp[i];
		if (i && s[-1].addr == s->addr)
			continue;
		if ((!ks->nhi || ks->hi[ks->nhi - 1].hi != s->addr >> 32) &&
		    krun_add(&ks->hi, &ks->nhi, (struct krun){ .first = out, .hi = s->addr >> 32 }))
			return -ENOMEM;
		if ((!ks->nmods || ks->mods[ks->nmods - 1].module != ks->modv[s->mod]) &&
		    krun_add(&ks->mods, &ks->nmods, (struct krun){ .first = out,
							       .module = ks->modv[s->mod] }))
			return -ENOMEM;
		ks->lo[out] = (uint32_t)s->addr;
		ks->name_off[out++] = s->name_off;
		ks->sum = fnv(ks->sum, &s->addr, sizeof(s->addr));
		ks->sum = fnv(ks->sum, ks->names + s->name_off, strlen(ks->names + s->name_off));
	}
	ks->n = out;
	free(ks->tmp);
	ks->tmp = NULL;
	free(ks->modv);
	ks->modv = NULL;
	p = out ? realloc(ks->lo, out * sizeof(*ks->lo)) : NULL;
	if (p)
		ks->lo = p;
	p = out ? realloc(ks->name_off, out * sizeof(*ks->name_off)) : NULL;
	if (p)
		ks->name_off = p;
	p = ks->names_len ? realloc(ks->names, ks->names_len) : NULL;
	if (p) {
		ks->names = p;
		ks->names_cap = ks->names_len;
	}
	return 0;
}

/*
 * Returns the table (possibly empty when addresses are hidden from us), or
 * NULL with errno set.  Module names are interned in @pool.
 */
/*
 * Reads @path into a new table; sized after @prev (the table it replaces,
 * or NULL), so a re-read does not double its buffers up to twice their
 * size while the old table is still alive.
 */
static struct kallsyms *kallsyms_load(const char *path, struct strpool *pool,
				      const struct kallsyms *prev)
{
	struct kallsyms *ks = calloc(1, sizeof(*ks));
	char *line = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int err = 0;

	if (!ks)
		return NULL;
	ks->pool = pool;
	ks->modules_sum = modules_sum();
	ks->bpf_sum = bpf_progs_sum();
	ks->bpf_module = strpool__intern(pool, "bpf");
	ks->backoff_ms = RELOAD_MIN_MS;
	if (prev && prev->n) {
		ks->tmp_cap = prev->n + prev->n / 8 + 1024;
		ks->names_cap = prev->names_len + prev->names_len / 8 + 4096;
		ks->tmp = malloc(ks->tmp_cap * sizeof(*ks->tmp));
		ks->names = malloc(ks->names_cap);
		if (!ks->tmp || !ks->names) {
			err = -ENOMEM;
			goto out;
		}
	}
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		goto out;
	}
	while (!err && getline(&line, &len, f) > 0)
		err = kallsyms_add_line(ks, line);
	if (!err)
		err = kallsyms_sort(ks);
out:
	free(line);
	if (f)
		fclose(f);
	if (err) {
		kallsyms__free(ks);
		errno = -err;
		return NULL;
	}
	return ks;
}

struct kallsyms *kallsyms__load(const char *path, struct strpool *pool)
{
	return kallsyms_load(path, pool, NULL);
}

bool kallsyms__empty(const struct kallsyms *ks)
{
	return !ks->n;
}

static void frames_free(void *fr, void *ctx)
{
	(void)ctx;
	free(fr);
}

void kallsyms__flush(struct kallsyms *ks)
{
	if (ks)
		hmap__clear(&ks->frames, frames_free, NULL);
}

void kallsyms__free(struct kallsyms *ks)
{
	if (!ks)
		return;
	hmap__clear(&ks->frames, frames_free, NULL);
	hmap__clear(&ks->build_ids, NULL, NULL);
	free(ks->tmp);
	free(ks->modv);
	free(ks->lo);
	free(ks->name_off);
	free(ks->hi);
	free(ks->mods);
	free(ks->names);
	free(ks);
}

/* The run holding symbol @i (runs ascending by first; the first starts at 0). */
static const struct krun *krun_of(const struct krun *runs, size_t n, size_t i)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (runs[mid].first <= i)
			lo = mid;
		else
			hi = mid;
	}
	return &runs[lo];
}

static uint64_t ksym_addr(const struct kallsyms *ks, size_t i)
{
	return (uint64_t)krun_of(ks->hi, ks->nhi, i)->hi << 32 | ks->lo[i];
}

static const char *ksym_module(const struct kallsyms *ks, size_t i)
{
	return krun_of(ks->mods, ks->nmods, i)->module;
}

/* Index of the last symbol at or below @addr, or -1. */
static long kallsyms_find(const struct kallsyms *ks, uint64_t addr)
{
	uint32_t hi = addr >> 32, lo32 = (uint32_t)addr;
	size_t lo = 0, end, r = 0, rn = ks->nhi;

	if (!ks->n)
		return -1;
	/* the last run whose high half is at or below @addr's */
	while (r < rn) {
		size_t mid = r + (rn - r) / 2;

		if (ks->hi[mid].hi <= hi)
			r = mid + 1;
		else
			rn = mid;
	}
	if (!r)
		return -1;
	r--;
	lo = ks->hi[r].first;
	end = r + 1 < ks->nhi ? ks->hi[r + 1].first : ks->n;
	if (ks->hi[r].hi < hi)
		return (long)end - 1;	/* past every symbol of that run */
	while (lo < end) {
		size_t mid = lo + (end - lo) / 2;

		if (ks->lo[mid] <= lo32)
			lo = mid + 1;
		else
			end = mid;
	}
	return (long)lo - 1;
}

/* Whether symbol @i is the last of its module (or of the table). */
static bool ksym_last_of_module(const struct kallsyms *ks, size_t i)
{
	const struct krun *m = krun_of(ks->mods, ks->nmods, i);

	return i + 1 == ks->n || (m + 1 < ks->mods + ks->nmods && m[1].first == i + 1);
}

static bool kallsyms_covers(const struct kallsyms *ks, long i, uint64_t addr)
{
	if (!ksym_last_of_module(ks, i))
		return true;
	return addr - ksym_addr(ks, i) < KSYM_LAST_MAX_SIZE;
}

/* Sets *out to @module's build id (NULL when unknown), read from sysfs once per module. */
static int kallsyms_build_id(struct kallsyms *ks, const char *module, const char **out)
{
	const char *id = hmap__get(&ks->build_ids, (uintptr_t)module);
	char hex[2 * SYM_BUILD_ID_MAX + 1];

	if (!id) {
		id = strpool__intern(ks->pool, kernel__build_id(module, hex, sizeof(hex)) ? "" : hex);
		if (!id || hmap__put(&ks->build_ids, (uintptr_t)module, (void *)id))
			return -ENOMEM;
	}
	*out = *id ? id : NULL;
	return 0;
}

static struct frames *kallsyms_frame(struct kallsyms *ks, long i)
{
	struct frames *fr = frames__new(1);
	const char *module = ksym_module(ks, i);

	if (!fr)
		return NULL;
	fr->f[0].name = ks->names + ks->name_off[i];	/* lives as long as the table */
	fr->f[0].module = module;
	fr->f[0].flags = FRAME_F_KERNEL;
	if (kallsyms_build_id(ks, module, &fr->f[0].build_id) || hmap__put(&ks->frames, i, fr)) {
		free(fr);
		errno = ENOMEM;
		return NULL;
	}
	return fr;
}

struct frames *kallsyms__lookup(struct kallsyms *ks, uint64_t addr,
				struct symbolizer_stats *stats)
{
	long i = kallsyms_find(ks, addr);
	struct frames *fr;

	/*
	 * Past a module's last symbol the address may be code loaded since.
	 * BPF programs need no re-read on a hunch: their own check (bpf_hits)
	 * notices any program loaded or unloaded.
	 */
	if (i >= 0 && ksym_module(ks, i) == ks->bpf_module)
		ks->bpf_hits++;
	else if (i < 0 || ksym_last_of_module(ks, i))
		ks->unsure++;
	if (i < 0 || !kallsyms_covers(ks, i, addr)) {
		errno = ENOENT;
		return NULL;
	}
	fr = hmap__get(&ks->frames, i);
	if (fr) {
		stats->cache_hits++;
		return fr;
	}
	stats->cache_misses++;
	return kallsyms_frame(ks, i);
}

int kallsyms__refresh(struct kallsyms **ksp, const char *path, uint64_t now_ms)
{
	struct kallsyms *ks = *ksp, *fresh;
	uint64_t mods = ks->modules_sum, progs = ks->bpf_sum;

	if (now_ms >= ks->modules_at) {
		ks->modules_at = now_ms + MODULES_CHECK_MS;
		mods = modules_sum();
		if (ks->bpf_hits)
			progs = bpf_progs_sum();
		ks->bpf_hits = 0;
	}
	if (mods == ks->modules_sum && progs == ks->bpf_sum &&
	    !(ks->unsure && now_ms >= ks->reload_at))
		return 0;
	fresh = kallsyms_load(path, ks->pool, ks);
	if (!fresh) {
		ks->modules_sum = mods;		/* the next change tries again */
		ks->bpf_sum = progs;
		ks->reload_at = now_ms + RELOAD_MAX_MS;
		return -errno;
	}
	if (fresh->sum == ks->sum) {
		/* the unknown address is not new code: ask again later and later */
		ks->unsure = 0;
		ks->modules_sum = mods;
		ks->bpf_sum = progs;
		ks->backoff_ms = ks->backoff_ms * 2 < RELOAD_MAX_MS ? ks->backoff_ms * 2 : RELOAD_MAX_MS;
		ks->reload_at = now_ms + ks->backoff_ms;
		kallsyms__free(fresh);
		return 0;
	}
	/*
	 * The backoff carries over: where BPF programs come and go all the
	 * time, an address that stays unknown must not re-read the table every
	 * few seconds (modules and BPF programs have their own, quicker checks).
	 */
	fresh->modules_at = ks->modules_at;
	fresh->backoff_ms = ks->backoff_ms;
	fresh->reload_at = now_ms + ks->backoff_ms;
	kallsyms__free(ks);
	*ksp = fresh;
	return 1;
}
