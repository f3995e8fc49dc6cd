// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * uwfile.c - the unwinder's ELF files: one slot each in the files map,
 * keyed by device, inode and change time (a binary rebuilt in place gets a
 * new table), its table built once and copied into the BPF row pool
 * (through short-lived mmaps), and published by inode for BPF to seed new
 * processes' entries.  A file no process maps keeps its slot and rows
 * until they are needed (oldest first), so short-lived processes
 * re-running the same binaries cost nothing.  A failed build is retried
 * with backoff, one refused for room as soon as there may be some.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "log.h"
#include "mono.h"
#include "unwind.h"
#include "uwfile.h"

/* A failed build is tried again after 1 s, 2 s, 4 s, ... up to this. */
#define RETRY_MIN_NS 1000000000ULL
#define RETRY_MAX_NS (600 * 1000000000ULL)

static int file_cmp(const void *a, const void *b)
{
	const struct uw_file *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->ctime < y->ctime ? -1 : x->ctime > y->ctime;
}

/* Copies @n rows to pool index @first through mappings of ROWS_WRITE_CHUNK
 * bytes at most: a bigger one would count every page of it in the agent's RSS. */
#define ROWS_WRITE_CHUNK (256 * 1024)
static int rows_write(struct unwinder *u, uint32_t first, const struct unwind_row *rows,
		      size_t n)
{
	size_t start = (size_t)first * sizeof(*rows), end = start + n * sizeof(*rows);
	const char *src = (const char *)rows;

	while (start < end) {
		size_t off = start & ~(size_t)(u->page - 1);
		size_t stop = end - off > ROWS_WRITE_CHUNK ? off + ROWS_WRITE_CHUNK : end;
		size_t len = ((stop + u->page - 1) & ~(size_t)(u->page - 1)) - off;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, u->m.rows_fd, off);

		if (p == MAP_FAILED)
			return -errno;
		memcpy(p + (start - off), src, stop - start);
		munmap(p, len);
		src += stop - start;
		start = stop;
	}
	return 0;
}

/* After any change BPF reads: its per-CPU cache of rows goes stale at once. */
void unwinder_changed(struct unwinder *u)
{
	if (u->m.gen)
		__atomic_add_fetch(u->m.gen, 1, __ATOMIC_RELEASE);
}

/* The kernel's s_dev (major << 20 | minor) of a stat(2) st_dev. */
static struct unwind_inode_key inode_key(const struct uw_file *f)
{
	return (struct unwind_inode_key){ .ino = f->ino,
					  .dev = major(f->dev) << 20 | minor(f->dev) };
}

/*
 * Publishes a loaded file by inode, for BPF to seed new processes'
 * entries (bpf/seed.bpf.h).  Only with a known change time: a file
 * rewritten in place must not take the old file's rows.
 */
static void inode_publish(struct unwinder *u, const struct uw_file *f)
{
	struct unwind_inode_key k = inode_key(f);
	struct unwind_inode v = { .slot = f->slot, .gen = f->gen, .text_start = UINT64_MAX };
	int i;

	if (u->m.inodes_fd < 0 || f->dev == VDSO_DEV || !f->ctime)
		return;
	v.ctime_sec = f->ctime / 1000000000ULL;
	v.ctime_nsec = f->ctime % 1000000000ULL;
	for (i = 0; i < f->nphdr; i++) {
		if (v.nph < UNWIND_INODE_PHDRS) {
			v.ph[v.nph].lo = f->ph[i].lo;
			v.ph[v.nph].hi = f->ph[i].hi;
			v.ph[v.nph++].delta = f->ph[i].delta + f->base;
		}
		/* as the kernel's ELF loader sets start_code and end_code */
		if (f->ph[i].exec && f->ph[i].vaddr < v.text_start)
			v.text_start = f->ph[i].vaddr;
		if (f->ph[i].exec && f->ph[i].vaddr + f->ph[i].filesz > v.text_end)
			v.text_end = f->ph[i].vaddr + f->ph[i].filesz;
	}
	v.text_delta = f->base;
	if (bpf_map_update_elem(u->m.inodes_fd, &k, &v, BPF_ANY))
		u->st.inodes_failed++;
}

/* Takes a file's inode entry back, unless a newer file of that inode holds it. */
static void inode_unpublish(struct unwinder *u, const struct uw_file *f)
{
	struct unwind_inode_key k = inode_key(f);
	struct unwind_inode v;

	if (u->m.inodes_fd >= 0 && f->dev != VDSO_DEV && !bpf_map_lookup_elem(u->m.inodes_fd, &k, &v) &&
	    v.slot == f->slot)
		bpf_map_delete_elem(u->m.inodes_fd, &k);
}

/* Unpublishes a file's rows (BPF sees n == 0 first), then frees them. */
static void file_unload(struct unwinder *u, struct uw_file *f)
{
	struct unwind_file none = {};

	if (!f->n)
		return;
	inode_unpublish(u, f);
	bpf_map_update_elem(u->m.files_fd, &f->slot, &none, BPF_ANY);
	unwinder_changed(u);
	extents__put(&u->free, f->first, f->n);
	u->st.rows_used -= f->n;
	u->st.files_loaded--;
	f->n = 0;
}

/* Forgets an idle file: its rows and its slot are free for others. */
static void file_drop(struct unwinder *u, struct uw_file *f)
{
	file_unload(u, f);
	tdelete(f, &u->by_id, file_cmp);
	u->slots[f->slot] = NULL;
	u->nslots--;
	free(f);
}

/*
 * The least recently used file that no tracked process maps (with a table
 * when @loaded), or NULL.  Process entries drop their files only after the
 * entry replacing them is published, so BPF reads no freed slot or row.
 */
static struct uw_file *idle_lru(struct unwinder *u, bool loaded)
{
	struct uw_file *victim = NULL, *f;
	uint32_t i;

	for (i = 0; i < u->m.files_max; i++) {
		f = u->slots[i];
		if (f && !f->refs && (f->n || !loaded) &&
		    (!victim || f->last_used < victim->last_used))
			victim = f;
	}
	return victim;
}

/* Evicts the rows of the least recently used idle file.  Returns 0 or -ENOSPC. */
static int evict_one(struct unwinder *u)
{
	struct uw_file *victim = idle_lru(u, true);

	if (!victim)
		return -ENOSPC;
	file_unload(u, victim);
	u->st.tables_evicted++;
	return 0;
}

/* Copies @t's rows into the pool and publishes them under f->slot. */
static int file_publish(struct unwinder *u, struct uw_file *f, const struct unwind_table *t)
{
	const struct unwind_row *rows;
	struct unwind_file uf;
	size_t n;
	int err;

	rows = unwind_table__rows(t, &n);
	if (!n)
		return -ENODATA;
	if (n > u->m.rows_max)
		return -EFBIG;	/* bigger than the whole pool: no room ever */
	while ((err = extents__get(&u->free, n, &f->first)) == -ENOSPC)
		if (evict_one(u)) {
			f->want = n;
			return -ENOSPC;
		}
	err = rows_write(u, f->first, rows, n);
	f->gen = ++u->load_gen ? u->load_gen : ++u->load_gen;
	uf = (struct unwind_file){ .first = f->first, .n = n, .gen = f->gen };
	if (!err && bpf_map_update_elem(u->m.files_fd, &f->slot, &uf, BPF_ANY))
		err = -errno;
	unwinder_changed(u);
	if (err) {
		extents__put(&u->free, f->first, n);
		return err;
	}
	f->n = n;
	f->base = unwind_table__base(t);
	u->st.rows_used += n;
	u->st.files_loaded++;
	inode_publish(u, f);
	return 0;
}

static void read_phdrs(struct uw_file *f, Elf *elf)
{
	size_t i, nph = 0;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &nph))
		return;
	for (i = 0; i < nph && f->nphdr < MAX_PHDRS; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		f->ph[f->nphdr].lo = ph.p_offset & ~0xfffULL;
		f->ph[f->nphdr].hi = ph.p_offset + ph.p_filesz;
		f->ph[f->nphdr].delta = ph.p_offset - ph.p_vaddr;
		f->ph[f->nphdr].vaddr = ph.p_vaddr;
		f->ph[f->nphdr].exec = ph.p_flags & PF_X;
		f->ph[f->nphdr++].filesz = ph.p_filesz;
	}
}

/* A build cut off by its budget keeps the rows it made: counted, logged once per file. */
static void table_check_cut(struct unwinder *u, struct uw_file *f, const struct unwind_table *t)
{
	struct unwind_stats st;

	unwind_table__stats(t, &st);
	if (!st.cut)
		return;
	u->st.tables_cut++;
	if (f->cut_logged)
		return;
	f->cut_logged = true;
	log_warn("unwind table of %llx:%llu cut off after %zu rows: CFI over the build budget "
		 "(%u CFI rows, %u ms)", (unsigned long long)f->dev, (unsigned long long)f->ino,
		 st.rows, UNWIND_MAX_CFI_ROWS, UNWIND_MAX_BUILD_MS);
}

/* Builds and publishes the table of an ELF image (@fd, or @img for the vDSO). */
static void file_load(struct unwinder *u, struct uw_file *f, int fd, const void *img, size_t len)
{
	struct unwind_table *t = NULL;
	uint64_t t0 = mono_ns();
	Elf *elf;
	int err;

	elf = img ? elf_memory((char *)img, len) : elf_begin(fd, ELF_C_READ, NULL);
	if (elf)
		read_phdrs(f, elf);
	elf_end(elf);
	err = img ? unwind_table__from_memory(img, len, &t) : unwind_table__from_fd(fd, &t);
	if (!err)
		table_check_cut(u, f, t);
	if (!err)
		err = file_publish(u, f, t);
	u->st.tables_built++;
	u->st.build_ns += mono_ns() - t0;
	f->no_room = err == -ENOSPC;
	f->no_room_gen = u->room_gen;
	if (err == -ENOSPC || err == -EFBIG)
		u->st.tables_no_room++;
	else if (err)
		u->st.tables_failed++;
	if (err) {
		log_debug("no unwind table for %llx:%llu: %s", (unsigned long long)f->dev,
			  (unsigned long long)f->ino, strerror(-err));
	}
	unwind_table__free(t);
}

/* A slot for @key's file, taking the oldest idle file's when all are used. */
static struct uw_file *file_new(struct unwinder *u, const struct uw_file *key)
{
	struct uw_file *f;
	uint32_t slot;

	if (u->nslots >= u->m.files_max) {
		f = idle_lru(u, false);
		if (!f) {
			u->st.tables_no_room++;
			return NULL;
		}
		if (f->n)
			u->st.tables_evicted++;
		file_drop(u, f);
	}
	for (slot = 0; slot < u->m.files_max && u->slots[slot]; slot++)
		;
	if (slot == u->m.files_max)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dev = key->dev;
	f->ino = key->ino;
	f->ctime = key->ctime;
	f->slot = slot;
	if (!tsearch(f, &u->by_id, file_cmp)) {
		free(f);
		return NULL;
	}
	u->slots[slot] = f;
	u->nslots++;
	return f;
}

/* Reads the vDSO image out of the process's memory and builds its table. */
static void load_vdso(struct unwinder *u, struct uw_file *f, int pid, uint64_t start,
		      uint64_t end)
{
	size_t len = end - start;
	char path[64];
	void *img;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	img = len <= (1 << 20) ? malloc(len) : NULL;
	if (fd >= 0 && img && pread(fd, img, len, start) == (ssize_t)len)
		file_load(u, f, -1, img, len);
	free(img);
	if (fd >= 0)
		close(fd);
}

/* Opens the mapped file the one way (util/procmaps.c): even deleted, or in a container. */
static void load_file(struct unwinder *u, struct uw_file *f, int pid, const struct proc_map *m,
		      struct proc_open_stats *open)
{
	int fd = proc_map__open(pid, m, open, NULL);

	if (fd < 0) {
		u->st.tables_failed++;
		return;
	}
	file_load(u, f, fd, NULL, 0);
	close(fd);
}

/*
 * When the mapped file last changed (ns), 0 when unknown: a binary rebuilt
 * in place keeps its inode (`cat new > old`) but not its change time.
 */
static uint64_t file_ctime(int pid, const struct proc_map *m)
{
	char mf[PROC_MAP_FILES_LEN];
	struct stat st;

	proc_map__files_path(pid, m, mf, sizeof(mf));
	if (stat(mf, &st))
		return 0;
	return st.st_ctim.tv_sec * 1000000000ULL + st.st_ctim.tv_nsec;
}

/*
 * Whether a file refused rows might fit now: a file has fallen idle since,
 * and the free rows and those of idle files add up to what it wanted
 * (worth a build, which is not cheap).
 */
static bool room_now(const struct unwinder *u, const struct uw_file *f)
{
	uint64_t rows = u->m.rows_max - u->st.rows_used;
	uint32_t i;

	if (!f->no_room || f->no_room_gen == u->room_gen)
		return false;
	for (i = 0; i < u->m.files_max && rows < f->want; i++)
		if (u->slots[i] && !u->slots[i]->refs)
			rows += u->slots[i]->n;
	return rows >= f->want;
}

/* A failed build is tried again after a backoff; one refused for room as soon as there is some. */
struct uw_file *unwinder_get_file(struct unwinder *u, int pid, const struct proc_map *m,
				  uint64_t dev, struct proc_open_stats *open)
{
	struct uw_file key = { .dev = dev, .ino = m->ino }, **found, *f;
	uint64_t now = mono_ns(), delay;

	if (dev != VDSO_DEV)
		key.ctime = file_ctime(pid, m);
	found = tfind(&key, &u->by_id, file_cmp);
	f = found ? *found : file_new(u, &key);
	if (!f)
		return NULL;
	f->last_used = now;
	if (f->n)
		return f;
	/* refused for room: try again once there may be some, backoff or not */
	if (now < f->retry_at && !room_now(u, f))
		return f;
	if (f->fails)
		u->st.tables_retried++;
	if (dev == VDSO_DEV)
		load_vdso(u, f, pid, m->start, m->end);
	else
		load_file(u, f, pid, m, open);
	if (f->n) {
		f->fails = 0;
		return f;
	}
	delay = RETRY_MIN_NS << (f->fails < 10 ? f->fails : 10);
	f->fails++;
	f->retry_at = mono_ns() + (delay < RETRY_MAX_NS ? delay : RETRY_MAX_NS);
	return f;
}

/*
 * Frees the slots of files without a table (failed or refused builds) no
 * tracked process has mapped for @idle_ms, once their retry is due, so the
 * backoff holds.  A loaded table stays until its rows or slot are needed
 * (idle_lru()): the pool is allocated whole either way, and processes too
 * short to be read (python3.11, perl under churn) use it through BPF's
 * seeding, which user space does not see; expiring it had a 30-40 ms
 * rebuild come every 30 s.
 */
void unwinder__expire(struct unwinder *u, uint64_t idle_ms)
{
	uint64_t now = mono_ns(), cutoff = now - idle_ms * 1000000ULL;
	struct uw_file *f;
	uint32_t i;

	for (i = 0; i < u->m.files_max; i++) {
		f = u->slots[i];
		if (f && !f->n && !f->refs && f->last_used < cutoff && now >= f->retry_at)
			file_drop(u, f);
	}
}
