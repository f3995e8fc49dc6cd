// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * collector.c - ties the sampler to the symbolizer.  Mappings are read when a
 * process is first sampled (it may exit before the drain; with an exit hook,
 * once it is settled, see procs.c), and dropped only after the drain that
 * follows its exit, so memory stays bounded under process churn without
 * losing the last samples of a process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/sysmacros.h>
#include "internal.h"
#include "log.h"

/* ELF files kept open (with their caches) after their last process exits. */
#define IDLE_ELF_FILES 32

/* How long a file without a table keeps its slot after the last process that mapped it. */
#define UNWIND_IDLE_MS 30000

/* How often process events are handled while a drain is symbolizing. */
#define EVENT_POLL_MS 20

struct collector *collector__new(const struct sampler_opts *opts,
				 const struct symbolizer_opts *sym_opts)
{
	struct collector *c = calloc(1, sizeof(*c));
	int err = -ENOMEM, py_fd = -1;

	if (!c)
		return NULL;
	c->clk_tck = sysconf(_SC_CLK_TCK);
	c->execs = calloc(EXEC_SLOTS, sizeof(*c->execs));
	c->reg = registry__new();
	if (!c->execs || !c->reg)
		goto fail;
	c->sym = symbolizer__new_opts(sym_opts);
	if (!c->sym)
		goto fail;
	c->sampler = sampler__new(opts);
	if (!c->sampler) {
		err = -errno;
		goto fail;
	}
	if (sampler__unwinds(c->sampler)) {
		struct sampler_unwind_maps m;

		sampler__unwind_maps(c->sampler, &m);
		py_fd = m.py_procs_fd;
		c->unwinder = unwinder__new(&m);
		if (!c->unwinder) {
			err = -errno;
			log_error("cannot map the unwind table pool: %s", strerror(errno));
			goto fail;
		}
	}
	c->python = python__new(py_fd);
	c->pyfetch = py_prefetch__new();
	if (!c->python || !c->pyfetch)
		goto fail;
	return c;
fail:
	collector__free(c);
	errno = -err;
	return NULL;
}

const struct kfeat *collector__kfeat(struct collector *c)
{
	return sampler__kfeat(c->sampler);
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	registry__free(c->reg);
	unwinder__free(c->unwinder);
	python__free(c->python);
	py_prefetch__free(c->pyfetch);
	sampler__free(c->sampler);
	symbolizer__free(c->sym);
	free(c->frames);
	stack_memo__free(&c->memo);
	free(c->exited);
	free(c->young);
	free(c->deferred);
	free(c->execs);
	free(c);
}

int collector__stop(struct collector *c)
{
	return sampler__stop(c->sampler);
}

/*
 * While CPython stacks come (EVENT_PY_STACK, sent without a wakeup of
 * their own), how long a poll waits before naming their frames.
 */
#define PYTHON_POLL_MS 50

/*
 * Where BPF sends mappings at exit, it wakes the reader at most this often
 * but for urgent events (see batch_events); the events after a wakeup are
 * taken by a poll this long after it.
 */
#define EVENT_BATCH_MS 100

/*
 * Deadlines that can wait are rounded up to this grid, so those close
 * together (a process to read every few ms under churn, the batched
 * events' poll) share one wakeup.  CPython's are not: its code objects
 * must be read before the process exits.
 */
#define WAKE_GRID_MS 50

static uint64_t on_grid(uint64_t ms)
{
	return (ms + WAKE_GRID_MS - 1) / WAKE_GRID_MS * WAKE_GRID_MS;
}

/* Lowers *@slice to what is left until @due (mono_ms(); 0: none), at least 1 ms. */
static void slice_until(int *slice, uint64_t due, uint64_t now)
{
	int64_t left = due ? (int64_t)(due - now) : INT32_MAX;

	if (left < 1)
		left = 1;
	if (left < *slice)
		*slice = left;
}

/*
 * Polls until @timeout_ms, waking early only for what is due: a process
 * waiting to be read, a CPython thread-state key to read again, and the
 * events BPF sent without a wakeup (CPython stacks, batched events).
 */
int collector__poll(struct collector *c, int timeout_ms)
{
	uint64_t end = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0), now;
	int n, slice, i;

	for (;;) {
		now = mono_ms();
		slice = timeout_ms;
		for (i = 0; i < c->ndeferred; i++)
			slice_until(&slice, on_grid(c->deferred[i].due_ms), now);
		slice_until(&slice, python__next_tick_ms(c->python), now);
		if (now - c->last_py_ms <= 2 * PYTHON_POLL_MS && slice > PYTHON_POLL_MS)
			slice = PYTHON_POLL_MS;
		if (sampler__exit_maps(c->sampler) && now - c->last_events_ms <= 2 * EVENT_BATCH_MS)
			slice_until(&slice, on_grid(now + EVENT_BATCH_MS), now);
		n = sampler__poll(c->sampler, slice, collector_on_process, c);
		collector_read_deferred(c, false);
		if (sampler__check_cpus(c->sampler))
			log_debug("cannot read the online CPUs");
		python__tick(c->python);
		now = mono_ms();
		if (n != 0 || timeout_ms <= 0 || now >= end)
			break;
		timeout_ms = end - now;
	}
	return n < 0 ? n : 0;
}

/* Resident set size in bytes, 0 when unknown. */
static uint64_t rss_bytes(void)
{
	unsigned long long size, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * Past the memory limit, drops symbol data that can be rebuilt: DWARF
 * first (only addresses not cached yet pay for it), the cached names only
 * when that was not enough (every address pays).  They are what grows
 * with the variety of programs sampled.  Called between samples, when no
 * frame handed out is held any more.
 *
 * Inside a drain (@in_drain), past the limit the pages of mapped files
 * the drain's lookups touched go back first (cheaper, and much of what a
 * drain of many new programs adds; not below the limit, as they are read
 * from disk again); only a quarter above the limit counts for the rest,
 * and only DWARF goes, once per drain: a window of many new programs must
 * not run away, but closing what the next rows need again is slow.
 */
static void check_memory(struct collector *c, bool in_drain)
{
	uint64_t limit = c->memory_limit, before, after;
	bool names = false;

	if (!limit || (in_drain && c->shrunk_in_drain))
		return;
	if (in_drain && rss_bytes() > limit) {
		symbolizer__release_pages(c->sym);
		c->page_releases++;
	}
	if (in_drain)
		limit += limit / 4;
	if ((before = rss_bytes()) <= limit)
		return;
	symbolizer__shrink(c->sym, false);
	after = rss_bytes();
	c->shrunk_in_drain = in_drain;
	/* names only until that once failed to help: then it would only redo them every window */
	if (!in_drain && after > limit && !c->limit_warned) {
		symbolizer__shrink(c->sym, true);
		after = rss_bytes();
		names = true;
	}
	c->shrinks++;
	log_msg(in_drain ? LOG_DEBUG : LOG_INFO, "memory: resident %.1f MB is over the %llu MB limit:"
		" closed DWARF%s (now %.1f MB)", before / 1048576.0,
		(unsigned long long)(limit >> 20), names ? " and dropped cached names" : "",
		after / 1048576.0);
	if (!in_drain && after > limit && !c->limit_warned) {
		c->limit_warned = true;
		log_warn("memory: still over the limit after dropping what can be rebuilt;"
			 " cached names are kept from now on, DWARF is closed every window:"
			 " raise the limit");
	}
}

/*
 * Free heap bytes past which a drain gives them back: below it, what a
 * drain frees is what the next one allocates again, and each page given
 * back costs a fault to touch again.
 */
#define HEAP_SLACK_BYTES (2u << 20)
/* Drains between looks at the free heap: mallinfo2() walks every free chunk. */
#define HEAP_CHECK_DRAINS 4

/*
 * Gives the heap's free pages back to the kernel after a drain.  A drain
 * that opened DWARF allocates and frees tens of MB (decompressed debug
 * sections, line tables); the chunks still in use among them keep glibc
 * from shrinking the heap by itself, so without this the resident size
 * stays at the drain's high-water mark.  Counted, with the bytes freed.
 */
static void trim_heap(struct collector *c)
{
	uint64_t before, after;

	if (++c->heap_checks % HEAP_CHECK_DRAINS || mallinfo2().fordblks < HEAP_SLACK_BYTES)
		return;
	before = rss_bytes();
	if (!malloc_trim(0))
		return;
	after = rss_bytes();
	c->heap_trims++;
	if (before > after)
		c->heap_trimmed += before - after;
}

static int push_frames(struct collector *c, const struct frame *fr, int n)
{
	struct frame *p;
	int i;

	if (c->nframes + n > c->cap) {
		int cap = c->cap ? c->cap : 256;

		while (cap < c->nframes + n)
			cap *= 2;
		p = realloc(c->frames, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->frames = p;
		c->cap = cap;
	}
	/* the symbolizer gives innermost first; we build root first */
	for (i = n - 1; i >= 0; i--) {
		if (fr[i].flags & FRAME_F_UNKNOWN)
			c->unknown_frames++;
		c->frames[c->nframes++] = fr[i];
	}
	return 0;
}

/* Whether user stack word @w starts a Python frame (two words; see PY_FRAME_MARK). */
static bool py_word(uint64_t w)
{
	return (w & PY_FRAME_MASK) == PY_FRAME_MARK;
}

/*
 * Appends one stack (ips leaf first, 0-terminated) root first.  In a
 * CPython process, Python frames take the place of the eval-loop native
 * frame that ran them (the native frame just inside them).
 */
static int push_stack(struct collector *c, const struct sampler_row *row, bool kernel)
{
	enum { NATIVE, PY_W0, PY_W1, EVAL } kind[MAX_STACK_DEPTH];
	const uint64_t *ips = kernel ? row->kips : row->uips;
	uint32_t tgid = row->key->tgid;
	bool py = !kernel && python__knows(c->python, tgid);
	const struct frame *fr;
	int depth, i, n;

	if (!ips)
		return 0;
	for (depth = 0; depth < MAX_STACK_DEPTH && ips[depth]; depth++)
		;
	/* leaf first, as BPF wrote them: pairs of Python words, and the eval loop inside them */
	for (i = 0; i < depth; i++) {
		kind[i] = NATIVE;
		if (py && i + 1 < depth && py_word(ips[i])) {
			kind[i] = PY_W0;
			kind[++i] = PY_W1;
		}
	}
	for (i = 0; i + 1 < depth; i++)
		if (kind[i] == NATIVE && kind[i + 1] == PY_W0)
			kind[i] = EVAL;
	for (i = depth - 1; i >= 0; i--) {
		/* a user pc sampled inside a syscall is a return address too */
		bool ret = i > 0 || (!kernel && row->kips);

		if (kind[i] == PY_W1 || kind[i] == EVAL)
			continue;	/* the eval loop is replaced by the Python frames it ran */
		if (kind[i] == PY_W0)
			n = python__frame(c->python, c->sym, tgid, ips[i], ips[i + 1], &fr);
		else
			n = kernel ? symbolizer__kernel(c->sym, ips[i], ret, &fr)
				   : symbolizer__user(c->sym, tgid, ips[i], ret, &fr);
		if (n < 0)
			return n;
		n = push_frames(c, fr, n);
		if (n < 0)
			return n;
	}
	return 0;
}

static int on_row(void *ctx, const struct sampler_row *row)
{
	struct collector *c = ctx;
	struct collector_sample s = { .key = row->key, .count = row->count };
	const struct reg_proc *p;
	uint64_t unknown = c->unknown_frames;
	int err;

	/*
	 * Symbolizing a window can take a while (first use of big DWARF files);
	 * keep reading new processes' mappings meanwhile, or one that lives
	 * less than that would be gone before we look.
	 */
	if (mono_ms() - c->last_poll_ms >= EVENT_POLL_MS) {
		sampler__poll(c->sampler, 0, collector_on_process, c);
		collector_read_deferred(c, false);
		python__tick(c->python);
		check_memory(c, true);
		c->last_poll_ms = mono_ms();
	}
	if (c->memo_shrinks != c->shrinks) {
		/* names were dropped: the frames kept may point at freed strings */
		stack_memo__reset(&c->memo, false);
		c->memo_shrinks = c->shrinks;
	}
	if (!stack_memo__get(&c->memo, row->key, &s.frames, &s.nframes, &unknown, &s.stack_id)) {
		c->nframes = 0;
		err = push_stack(c, row, false);
		if (!err)
			err = push_stack(c, row, true);
		if (err)
			return err;
		s.frames = c->frames;
		s.nframes = c->nframes;
		unknown = c->unknown_frames - unknown;
		c->unknown_frames -= unknown;
		if (stack_memo__put(&c->memo, row->key, c->frames, c->nframes, unknown, &s.stack_id))
			return -ENOMEM;
	}
	/* weight unknown frames by how often they were sampled */
	c->unknown_frames += unknown * row->count;
	p = registry__find(c->reg, row->key->tgid);
	if (p) {
		s.exe = p->exe;
		s.cgroup = p->cgroup;
	}
	return c->fn(c->ctx, &s);
}

int collector__drain(struct collector *c, collector_sample_fn fn, void *ctx)
{
	int n = c->nexited, i, err;

	c->fn = fn;
	c->ctx = ctx;
	stack_memo__reset(&c->memo, true);
	c->memo_shrinks = c->shrinks;
	/* mappings sent at exit must be in before the samples they name */
	sampler__poll(c->sampler, 0, collector_on_process, c);
	/* the rest are alive: read them now, their samples are named next */
	collector_read_deferred(c, true);
	c->last_poll_ms = mono_ms();
	err = sampler__drain(c->sampler, on_row, c);
	py_prefetch__reset(c->pyfetch);
	/* only exits seen before this drain: their samples are all in it */
	for (i = 0; i < n; i++) {
		/* a pid reused meanwhile names a live process: it stays */
		if (!registry__remove(c->reg, c->exited[i].tgid, c->exited[i].start))
			continue;
		symbolizer__remove_process(c->sym, c->exited[i].tgid);
		if (c->unwinder)
			unwinder__remove_process(c->unwinder, c->exited[i].tgid);
		python__remove_process(c->python, c->exited[i].tgid);
	}
	c->gone += n;
	if (c->unwinder) {
		unwinder__expire(c->unwinder, UNWIND_IDLE_MS);
		collector_feed_starved(c);
	}
	/*
	 * The pages of mapped files this drain's lookups touched: unmapped
	 * only near the limit, as the next lookups fault them in again.
	 */
	if (c->memory_limit && rss_bytes() > c->memory_limit / 4 * 3)
		symbolizer__release_pages(c->sym);
	symbolizer__trim(c->sym, IDLE_ELF_FILES);
	trim_heap(c);
	check_memory(c, false);
	c->shrunk_in_drain = false;
	if (c->nexited > n)
		memmove(c->exited, c->exited + n, (c->nexited - n) * sizeof(*c->exited));
	c->nexited -= n;
	collector_settle_young(c);
	collector_reap_dead(c);
	return err;
}

void collector__set_memory_limit(struct collector *c, uint64_t bytes)
{
	c->memory_limit = bytes;
}

int collector__stats(struct collector *c, struct collector_stats *st)
{
	struct registry_stats reg;
	int err;

	memset(st, 0, sizeof(*st));
	st->unknown_frames = c->unknown_frames;
	st->maps_unreadable = c->maps_unreadable;
	st->processes_seen = c->seen;
	st->processes_exited = c->gone;
	st->processes_deferred = c->deferred_total;
	st->processes_unread = c->deferred_unread;
	st->rss_bytes = rss_bytes();
	st->memory_shrinks = c->shrinks;
	st->heap_trims = c->heap_trims;
	st->page_releases = c->page_releases;
	st->heap_trimmed_bytes = c->heap_trimmed;
	st->unwind_rescans = c->rescans;
	st->exit_maps = c->exit_maps;
	registry__stats(c->reg, &reg);
	st->exe_reads = reg.exe_reads;
	st->exe_cached = reg.exe_cached;
	st->processes_reused = reg.reused;
	st->stale_exits = reg.stale_exits;
	st->processes_tracked = reg.tracked;
	sampler__prog_stats(c->sampler, &st->bpf_run_ns, &st->bpf_run_cnt);
	sampler__cpu_stats(c->sampler, &st->cpus_sampled, &st->cpus_reopened);
	symbolizer__stats(c->sym, &st->sym);
	if (c->unwinder)
		unwinder__stats(c->unwinder, &st->unwind);
	python__stats(c->python, &st->python);
	err = sampler__counters(c->sampler, st->bpf);
	/* the symbolizer's refusals and the collector's own (unwinder, CPython) */
	st->paths_refused = st->sym.paths_refused + registry__open_stats(c->reg)->refused;
	return err;
}
