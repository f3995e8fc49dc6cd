/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * seed.bpf.h - unwind entries of new processes made in BPF, included by
 * unwind.bpf.h: a process user space has not read yet is unwound with the
 * tables already loaded for its files (found by inode), from its first
 * samples.  User space's entry replaces a seeded one once it has read the
 * process's maps.
 */
#ifndef EMBER_SEED_BPF_H
#define EMBER_SEED_BPF_H

/* Files with tables by inode (user space writes them: collector/uwfile.c). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct unwind_inode_key);
	__type(value, struct unwind_inode);
	__uint(max_entries, MAX_UNWIND_FILES);	/* user space may resize (--unwind-files) */
	__uint(map_flags, BPF_F_NO_PREALLOC);
} unwind_inodes SEC(".maps");

/* A seeded entry being made; a percpu value, too big for the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct unwind_proc);
	__uint(max_entries, 1);
} proc_scratch SEC(".maps");

/* Seed new processes' entries here (rodata; user space sets it where bpf_find_vma is). */
const volatile bool seed_procs = false;

/*
 * The inode change time moved twice: 6.6 (__i_ctime), 6.11 (i_ctime_sec);
 * since 6.13 the top bit of its nanoseconds is a flag (I_CTIME_QUERIED).
 */
#define CTIME_NSEC_MASK 0x3fffffffU
struct inode___i_ctime_sec {
	time64_t i_ctime_sec;
	u32 i_ctime_nsec;
} __attribute__((preserve_access_index));

struct inode___i_ctime_ts {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___i_ctime_old {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

static __always_inline bool same_ctime(struct inode *inode, const struct unwind_inode *f)
{
	struct inode___i_ctime_sec *a = (void *)inode;
	struct inode___i_ctime_ts *b = (void *)inode;
	struct inode___i_ctime_old *c = (void *)inode;

	if (bpf_core_field_exists(a->i_ctime_sec))
		return BPF_CORE_READ(a, i_ctime_sec) == f->ctime_sec &&
		       (BPF_CORE_READ(a, i_ctime_nsec) & CTIME_NSEC_MASK) == f->ctime_nsec;
	if (bpf_core_field_exists(b->__i_ctime))
		return BPF_CORE_READ(b, __i_ctime.tv_sec) == f->ctime_sec &&
		       BPF_CORE_READ(b, __i_ctime.tv_nsec) == f->ctime_nsec;
	if (bpf_core_field_exists(c->i_ctime))
		return BPF_CORE_READ(c, i_ctime.tv_sec) == f->ctime_sec &&
		       BPF_CORE_READ(c, i_ctime.tv_nsec) == f->ctime_nsec;
	return false;
}

/* The table of the file behind @file, if one is loaded (and it is that file). */
static __always_inline struct unwind_inode *file_table(struct file *file)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	struct unwind_inode_key key = {};
	struct unwind_inode *f;

	if (!inode)
		return NULL;
	key.ino = BPF_CORE_READ(inode, i_ino);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	f = bpf_map_lookup_elem(&unwind_inodes, &key);
	return f && same_ctime(inode, f) ? f : NULL;
}

/* What seed_vma() found: the mapping of one pc, with its table. */
struct seed_found {
	struct unwind_map m;
	__u32 found;
	__u32 exec;	/* the pc is in executable memory, found or not */
};

/* What seed_add() made of a pc outside a seeded entry. */
enum seed_res {
	SEED_ADDED,	/* its file's mapping is in the entry now */
	SEED_LATER,	/* not in this sample (one bpf_find_vma() per sample) */
	SEED_NO_CODE,	/* not in executable memory: a bad return address */
	SEED_NO_TABLE,	/* code BPF has no table for: user space may build one */
};

/* bpf_find_vma() callback: the mapping of the pc, when its file has a table. */
static long seed_vma(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct seed_found *out = ctx;
	struct file *file = BPF_CORE_READ(vma, vm_file);
	__u64 start = BPF_CORE_READ(vma, vm_start), pgoff;
	struct unwind_inode *f;
	int i;

	if (!(BPF_CORE_READ(vma, vm_flags) & VM_EXEC))
		return 0;
	out->exec = 1;	/* the vDSO and JIT code have no file */
	if (!file)
		return 0;
	f = file_table(file);
	if (!f)
		return 0;
	pgoff = BPF_CORE_READ(vma, vm_pgoff) << PAGE_SHIFT;
	for (i = 0; i < UNWIND_INODE_PHDRS; i++) {
		if (i < f->nph && f->ph[i].lo <= pgoff && pgoff < f->ph[i].hi) {
			out->m.start = start;
			out->m.end = BPF_CORE_READ(vma, vm_end);
			out->m.bias = start - pgoff + f->ph[i].delta;
			out->m.file = f->slot;
			out->m.gen = f->gen;
			out->found = 1;
			break;
		}
	}
	return 0;
}

/* Adds @m to a seeded entry, which stays sorted by start. */
static __always_inline void seed_insert(struct unwind_proc *p, const struct unwind_map *m)
{
	__u32 n = p->n, at = 0, k, i;

	if (n >= SEED_MAX_MAPS)
		return;
	/* move the mappings above @m up by one, from the top */
	for (k = 0; k < SEED_MAX_MAPS; k++) {
		barrier_var(k);
		if (k >= n)
			break;
		i = (n - 1 - k) & (MAX_PROC_MAPS - 1);
		if (p->maps[i].start < m->start) {
			at = i + 1;
			break;
		}
		p->maps[(i + 1) & (MAX_PROC_MAPS - 1)] = p->maps[i];
	}
	p->maps[at & (MAX_PROC_MAPS - 1)] = *m;
	p->n = n + 1;
}

/*
 * Adds the mapping of @pc to a seeded entry: one bpf_find_vma() per
 * sample at most (in interrupt context it releases mmap_lock through a
 * per-CPU irq_work, busy until the program returns).  Called inside the
 * walk, which then goes on through the file found.
 */
static __always_inline enum seed_res seed_add(struct unwind_proc *p, __u64 pc)
{
	struct seed_found out = {};
	long err;

	err = bpf_find_vma(bpf_get_current_task_btf(), pc, seed_vma, &out, 0);
	if (err == -EBUSY) {
		count(CNT_SEED_BUSY);
		return SEED_LATER;
	}
	if (err || !out.found) {
		count(CNT_SEED_NO_TABLE);
		return out.exec ? SEED_NO_TABLE : SEED_NO_CODE;
	}
	seed_insert(p, &out.m);
	count(CNT_SEED_MAPS);
	return SEED_ADDED;
}

/*
 * An entry for a process user space has not read yet, so that it unwinds
 * whole from its first samples: a fork still running its parent's image
 * takes a copy of the parent's entry; else, when the executable's table is
 * loaded, the entry starts with its text (from the mm), and seed_add()
 * adds the file of one missing pc per sample.  User space's entry
 * replaces it once it has read /proc/PID/maps.
 */
static __always_inline struct unwind_proc *seed_proc(__u32 tgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct unwind_proc *p, *parent;
	struct unwind_inode *f;
	__u32 zero = 0, ptgid;
	__u64 start;

	ptgid = BPF_CORE_READ(task, real_parent, tgid);
	parent = bpf_map_lookup_elem(&unwind_procs, &ptgid);
	if (parent && exe && exe == BPF_CORE_READ(task, real_parent, mm, exe_file)) {
		if (bpf_map_update_elem(&unwind_procs, &tgid, parent, BPF_NOEXIST))
			return NULL;
		count(CNT_SEED_FORKS);
	} else {
		/* a new executable's table is not loaded yet: frame pointers until it is */
		f = exe ? file_table(exe) : NULL;
		if (!f || f->text_end <= f->text_start)
			return NULL;
		p = bpf_map_lookup_elem(&proc_scratch, &zero);
		if (!p)
			return NULL;
		start = BPF_CORE_READ(task, mm, start_code);
		p->n = 1;
		p->flags = UNWIND_PROC_SEEDED;
		p->maps[0].start = start & ~0xfffULL;
		p->maps[0].end = BPF_CORE_READ(task, mm, end_code);
		p->maps[0].bias = start - f->text_start + f->text_delta;
		p->maps[0].file = f->slot;
		p->maps[0].gen = f->gen;
		if (bpf_map_update_elem(&unwind_procs, &tgid, p, BPF_NOEXIST))
			return NULL;
		count(CNT_SEEDED);
	}
	/*
	 * Rows cached for this tgid are an earlier image's (exec) or an
	 * earlier process's (pid reuse): stale now.  Rows cached for a seeded
	 * entry stay true as it grows (a pc outside it is not cached).
	 */
	__sync_fetch_and_add(&unwind_gen, 1);
	p = bpf_map_lookup_elem(&unwind_procs, &tgid);
	if (p)
		p->flags = UNWIND_PROC_SEEDED;	/* a parent's copy may say 0 */
	return p;
}

#endif /* EMBER_SEED_BPF_H */
