// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * profile.bpf.c - ember's sampler: on every cpu-clock tick, record the
 * thread's kernel and user stacks and count them in the kernel.
 *
 * Maps come in pairs so the collector can drain one half while samples keep
 * landing in the other: user space flips `active`, waits for programs in
 * flight to finish, then reads and clears the idle half.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "profile.h"

#define EEXIST 17
#define ENOMEM 12
#define EBUSY 16

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000
#define STACK_VALUE_SIZE (MAX_STACK_DEPTH * sizeof(__u64))
#define VM_EXEC 0x00000004
#define PAGE_SHIFT 12	/* x86_64, the only target (see Makefile) */

const volatile bool kernel_stacks = true;
const volatile bool user_stacks = true;
const volatile bool include_idle = false;
const volatile bool filter_pids = false;

/* Which half of each map pair samples go to; written by user space. */
volatile __u32 active;

#define STACK_MAP(name)							\
	struct {							\
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);			\
		__uint(key_size, sizeof(__u32));			\
		__uint(value_size, STACK_VALUE_SIZE);			\
		__uint(max_entries, MAX_STACKS);			\
	} name SEC(".maps")

#define COUNTS_MAP(name)						\
	struct {							\
		__uint(type, BPF_MAP_TYPE_HASH);			\
		__type(key, struct sample_key);				\
		__type(value, __u64);					\
		__uint(max_entries, MAX_COUNTS);			\
	} name SEC(".maps")

STACK_MAP(kstacks0);
STACK_MAP(kstacks1);
STACK_MAP(ustacks0);
STACK_MAP(ustacks1);
COUNTS_MAP(counts0);
COUNTS_MAP(counts1);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, CNT_MAX);
} counters SEC(".maps");

/* Processes to sample when filter_pids is set; filled before attach. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, MAX_TARGET_PIDS);
} targets SEC(".maps");

/*
 * tgids announced to user space, value enum seen_state.  Exec marks the
 * entry stale rather than deleting it, so the exit of a process never
 * sampled since exec is still reported and user space can drop what it
 * holds for it.  Only a missing or stale entry is announced again.
 */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, 65536);
} seen SEC(".maps");

/*
 * Each CPU's last tgid found settled in seen (SEEN_CURRENT or SEEN_READ),
 * good while seen_gen stands: whatever changes or drops an entry of seen
 * (exec, exit, user space marking it read) bumps seen_gen afterwards.  A
 * CPU that keeps sampling one process skips the hash lookup.
 */
struct seen_memo {
	__u32 tgid;
	__u32 gen;
	__u8 state;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct seen_memo);
	__uint(max_entries, 1);
} seen_memos SEC(".maps");

/* Bumped after each change to seen; user space bumps it too. */
volatile __u32 seen_gen;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* room for ~360 exit dumps (2.8 KiB each) between two polls */
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/*
 * Set by user space where mappings come at exit, so nothing needs reading
 * the moment it happens: events then wake it only when urgent (a process
 * that needs tables), when the ring is a quarter full, or when it was last
 * woken EVENTS_BATCH_NS ago; it polls once more that long after a wakeup
 * for the events that did not wake it.  Under churn a wakeup per event
 * costs more than the event.
 */
volatile __u32 batch_events;
volatile __u64 last_wake_ns;
#define EVENTS_WAKE_BYTES (256 * 1024)
#define EVENTS_BATCH_NS 100000000ULL

/*
 * Submit flags that wake the reader when @urgent, when *@last (the last
 * such wakeup) is @period ago, or when the ring is a quarter full.
 */
static __always_inline __u64 throttled_wake(volatile __u64 *last, __u64 period, bool urgent)
{
	__u64 now = bpf_ktime_get_ns();

	if (urgent || now - *last >= period ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > EVENTS_WAKE_BYTES) {
		*last = now;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 wake_flags(bool urgent)
{
	return batch_events ? throttled_wake(&last_wake_ns, EVENTS_BATCH_NS, urgent) : 0;
}

static __always_inline void count_n(__u32 id, __u64 n)
{
	__u64 *val = bpf_map_lookup_elem(&counters, &id);

	if (val)
		*val += n;
}

static __always_inline void count(__u32 id)
{
	count_n(id, 1);
}

/* Returns false when the ring buffer was full (counted). */
static __always_inline bool send_event(__u32 type, __u32 tgid)
{
	struct ember_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(CNT_EVENTS_LOST);
		return false;
	}
	e->type = type;
	e->tgid = tgid;
	bpf_ringbuf_submit(e, wake_flags(type == EVENT_RESCAN));
	return true;
}

/* Announces @task's process; false when the ring buffer is full (counted). */
static __always_inline bool send_new_process(struct task_struct *task, __u32 tgid, __u32 flags)
{
	struct ember_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	struct inode *inode;

	if (!e) {
		count(CNT_EVENTS_LOST);
		return false;
	}
	e->type = EVENT_NEW_PROCESS;
	e->tgid = tgid;
	e->start_boottime_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->flags = flags;
	inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
	e->exe_ino = inode ? BPF_CORE_READ(inode, i_ino) : 0;
	e->exe_dev = inode ? BPF_CORE_READ(inode, i_sb, s_dev) : 0;
	bpf_ringbuf_submit(e, wake_flags(flags & PROC_NO_TABLE));
	return true;
}

/*
 * A CPython stack new in @half (pyprefetch.c): its code objects are read
 * while the process lives.  It wakes the agent when the last such wakeup
 * was PY_WAKE_NS ago (or the ring fills); the agent then polls every 50 ms
 * while they keep coming, and not at all while no CPython stack is new.
 */
volatile __u64 last_py_wake_ns;
#define PY_WAKE_NS 50000000ULL

static __always_inline void send_py_stack(__u32 tgid, __u64 uhash, __u32 half)
{
	struct ember_py_stack_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(CNT_EVENTS_LOST);
		return;
	}
	e->type = EVENT_PY_STACK;
	e->tgid = tgid;
	e->uhash = uhash;
	e->half = half;
	e->pad = 0;
	bpf_ringbuf_submit(e, throttled_wake(&last_py_wake_ns, PY_WAKE_NS, false));
}

#include "unwind.bpf.h"

/* Maps a bpf_get_stackid() error to the counter that explains it. */
static __always_inline void count_stack_error(long err, __u32 base)
{
	if (err == -EEXIST)
		count(base + 1);
	else if (err == -ENOMEM)
		count(base + 2);
	else
		count(base);
}

/* Returns true when @key is new in @counts. */
static __always_inline bool add_sample(void *counts, struct sample_key *key)
{
	__u64 one = 1, *val;
	long err;

	val = bpf_map_lookup_elem(counts, key);
	if (val) {
		__sync_fetch_and_add(val, 1);
		return false;
	}
	err = bpf_map_update_elem(counts, key, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		val = bpf_map_lookup_elem(counts, key);
		if (val)
			__sync_fetch_and_add(val, 1);
		return false;
	}
	if (err)
		count(CNT_COUNTS_FULL);
	return !err;
}

#include "maps.bpf.h"

/*
 * perf_event programs see the UAPI struct pt_regs, whose layout is fixed:
 * cs is its 18th 8-byte slot.  Kernels up to 6.11 declare the kernel's cs
 * as unsigned long, later ones as a union holding a u16, so a CO-RE read
 * relocates on only one of them; and the verifier takes only full-width
 * loads of ctx->regs.  So read the slot itself.
 */
#define UAPI_PT_REGS_CS 17

/*
 * Whether BPF cannot unwind @task's new process with tables until user
 * space has read it: its executable has none (a fork of a read parent
 * copies the parent's entry, but reading it soon costs little).
 */
static __always_inline bool needs_tables(struct task_struct *task)
{
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);

	return !seed_procs || !exe || !file_table(exe);
}

/*
 * An exiting task (past exit_mm() it has no user stack): its process's
 * labels still name its cost (exit_mmap() can be long), so it is announced
 * for them, not marked seen, if user space has not heard of it (or not
 * since exec).  @state: its `seen` entry.
 */
static __always_inline void announce_exiting(struct task_struct *task, __u32 tgid,
					     const __u8 *state)
{
	if (!state || *state == SEEN_STALE)
		send_new_process(task, tgid, PROC_EXITING);
}

/*
 * Announces a process user space has not heard of (or not since exec).
 * Returns true when user space knows of it: then an entry of it in the
 * unwind maps is sure to be dropped at its exit.
 */
static __always_inline bool announce(struct bpf_perf_event_data *ctx, struct task_struct *task,
				     __u32 tgid, unsigned int flags, bool tables, bool *unread)
{
	__u8 current = SEEN_CURRENT, *state;
	struct seen_memo *memo;
	__u32 zero = 0, gen;
	__u64 now;

	gen = seen_gen;		/* read before seen: a change after it is noticed next time */
	memo = bpf_map_lookup_elem(&seen_memos, &zero);
	if (memo && memo->tgid == tgid && memo->gen == gen) {
		*unread = memo->state != SEEN_READ;
		return true;
	}
	state = bpf_map_lookup_elem(&seen, &tgid);
	*unread = !state || *state != SEEN_READ;
	if (memo && state && (*state == SEEN_CURRENT || *state == SEEN_READ)) {
		memo->tgid = tgid;
		memo->gen = gen;
		memo->state = *state;
		return true;
	}
	/*
	 * An exiting task has passed sched_process_exit already: announcing
	 * it now would leave an entry nobody ever removes.
	 */
	if ((!state || *state == SEEN_STALE) && !(flags & PF_EXITING)) {
		/*
		 * Marked seen only once announced: a full ring buffer loses the
		 * announcement (counted), and the next sample tries again.
		 */
		if (!send_new_process(task, tgid, tables && needs_tables(task) ? PROC_NO_TABLE : 0))
			return false;
		/* bpf_find_vma sends the libraries' text only with a later sample */
		if (start_maps == START_MAPS_FIND_VMA ||
		    (start_maps == START_MAPS_LIST && young(task, tgid)))
			current = SEEN_EARLY;
		bpf_map_update_elem(&seen, &tgid, &current, BPF_ANY);
		send_start_maps(ctx, task, tgid, tables, false);
	} else if (flags & PF_EXITING) {
		announce_exiting(task, tgid, state);
	} else if (state && *state >= SEEN_EARLY && *state <= SEEN_EARLY_LAST &&
		   !young(task, tgid)) {
		/*
		 * Its libraries may be mapped by now: send them too, a
		 * few times, 20 ms apart (the dynamic loader may be slow).
		 */
		*state = *state < SEEN_EARLY_LAST ? *state + 1 : SEEN_CURRENT;
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&maps_at, &tgid, &now, BPF_ANY);
		send_start_maps(ctx, task, tgid, tables, true);
	}
	return state || !(flags & PF_EXITING);
}

/* One sample; @tables: unwind user stacks with .eh_frame tables (bpf_loop). */
static __always_inline int sample(struct bpf_perf_event_data *ctx, bool tables)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, pid = (__u32)id;
	struct sample_key key = {};
	bool in_user = (((volatile __u64 *)ctx)[UAPI_PT_REGS_CS] & 3) == 3;
	__u32 half = active & 1;
	bool known, unread, has_mm, python = false;
	unsigned int flags;
	long ret;

	if (pid == 0 && !include_idle)
		return 0;
	if (filter_pids && !bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	count(CNT_SAMPLES);

	key.tgid = tgid;
	key.pid = pid;
	key.kstack_id = -1;
	key.ustack_id = -1;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));

	if (kernel_stacks && !in_user) {
		ret = bpf_get_stackid(ctx, half ? (void *)&kstacks1 : (void *)&kstacks0, 0);
		if (ret < 0)
			count_stack_error(ret, CNT_KSTACK_FAULT);
		else
			key.kstack_id = ret;
	}
	if (tables) {
		/* 5.11+: plain loads instead of two probe reads */
		struct task_struct *t = bpf_get_current_task_btf();

		flags = t->flags;
		has_mm = t->mm != NULL;
	} else {
		flags = BPF_CORE_READ(task, flags);
		has_mm = BPF_CORE_READ(task, mm) != NULL;
	}
	/* kernel threads, and tasks past exit_mm(), have no user stack */
	if (user_stacks && !(flags & PF_KTHREAD) && has_mm && pid != 0) {
		known = announce(ctx, task, tgid, flags, tables, &unread);
		if (!tables ||
		    !unwind_user(ctx, in_user, tgid, half, &key, known && unread, &python)) {
			ret = bpf_get_stackid(ctx, half ? (void *)&ustacks1 : (void *)&ustacks0,
					      BPF_F_USER_STACK);
			if (ret < 0)
				count_stack_error(ret, CNT_USTACK_FAULT);
			else
				key.ustack_id = ret;
		}
	} else if (user_stacks && (flags & PF_EXITING) && !(flags & PF_KTHREAD) && pid != 0) {
		announce_exiting(task, tgid, bpf_map_lookup_elem(&seen, &tgid));
	}
	if (add_sample(half ? (void *)&counts1 : (void *)&counts0, &key) && python && key.uhash)
		send_py_stack(tgid, key.uhash, half);
	return 0;
}

/*
 * Two entry points, and user space loads one: kernels before 5.17 have no
 * bpf_loop() and before 5.13 not even the instruction that names its
 * callback, which the verifier refuses even in dead code.
 */
SEC("perf_event")
int do_sample(struct bpf_perf_event_data *ctx)
{
	return sample(ctx, false);
}

SEC("perf_event")
int do_sample_dw(struct bpf_perf_event_data *ctx)
{
	return sample(ctx, true);
}

/*
 * After exec the old mappings are gone: the next sample announces the
 * process again, once the new image is running.  The new executable is
 * reported too (see struct ember_exec_event).
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 *state = bpf_map_lookup_elem(&seen, &tgid);
	struct ember_exec_event *e;
	__u64 now = bpf_ktime_get_ns();
	struct inode *inode;

	if (state) {
		*state = SEEN_STALE;
		__sync_fetch_and_add(&seen_gen, 1);
	}
	/* the old image's table entry would unwind the new one wrong */
	bpf_map_delete_elem(&unwind_procs, &tgid);
	if (start_maps != START_MAPS_NONE)
		bpf_map_update_elem(&maps_at, &tgid, &now, BPF_ANY);
	if (filter_pids && !bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_EVENTS_LOST);
		return 0;
	}
	inode = BPF_CORE_READ(bprm, file, f_inode);
	e->type = EVENT_EXEC;
	e->tgid = tgid;
	e->ino = BPF_CORE_READ(inode, i_ino);
	e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->pad = 0;
	e->start_boottime_ns = BPF_CORE_READ(p, group_leader, start_boottime);
	if (bpf_probe_read_kernel_str(e->path, sizeof(e->path), BPF_CORE_READ(bprm, interp)) < 0)
		e->path[0] = '\0';
	bpf_ringbuf_submit(e, wake_flags(false));
	return 0;
}

/* Open-coded VMA iterator (Linux 6.7+); without it exit_maps_* do not load. */
extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma *it, struct task_struct *task,
				 __u64 addr) __ksym __weak;
extern struct vm_area_struct *bpf_iter_task_vma_next(struct bpf_iter_task_vma *it) __ksym __weak;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma *it) __ksym __weak;

/*
 * A process that lives a few milliseconds is gone before user space can
 * read /proc/PID/maps for its first sample, so send the executable file
 * mappings of a process announced but not read yet (still SEEN_CURRENT)
 * while it exits.  Sent once, by the last thread (the mm lives until its
 * exit_mm()), which also marks the entry DUMPED.  @live_left is what
 * signal->live reads for the last thread at the hook: do_exit() counts a
 * thread out before sched_process_exit, after fentry/do_exit.  Read-only:
 * nothing in the task changes.
 */
static __always_inline int send_exit_maps(int live_left)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 *state = bpf_map_lookup_elem(&seen, &tgid);
	struct ember_maps_event *e;
	struct bpf_iter_task_vma it;
	struct vm_area_struct *vma;
	__u32 n = 0;

	if (!state || *state != SEEN_CURRENT || !task->mm)
		return 0;
	/*
	 * Only the last thread.  An earlier dump would stand for a process
	 * that lives on (and is then never re-read).
	 */
	if (BPF_CORE_READ(task, signal, live.counter) != live_left)
		return 0;
	*state = SEEN_DUMPED;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_EXIT_MAPS_LOST);
		return 0;
	}
	e->type = EVENT_MAPS;
	e->tgid = tgid;
	e->flags = 0;
	bpf_iter_task_vma_new(&it, task, 0);
	while ((vma = bpf_iter_task_vma_next(&it))) {
		if (n >= MAX_EXIT_VMAS) {
			if (vma->vm_file && (vma->vm_flags & VM_EXEC)) {
				e->flags = MAPS_TRUNCATED;
				break;
			}
			continue;
		}
		if (fill_vma(&e->vmas[n], vma))
			n++;
	}
	bpf_iter_task_vma_destroy(&it);
	e->n = n;
	bpf_ringbuf_submit(e, wake_flags(false));
	count(CNT_EXIT_MAPS);
	return 0;
}

/*
 * Since Linux 6.16 sched_process_exit fires before exit_mm(); before, it
 * sees no mm, and fentry on do_exit() (where ftrace allows it) is used.
 * User space probes which one works, loads that one and attaches it
 * before on_exit (probes of one hook run in attach order, so the `seen`
 * entry is still there).
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_maps_tp, struct task_struct *p)
{
	return send_exit_maps(0);
}

SEC("fentry/do_exit")
int BPF_PROG(exit_maps_fentry, long code)
{
	return send_exit_maps(1);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct unwind_proc *proc;

	if (tgid != (__u32)id)
		return 0;
	if (start_maps != START_MAPS_NONE)
		bpf_map_delete_elem(&maps_at, &tgid);
	/* an entry seeded in BPF is BPF's to drop: user space may never have read it */
	proc = bpf_map_lookup_elem(&unwind_procs, &tgid);
	if (proc && (proc->flags & UNWIND_PROC_SEEDED))
		bpf_map_delete_elem(&unwind_procs, &tgid);
	if (bpf_map_delete_elem(&seen, &tgid) == 0) {
		__sync_fetch_and_add(&seen_gen, 1);
		send_event(EVENT_EXIT, tgid);
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
