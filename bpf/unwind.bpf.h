/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * unwind.bpf.h - user stack unwinding with .eh_frame tables, included by
 * profile.bpf.c.  One bpf_loop() iteration per frame: find the mapping of
 * pc, binary-search its file's rows, apply the row (or one frame-pointer
 * step where no row covers pc).  The C reference is unwind/step.c.
 */
#ifndef EMBER_UNWIND_BPF_H
#define EMBER_UNWIND_BPF_H

#define UNWIND_ABI_NO_LINUX_TYPES
#include "../unwind/unwind_abi.h"

#define MAPS_STEPS 10		/* ceil(log2(MAX_PROC_MAPS)) + 1 */
#define ROWS_STEPS 24		/* up to 16M rows per file */
#define HASH_MUL 0x9e3779b97f4a7c15ULL

static __always_inline int read_user(__u64 addr, __u64 *val)
{
	return bpf_probe_read_user(val, sizeof(*val), (void *)addr);
}

#include "python.bpf.h"

/*
 * Stack words are read STACK_WIN bytes at a time: one read serves the
 * return addresses and saved rbp of the next few frames, where a read
 * per word cost a helper call each.
 */
#define STACK_WIN 256
enum win_state { WIN_EMPTY, WIN_FULL, WIN_OFF };	/* WIN_OFF: a window read faulted */

/* Why a walk ended; indexes the UNWIND_* counters. */
enum walk_end { WALK_ROOT, WALK_FP_END, WALK_NO_TABLE, WALK_BAD_CFA, WALK_FAULT, WALK_DEPTH };

struct uw_state {
	__u64 pc, sp, bp;
	__u64 hash;
	__u32 tgid;
	__u32 is_ret;
	__u32 end;		/* enum walk_end, valid once done */
	__u32 used_fp;		/* the last step had no table row */
	__u32 unmapped;		/* a pc fell outside the known mappings */
	__u32 seeded;		/* the process's entry is seeded (UNWIND_PROC_SEEDED) */
	__u32 seed;		/* ... and may still add a file in this sample */
	__u32 cache_hits;	/* rows found in row_cache, counted once per walk */
	__u32 win_state;	/* enum win_state: stack_word()'s window */
	__u32 rescan;		/* user space should read the maps (see search_row()) */
	__u64 win_lo;		/* user address of win[0] */
	__u8 win[STACK_WIN + 8];	/* + 8: a word read at any offset below STACK_WIN stays inside */
	struct dw_stack stack;
	struct py_walk py;	/* CPython frames (python.bpf.h) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct uw_state);
	__uint(max_entries, 1);
} uw_states SEC(".maps");

/* Rows of every loaded file; user space writes them through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct unwind_row);
	__uint(max_entries, 1);	/* sized by user space before load */
	__uint(map_flags, BPF_F_MMAPABLE);
} unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct unwind_file);
	__uint(max_entries, MAX_UNWIND_FILES);	/* user space may resize (--unwind-files) */
} unwind_files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct unwind_proc);
	__uint(max_entries, MAX_UNWIND_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} unwind_procs SEC(".maps");

#define DW_STACK_MAP(name)						\
	struct {							\
		__uint(type, BPF_MAP_TYPE_HASH);			\
		__type(key, __u64);					\
		__type(value, struct dw_stack);				\
		__uint(max_entries, MAX_STACKS);			\
		__uint(map_flags, BPF_F_NO_PREALLOC);			\
	} name SEC(".maps")

DW_STACK_MAP(ustacks_dw0);
DW_STACK_MAP(ustacks_dw1);

/* Bumped at every change of a table or an entry: row_cache entries go stale. */
volatile __u32 unwind_gen;

#include "seed.bpf.h"

/*
 * When each tgid last asked for a rescan, and how long until it may ask
 * again: 200 ms, doubling at each request up to a minute, so a process
 * whose pcs never fall in a table (JIT code, no CFI) cannot storm.
 */
#define RESCAN_MIN_NS 200000000ULL
#define RESCAN_MAX_NS 60000000000ULL
struct rescan_state {
	__u64 at;
	__u64 wait;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct rescan_state);
	__uint(max_entries, 4096);
} rescan_at SEC(".maps");

/*
 * Rows already looked up, per CPU and direct-mapped by (tgid, pc).  User
 * space bumps unwind_gen after changing any table or process mapping,
 * which makes every entry stale at once.
 */
#define ROW_CACHE_SIZE 1024	/* a power of two */
enum { ROW_CACHED_EMPTY, ROW_CACHED_FOUND, ROW_CACHED_NONE, ROW_CACHED_UNMAPPED };

struct row_cache_ent {
	__u64 pc;		/* pc - is_ret, as searched */
	__u32 tgid;
	__u32 gen;
	struct unwind_row row;
	__u32 state;		/* ROW_CACHED_* */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct row_cache_ent);
	__uint(max_entries, ROW_CACHE_SIZE);
} row_cache SEC(".maps");


/*
 * The mapping containing pc, or NULL.  Indices are masked with
 * MAX_PROC_MAPS - 1 (a power of two) so the verifier sees them in bounds;
 * they are in bounds anyway, so barrier_var() stops the compiler from
 * dropping the mask.
 */
static __always_inline struct unwind_map *find_map(struct unwind_proc *proc, __u64 pc)
{
	__u32 lo = 0, hi = proc->n, mid;
	int i;

	if (hi > MAX_PROC_MAPS)
		return NULL;
	for (i = 0; i < MAPS_STEPS && lo < hi; i++) {
		mid = (lo + hi) / 2;
		barrier_var(mid);
		mid &= MAX_PROC_MAPS - 1;
		if (proc->maps[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	lo--;
	barrier_var(lo);
	lo &= MAX_PROC_MAPS - 1;
	if (pc >= proc->maps[lo].end)
		return NULL;
	return &proc->maps[lo];
}

/* The last row of @file with pc_off <= x, or NULL. */
static __always_inline struct unwind_row *find_row(struct unwind_file *file, __u64 x)
{
	__u32 lo = file->first, hi = file->first + file->n, mid, idx;
	struct unwind_row *row;
	int i;

	if (!file->n || x > 0xffffffffULL)
		return NULL;
	for (i = 0; i < ROWS_STEPS && lo < hi; i++) {
		mid = lo + (hi - lo) / 2;
		row = bpf_map_lookup_elem(&unwind_rows, &mid);
		if (!row)
			return NULL;
		if (row->pc_off <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo <= file->first)
		return NULL;
	idx = lo - 1;
	return bpf_map_lookup_elem(&unwind_rows, &idx);
}

static __always_inline struct unwind_row *search_row(struct uw_state *st)
{
	enum seed_res res;
	struct unwind_proc *proc;
	struct unwind_file *file;
	struct unwind_map *m;
	__u32 slot;

	proc = bpf_map_lookup_elem(&unwind_procs, &st->tgid);
	if (!proc)
		return NULL;
	m = find_map(proc, st->pc);
	if (!m && seed_procs && (proc->flags & UNWIND_PROC_SEEDED)) {
		/* one file a sample: a later sample adds this one */
		res = SEED_LATER;
		if (st->seed) {
			st->seed = 0;
			res = seed_add(proc, st->pc);
			if (res == SEED_ADDED)
				m = find_map(proc, st->pc);
		}
		/* user space is needed only for code BPF has no table for */
		st->rescan |= res == SEED_NO_TABLE;
	} else if (!m) {
		st->rescan = 1;	/* dlopen() since the maps were read */
	}
	if (!m) {
		st->unmapped = 1;
		return NULL;
	}
	slot = m->file;
	file = bpf_map_lookup_elem(&unwind_files, &slot);
	/* a seeded entry may outlive its file's load: the slot may hold another file now */
	if (!file || file->gen != m->gen)
		return NULL;
	return find_row(file, st->pc - m->bias - st->is_ret);
}

/*
 * The row for pc in this process, from the per-CPU cache when this
 * (tgid, pc) was looked up since user space last changed a table or a
 * mapping (unwind_gen), else searched (two binary searches) and cached.
 * Hot stacks repeat from sample to sample, so most frames hit.
 */
static __always_inline struct unwind_row *lookup_row(struct uw_state *st)
{
	__u64 pc = st->pc - st->is_ret;
	__u32 gen = unwind_gen, idx;
	struct row_cache_ent *e;
	struct unwind_row *row;

	idx = (__u32)(((pc ^ st->tgid) * HASH_MUL) >> 32) & (ROW_CACHE_SIZE - 1);
	e = bpf_map_lookup_elem(&row_cache, &idx);
	if (!e)
		return search_row(st);
	if (e->pc == pc && e->tgid == st->tgid && e->gen == gen && e->state) {
		st->cache_hits++;
		if (e->state == ROW_CACHED_UNMAPPED)
			st->unmapped = st->rescan = 1;	/* never cached for a seeded entry */
		return e->state == ROW_CACHED_FOUND ? &e->row : NULL;
	}
	row = search_row(st);
	/* a seeded entry grows: a pc outside it now may not be later */
	if (!row && st->unmapped && st->seeded)
		return row;
	e->pc = pc;
	e->tgid = st->tgid;
	e->gen = gen;
	e->state = row ? ROW_CACHED_FOUND : st->unmapped ? ROW_CACHED_UNMAPPED : ROW_CACHED_NONE;
	if (row)
		e->row = *row;
	return row;
}

/*
 * The user stack word at @addr, from the window when it holds it, else
 * from a new window starting there (word by word, where that read faults:
 * the stack's last page).  Words are read lowest first, so a frame's
 * words are all in the window read for its first.
 */
static __always_inline int stack_word(struct uw_state *st, __u64 addr, __u64 *val)
{
	__u64 off = addr - st->win_lo;

	if (st->win_state != WIN_FULL || addr < st->win_lo || off > STACK_WIN - 8) {
		if (st->win_state == WIN_OFF)
			return read_user(addr, val);
		if (bpf_probe_read_user(st->win, STACK_WIN, (void *)addr)) {
			st->win_state = WIN_OFF;
			return read_user(addr, val);
		}
		st->win_state = WIN_FULL;
		st->win_lo = addr;
		off = 0;
	}
	*val = *(__u64 *)(st->win + (off & (STACK_WIN - 1)));
	return 0;
}

/* Moves to the caller whose sp is @cfa.  Returns 0, or a walk_end + 1. */
static __always_inline int step_cfa(struct uw_state *st, __u64 cfa, int rbp_off)
{
	__u64 ra, bp = st->bp;

	if (cfa <= st->sp)
		return WALK_BAD_CFA + 1;
	/* the saved rbp (below the return address) first: see stack_word() */
	if (rbp_off && stack_word(st, cfa + rbp_off, &bp))
		return WALK_FAULT + 1;
	if (stack_word(st, cfa - 8, &ra))
		return WALK_FAULT + 1;
	if (ra == 0)
		return WALK_ROOT + 1;
	st->pc = ra;
	st->sp = cfa;
	st->bp = bp;
	st->is_ret = 1;
	return 0;
}

static __always_inline int step_signal(struct uw_state *st)
{
	__u64 g = st->sp + UNWIND_SIGFRAME_MCONTEXT, bp, sp, pc;

	if (read_user(g + 8 * UNWIND_SIGFRAME_RBP, &bp) ||
	    read_user(g + 8 * UNWIND_SIGFRAME_RSP, &sp) ||
	    read_user(g + 8 * UNWIND_SIGFRAME_RIP, &pc))
		return WALK_FAULT + 1;
	if (pc == 0)
		return WALK_ROOT + 1;
	st->pc = pc;
	st->sp = sp;
	st->bp = bp;
	st->is_ret = 0;
	return 0;
}

/* One frame-pointer step, where no table row covers pc. */
static __always_inline int step_fp(struct uw_state *st)
{
	int ret;

	if (st->bp <= st->sp || st->bp - st->sp >= UNWIND_FP_MAX_FRAME)
		return (st->used_fp ? WALK_FP_END : WALK_NO_TABLE) + 1;
	ret = step_cfa(st, st->bp + 16, -16);
	/* a zero return address ends a frame-pointer chain, not a table walk */
	return ret == WALK_ROOT + 1 ? WALK_FP_END + 1 : ret;
}

static __always_inline int step(struct uw_state *st, struct unwind_row *row)
{
	__u64 k;

	st->used_fp = !row || row->kind == UNWIND_INVALID;
	if (st->used_fp)
		return step_fp(st);
	switch (row->kind) {
	case UNWIND_RSP:
		return step_cfa(st, st->sp + row->cfa_off, row->rbp_off);
	case UNWIND_RBP:
		return step_cfa(st, st->bp + row->cfa_off, row->rbp_off);
	case UNWIND_PLT10:
	case UNWIND_PLT11:
		k = row->kind == UNWIND_PLT10 ? 10 : 11;
		return step_cfa(st, st->sp + 8 + ((st->pc & 15) >= k ? 8 : 0), row->rbp_off);
	case UNWIND_SIGNAL:
		return step_signal(st);
	default:
		return WALK_ROOT + 1;	/* UNWIND_STOP */
	}
}

static long unwind_frame(__u64 idx, void *ctx)
{
	__u32 zero = 0, n;
	struct uw_state *st = bpf_map_lookup_elem(&uw_states, &zero);
	int ret;

	if (!st)
		return 1;
	if (python_unwind && st->py.mode) {
		/* one Python frame; the eval loop's own native step once they are out */
		if (!py_step(&st->py, &st->stack, &st->hash)) {
			st->end = WALK_DEPTH;
			return 1;
		}
		if (st->py.mode)
			return 0;
		goto native;
	}
	n = st->stack.len;
	if (n >= MAX_STACK_DEPTH) {
		st->end = WALK_DEPTH;
		return 1;
	}
	st->stack.ips[n] = st->pc;
	st->stack.len = n + 1;
	st->hash = (st->hash ^ st->pc) * HASH_MUL;
	if (python_unwind && st->py.on && py_in_eval(&st->py, st->pc - st->is_ret) &&
	    py_enter(&st->py))
		return 0;
native:
	ret = step(st, lookup_row(st));
	if (ret) {
		st->end = ret - 1;
		return 1;
	}
	return 0;
}

static __always_inline void request_rescan(__u32 tgid)
{
	struct rescan_state *last = bpf_map_lookup_elem(&rescan_at, &tgid), next;
	__u64 now = bpf_ktime_get_ns();

	if (last && now - last->at < last->wait) {
		count(CNT_RESCANS_HELD);
		return;
	}
	next.at = now;
	next.wait = last ? last->wait * 2 : RESCAN_MIN_NS;
	if (next.wait > RESCAN_MAX_NS)
		next.wait = RESCAN_MAX_NS;
	bpf_map_update_elem(&rescan_at, &tgid, &next, BPF_ANY);
	if (send_event(EVENT_RESCAN, tgid))
		count(CNT_RESCANS);
}

/* Walks the user stack from these registers into st->stack; @seeded: see uw_state. */
static __always_inline void walk(struct uw_state *st, __u32 tgid, __u64 pc, __u64 sp, __u64 bp,
				 bool seeded)
{
	st->pc = pc;
	st->sp = sp;
	st->bp = bp;
	st->tgid = tgid;
	st->is_ret = 0;
	st->used_fp = 0;
	st->unmapped = 0;
	st->rescan = 0;
	st->seeded = seeded;
	st->seed = seeded;
	st->cache_hits = 0;
	st->win_state = WIN_EMPTY;
	st->hash = tgid;	/* the same addresses mean different code per process */
	st->stack.len = 0;
	st->end = WALK_DEPTH;
	py_begin(&st->py, tgid);
	bpf_loop(MAX_STACK_DEPTH + 1, unwind_frame, NULL, 0);
	py_end(&st->py);
}

/*
 * Unwinds the current task's user stack with tables into @key->uhash.
 * Returns false when the process has no tables (use frame pointers).
 * @seed: user space has not read this process yet, and will drop an entry
 * of it at its exit: one may be seeded (seed_procs).  @python: set when
 * the stack holds CPython frames.
 */
static __always_inline bool unwind_user(struct bpf_perf_event_data *ctx, bool in_user,
					__u32 tgid, __u32 half, struct sample_key *key, bool seed,
					bool *python)
{
	struct unwind_proc *proc;
	struct dw_stack *old;
	struct pt_regs *regs;
	struct uw_state *st;
	__u64 pc, sp, bp, n;
	__u32 zero = 0;
	void *stacks;
	long err;

	proc = bpf_map_lookup_elem(&unwind_procs, &tgid);
	if (!proc && seed_procs && seed)
		proc = seed_proc(tgid);
	if (!proc)
		return false;
	st = bpf_map_lookup_elem(&uw_states, &zero);
	if (!st)
		return false;
	if (in_user) {
		pc = ctx->regs.ip;
		sp = ctx->regs.sp;
		bp = ctx->regs.bp;
	} else {
		regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		pc = BPF_CORE_READ(regs, ip);
		sp = BPF_CORE_READ(regs, sp);
		bp = BPF_CORE_READ(regs, bp);
	}
	walk(st, tgid, pc, sp, bp, seed_procs && (proc->flags & UNWIND_PROC_SEEDED));
	count(CNT_UNWIND_WALKS);
	count(CNT_UNWIND_ROOT + st->end);
	count_n(CNT_UNWIND_CACHE_HITS, st->cache_hits);
	if (st->rescan)
		request_rescan(tgid);
	if (!st->stack.len)
		return true;
	*python = st->py.frames != 0;
	key->uhash = st->hash ? st->hash : 1;
	stacks = half ? (void *)&ustacks_dw1 : (void *)&ustacks_dw0;
	/* hot stacks are there already: a lookup takes no bucket lock */
	old = bpf_map_lookup_elem(stacks, &key->uhash);
	err = old ? -EEXIST : bpf_map_update_elem(stacks, &key->uhash, &st->stack, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* same hash: make sure it is the same stack (ends and depth) */
		if (!old)
			old = bpf_map_lookup_elem(stacks, &key->uhash);
		n = st->stack.len - 1;
		if (old && (old->len != st->stack.len || n >= MAX_STACK_DEPTH ||
			    old->ips[0] != st->stack.ips[0] || old->ips[n] != st->stack.ips[n])) {
			count(CNT_UNWIND_COLLISION);
			key->uhash = 0;
		}
	} else if (err) {
		count(CNT_UNWIND_STACKS_FULL);
		key->uhash = 0;
	}
	return true;
}

#endif /* EMBER_UNWIND_BPF_H */
