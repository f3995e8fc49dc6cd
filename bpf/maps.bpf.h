/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * maps.bpf.h - a process's executable file mappings as BPF sees them
 * (struct ember_vma), and the mappings sent with a process's first
 * samples where no exit hook can send them (see enum start_maps_mode);
 * included by profile.bpf.c.
 */
#ifndef EMBER_MAPS_BPF_H
#define EMBER_MAPS_BPF_H

/*
 * Copies one executable file mapping, or the vDSO (no device, no inode,
 * named "[vdso]" as /proc/PID/maps names it), into @v; false when it is
 * neither.  Every read goes through BPF_CORE_READ: perf_event programs
 * reach VMAs through untyped pointers.
 */
static __always_inline bool fill_vma(struct ember_vma *v, struct vm_area_struct *vma)
{
	struct file *file = BPF_CORE_READ(vma, vm_file);
	struct inode *inode;

	if (!(BPF_CORE_READ(vma, vm_flags) & VM_EXEC))
		return false;
	if (!file) {
		v->start = BPF_CORE_READ(vma, vm_start);
		if (v->start != (__u64)BPF_CORE_READ(vma, vm_mm, context.vdso))
			return false;
		v->end = BPF_CORE_READ(vma, vm_end);
		v->pgoff = 0;
		v->ino = 0;
		v->dev = 0;
		v->pad = 0;
		__builtin_memcpy(v->name, "[vdso]", sizeof("[vdso]"));
		return true;
	}
	inode = BPF_CORE_READ(file, f_inode);
	v->start = BPF_CORE_READ(vma, vm_start);
	v->end = BPF_CORE_READ(vma, vm_end);
	v->pgoff = BPF_CORE_READ(vma, vm_pgoff) << PAGE_SHIFT;
	v->ino = BPF_CORE_READ(inode, i_ino);
	v->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	v->pad = 0;
	if (bpf_probe_read_kernel_str(v->name, sizeof(v->name),
				      BPF_CORE_READ(file, f_path.dentry, d_name.name)) < 0)
		v->name[0] = '\0';
	return true;
}

/*
 * Mappings sent with a process's first sample, where no exit hook can
 * send them (see enum start_maps_mode); a process that lives a few
 * milliseconds is gone before user space reads /proc/PID/maps.
 */
const volatile __u32 start_maps = START_MAPS_NONE;

#define START_WALK_VMAS 64	/* VMAs looked at in the list, for MAX_EXIT_VMAS */
#define START_PCS 16		/* sampled user pcs whose mappings are looked up */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ember_maps_event);
	__uint(max_entries, 1);
} maps_scratch SEC(".maps");

/* Kernels before 6.1 chain VMAs in a list (later ones in a maple tree). */
struct mm_struct___list {
	struct vm_area_struct *mmap;
} __attribute__((preserve_access_index));

struct vm_area_struct___list {
	struct vm_area_struct *vm_next;
} __attribute__((preserve_access_index));

static __always_inline struct ember_maps_event *start_event(__u32 tgid)
{
	__u32 zero = 0;
	struct ember_maps_event *e = bpf_map_lookup_elem(&maps_scratch, &zero);

	if (e) {
		e->type = EVENT_MAPS;
		e->tgid = tgid;
		e->n = 0;
		e->flags = MAPS_AT_START;
	}
	return e;
}

static __always_inline void start_submit(struct ember_maps_event *e)
{
	if (bpf_ringbuf_output(&events, e, sizeof(*e), 0))
		count(CNT_START_MAPS_LOST);
	else
		count(CNT_START_MAPS);
}

/* Walks mm->mmap (before 6.1); the reads may race with mmap(), and are checked. */
static __always_inline void start_maps_list(struct task_struct *task, __u32 tgid)
{
	struct mm_struct___list *mm = (void *)BPF_CORE_READ(task, mm);
	struct ember_maps_event *e;
	struct vm_area_struct *vma;
	__u32 n;
	int i;

	if (!bpf_core_field_exists(mm->mmap))
		return;
	e = start_event(tgid);
	if (!e)
		return;
	vma = BPF_CORE_READ(mm, mmap);
	/*
	 * The count lives in the map value, not in a register: the verifier
	 * would otherwise follow every count at every step (5.10 has no
	 * bpf_loop), and give up past a million instructions.
	 */
	for (i = 0; i < START_WALK_VMAS && vma; i++) {
		n = e->n;
		if (n < MAX_EXIT_VMAS) {
			/* barrier_var() keeps the mask, which bounds the index for the verifier */
			barrier_var(n);
			if (fill_vma(&e->vmas[n & (MAX_EXIT_VMAS - 1)], vma))
				e->n = n + 1;
		}
		vma = BPF_CORE_READ((struct vm_area_struct___list *)vma, vm_next);
	}
	if (vma)
		e->flags |= MAPS_TRUNCATED;
	start_submit(e);
}

/*
 * bpf_find_vma() callback: appends @vma unless it is the last one added
 * (the pcs of one stack cluster in a few mappings).
 */
static long collect_vma(struct task_struct *task, struct vm_area_struct *vma, void *unused)
{
	__u32 zero = 0, n;
	struct ember_maps_event *e = bpf_map_lookup_elem(&maps_scratch, &zero);

	if (!e)
		return 0;
	n = e->n;
	if (n >= MAX_EXIT_VMAS)
		return 0;
	barrier_var(n);
	if (n && e->vmas[(n - 1) & (MAX_EXIT_VMAS - 1)].start == BPF_CORE_READ(vma, vm_start))
		return 0;
	if (fill_vma(&e->vmas[n & (MAX_EXIT_VMAS - 1)], vma))
		e->n = n + 1;
	return 0;
}

/*
 * Where VMAs cannot be walked (6.1-6.6), looks up mappings one at a time
 * with bpf_find_vma (5.17+: only in the table-unwinding program).  Only
 * one lookup per sample: in interrupt context its mmap_lock is released
 * through a per-CPU irq_work, busy until the program returns.  So the
 * first sample sends the executable's text; a later one (@later) the
 * mapping of the outermost sampled pc outside it (libc, once main runs).
 */
static __always_inline void start_maps_find(struct bpf_perf_event_data *ctx, __u32 tgid,
					    bool later)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ember_maps_event *e = start_event(tgid);
	__u64 pcs[START_PCS], lo, hi, pc = 0;
	long len;
	int i;

	if (!e)
		return;
	lo = BPF_CORE_READ(task, mm, start_code);
	hi = BPF_CORE_READ(task, mm, end_code);
	if (!later) {
		pc = lo;
	} else {
		/* the outermost: libc's once main runs, ld.so's before */
		len = bpf_get_stack(ctx, pcs, sizeof(pcs), BPF_F_USER_STACK);
		for (i = 0; i < START_PCS; i++) {
			if (len < (i + 1) * (long)sizeof(__u64))
				break;
			if (pcs[i] < lo || pcs[i] >= hi)
				pc = pcs[i];
		}
	}
	if (pc)
		bpf_find_vma(task, pc, collect_vma, NULL, 0);
	if (e->n)
		start_submit(e);
}

/*
 * A process this young may still be in its dynamic loader, its libraries
 * not mapped yet: mappings sent now are sent again once it is older.
 */
#define START_MAPS_SETTLE_NS 20000000ULL

/*
 * When each tgid last exec'd, or last sent its mappings (a fork's start
 * time says nothing of its exec).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16384);
} maps_at SEC(".maps");

static __always_inline bool young(struct task_struct *task, __u32 tgid)
{
	__u64 *at = bpf_map_lookup_elem(&maps_at, &tgid);
	__u64 start = at ? *at : BPF_CORE_READ(task, group_leader, start_time);

	return bpf_ktime_get_ns() - start < START_MAPS_SETTLE_NS;
}

static __always_inline void send_start_maps(struct bpf_perf_event_data *ctx,
					    struct task_struct *task, __u32 tgid, bool tables,
					    bool later)
{
	if (start_maps == START_MAPS_LIST)
		start_maps_list(task, tgid);
	else if (tables && start_maps == START_MAPS_FIND_VMA)
		start_maps_find(ctx, tgid, later);
}

#endif /* EMBER_MAPS_BPF_H */
