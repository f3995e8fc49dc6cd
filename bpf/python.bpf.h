/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * python.bpf.h - CPython frames inside the table walk (unwind.bpf.h).
 * When a pc falls in the eval loop, the walk finds the thread state
 * through the thread's TLS (glibc's pthread key block), then emits one
 * _PyInterpreterFrame per bpf_loop() iteration until the frame that
 * entered this eval loop, and resumes the native walk.  Only built into
 * do_sample_dw, and dead code unless user space sets python_unwind.
 */
#ifndef EMBER_PYTHON_BPF_H
#define EMBER_PYTHON_BPF_H

const volatile bool python_unwind = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct py_proc);
	__uint(max_entries, MAX_PY_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} py_procs SEC(".maps");

/* The Python side of one walk, in struct uw_state. */
struct py_walk {
	struct py_proc cfg;
	__u64 cur;		/* next _PyInterpreterFrame; 0: not found yet / none left */
	__u32 on;		/* a CPython process, and nothing failed yet */
	__u32 mode;		/* emitting the frames of the eval loop at pc */
	__u32 started;		/* cur was read from the thread state */
	__u32 frames;		/* emitted, counted once at the end of the walk */
	__u64 frame[PY_FRAME_BYTES / 8];
	__u64 code[PY_SUM_WORDS];
};

/* Starts a walk: picks up the process's config, if it runs CPython. */
static __always_inline void py_begin(struct py_walk *w, __u32 tgid)
{
	struct py_proc *cfg;

	w->on = 0;
	w->mode = 0;
	w->started = 0;
	w->frames = 0;
	w->cur = 0;
	if (!python_unwind)
		return;
	cfg = bpf_map_lookup_elem(&py_procs, &tgid);
	if (!cfg)
		return;
	w->cfg = *cfg;
	w->on = 1;
}

static __always_inline bool py_in_eval(struct py_walk *w, __u64 pc)
{
	return (pc >= w->cfg.eval_start[0] && pc < w->cfg.eval_end[0]) ||
	       (pc >= w->cfg.eval_start[1] && pc < w->cfg.eval_end[1]);
}

/* Stops Python unwinding for the rest of this walk (counted as @cnt). */
static __always_inline bool py_fail(struct py_walk *w, __u32 cnt)
{
	count(cnt);
	w->on = 0;
	w->mode = 0;
	return false;
}

/*
 * At an eval-loop pc: finds the frame it runs (the thread's current frame
 * the first time, else what the inner eval loop's entry frame left).
 * Returns true when frames are to be emitted.
 */
static __always_inline bool py_enter(struct py_walk *w)
{
	struct task_struct *task;
	__u64 fsbase, tstate, cframe, frame;
	__s32 key = w->cfg.tss_key;

	count(CNT_PY_EVAL);
	if (w->started) {
		if (!w->cur)
			return py_fail(w, CNT_PY_NO_FRAME);
		w->mode = 1;
		return true;
	}
	w->started = 1;
	/* glibc keeps keys below 32 in the pthread struct itself */
	if (key < 0 || key >= 32)
		return py_fail(w, CNT_PY_NO_TSS);
	task = bpf_get_current_task_btf();
	fsbase = BPF_CORE_READ(task, thread.fsbase);
	if (read_user(fsbase + w->cfg.tls_specific + key * 16 + 8, &tstate))
		return py_fail(w, CNT_PY_READ_FAULT);
	if (!tstate)
		return py_fail(w, CNT_PY_NO_TSTATE);
	cframe = tstate;
	if ((w->cfg.tstate_cframe && (read_user(tstate + w->cfg.tstate_cframe, &cframe) || !cframe)) ||
	    read_user(cframe + w->cfg.cframe_frame, &frame))
		return py_fail(w, CNT_PY_READ_FAULT);
	if (!frame)
		return py_fail(w, CNT_PY_NO_FRAME);
	w->cur = frame;
	w->mode = 1;
	return true;
}

static __always_inline __u64 py_word(struct py_walk *w, __u32 off)
{
	return w->frame[(off / 8) & (PY_FRAME_BYTES / 8 - 1)];
}

/*
 * Emits the frame at w->cur into @stack (two words) and moves to the
 * previous one.  A failed read ends Python unwinding (counted) and the
 * native walk goes on.  Returns false when the stack is full.
 */
static __always_inline bool py_step(struct py_walk *w, struct dw_stack *stack, __u64 *hash)
{
	__u32 n = stack->len, size = w->cfg.frame_read, q;
	__u64 code, prev, instr, qhash = 0, w0, w1;
	__s64 lasti;
	bool stop;

	if (n >= MAX_STACK_DEPTH - 1) {
		count(CNT_PY_DEPTH);
		w->mode = 0;
		return false;
	}
	q = (__u32)(w->cfg.code_qualname - w->cfg.code_sum) / 8;
	if (size == 0 || size > PY_FRAME_BYTES || q >= PY_SUM_WORDS ||
	    bpf_probe_read_user(w->frame, size, (void *)w->cur)) {
		py_fail(w, CNT_PY_READ_FAULT);
		return true;
	}
	code = py_word(w, w->cfg.frame_code);
	prev = py_word(w, w->cfg.frame_previous);
	instr = py_word(w, w->cfg.frame_prev_instr);
	stop = ((__u8 *)w->frame)[w->cfg.frame_stop & (PY_FRAME_BYTES - 1)] == w->cfg.stop_value;
	if (stop && w->cfg.stop_skip) {
		/* the eval loop's own entry shim: its caller's frames belong to the next one */
		w->cur = prev;
		w->mode = 0;
		return true;
	}
	if (bpf_probe_read_user(w->code, sizeof(w->code), (void *)(code + w->cfg.code_sum)) ||
	    read_user(w->code[q] + w->cfg.str_hash, &qhash)) {
		py_fail(w, CNT_PY_READ_FAULT);
		return true;
	}
	/* an arithmetic shift: a frame not started yet sits before its first instruction */
	lasti = ((__s64)instr - (__s64)(code + w->cfg.code_adaptive)) >> 1;
	w0 = PY_FRAME_MARK | (code & ~PY_FRAME_MASK);
	w1 = (__u64)py_code_sum(w->code, qhash) << 32 | (__u32)lasti;
	/*
	 * n < MAX_STACK_DEPTH - 1 already; the mask (kept by barrier_var())
	 * shows the verifier the indices stay inside the map value.
	 */
	barrier_var(n);
	stack->ips[n & 127] = w0;
	barrier_var(n);
	stack->ips[(n + 1) & 127] = w1;
	stack->len = n + 2;
	*hash = (((*hash ^ w0) * HASH_MUL) ^ w1) * HASH_MUL;
	w->frames++;
	w->cur = prev;
	if (stop || !prev)
		w->mode = 0;
	return true;
}

/* Ends a walk: counts the frames emitted. */
static __always_inline void py_end(struct py_walk *w)
{
	__u32 id = CNT_PY_FRAMES;
	__u64 *val;

	if (!python_unwind || !w->frames)
		return;
	val = bpf_map_lookup_elem(&counters, &id);
	if (val)
		*val += w->frames;
}

#endif /* EMBER_PYTHON_BPF_H */
