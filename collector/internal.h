/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * internal.h - state shared inside collector/: the sampler's (sampler.c:
 * events, drains, counters; variant.c: which program variant to load) and
 * the collector's (collector.c: drains; procs.c: processes and their events).
 */
#ifndef EMBER_COLLECTOR_INTERNAL_H
#define EMBER_COLLECTOR_INTERNAL_H

#include <time.h>
#include <bpf/libbpf.h>
#include "kfeat.h"
#include "sampler.h"
#include "profile.skel.h"
#include "python.h"
#include "registry.h"

struct sampler {
	struct profile_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	int *pefds;
	uint64_t *cpu_clock;	/* each event's count at the last check */
	uint64_t *cpu_samples;	/* samples BPF counted on each CPU then (UINT64_MAX: none yet) */
	int ncpus;		/* possible CPUs */
	unsigned int freq;
	bool stopped;		/* sampler__stop(): no events reopened */
	uint64_t cpus_checked;	/* mono_ms() of the last sampler__check_cpus() */
	uint64_t cpus_sampled, cpus_reopened;
	int stats_fd;
	struct kfeat kf;	/* what the kernel offers, probed before loading */
	bool tables;		/* do_sample_dw (table unwinding) is loaded */
	bool seed;		/* ... and seeds new processes' entries (bpf_find_vma) */
	bool python;		/* ... and walks CPython frames */
	const char *exit_hook;	/* where mappings are sent at exit; NULL: nowhere */
	/* drain scratch space, sized for a full counts map */
	struct sample_key *keys;
	uint64_t *vals;
	uint64_t *kips;
	uint64_t *uips;
	/* set by the ring buffer callback for the duration of one poll */
	sampler_proc_fn proc_fn;
	void *proc_ctx;
	int handled;
};

/* The loaded sampling program (do_sample or do_sample_dw). */
static inline struct bpf_program *sample_prog(struct sampler *s)
{
	return s->tables ? s->skel->progs.do_sample_dw : s->skel->progs.do_sample;
}

/* variant.c */
/* libbpf's messages, at ember's log level; verifier logs cut to their end. */
int sampler_libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap);
/*
 * Loads the richest variant the probed kernel (s->kf) takes, attaches the
 * tracking programs and opens the ring buffer.  Returns 0 or -errno.
 */
int sampler_load(struct sampler *s, const struct sampler_opts *opts);

/* The collector's state, shared by collector.c (drains) and procs.c (processes). */
#include "collector.h"
#include "mono.h"

/* An exit to act on after the next drain: the process (tgid, start time) it was. */
struct proc_id {
	uint32_t tgid;
	uint64_t start;
};

/* python_elf.c: the ELF symbols CPython is found by. */
struct py_syms {
	uint64_t runtime, version, code_type;
	uint64_t eval, eval_size, cold, cold_size;
};

/* One file's CPython symbols and load segments, as of one change time. */
#define PY_ELF_LOADS 8
struct py_elf {
	bool used;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
	int err;			/* reading it failed: -errno */
	struct py_syms s;
	unsigned int nload;
	struct {
		uint64_t off, vaddr, filesz;
	} load[PY_ELF_LOADS];
};

/* The last few files read (a host runs a handful of Python builds). */
#define PY_ELF_CACHE 4
struct py_elf_cache {
	struct py_elf e[PY_ELF_CACHE];
	unsigned int next;		/* the slot the next new file takes */
};

/*
 * Reads the CPython symbols of the file open as @fd into @s (once while it
 * stays the same, through @c) and the load bias of its mapping at @start
 * from file offset @pgoff into *@bias.  Returns 0 or -errno.
 */
int python_elf__read(struct py_elf_cache *c, int fd, uint64_t start, uint64_t pgoff,
		     struct py_syms *s, uint64_t *bias);

/* Rows' stacks already named in this drain (stackmemo.c). */
struct stack_memo {
	struct memo_ent *ents;
	uint32_t *slots;		/* open addressing: entry index + 1, 0 empty */
	uint32_t nslots, n;
	uint32_t base;			/* first id handed out since the last reset */
	struct frame *frames;		/* every entry's frames, root first */
	size_t nframes, fcap;
};

/*
 * The frames (valid until the next reset) named for @k's stacks in this
 * drain, their unknown frames and their drain-wide id; false if not yet.
 */
bool stack_memo__get(const struct stack_memo *m, const struct sample_key *k,
		     const struct frame **frames, int *n, uint64_t *unknown, uint32_t *id);
/* Remembers @frames for @k; sets *id.  Returns 0 or -ENOMEM. */
int stack_memo__put(struct stack_memo *m, const struct sample_key *k, const struct frame *frames,
		    int n, uint64_t unknown, uint32_t *id);
/*
 * Forgets every entry: at a new drain (ids start again at 0), or within one
 * when the frames' strings may have been freed (ids keep growing).
 */
void stack_memo__reset(struct stack_memo *m, bool new_drain);
void stack_memo__free(struct stack_memo *m);

struct collector {
	struct sampler *sampler;
	struct unwinder *unwinder;	/* NULL with --unwind fp */
	struct python *python;		/* CPython processes (python.c) */
	struct py_prefetch *pyfetch;	/* names their frames early (pyprefetch.c) */
	struct registry *reg;		/* the processes (registry.c) */
	struct symbolizer *sym;
	struct frame *frames;	/* one sample's frames, root first */
	int nframes, cap;
	struct stack_memo memo;		/* stacks named in this drain */
	uint64_t memo_shrinks;		/* shrinks when the memo was last valid */
	struct proc_id *exited;		/* processes to forget after the next drain */
	int nexited, exited_cap;
	uint32_t *young;		/* read too young to be marked read (see settle_young) */
	int nyoung, young_cap;
	struct deferred *deferred;	/* new processes to read once settled (procs.c) */
	int ndeferred, deferred_cap;
	uint64_t deferred_total, deferred_unread;
	uint64_t unknown_frames, maps_unreadable, seen, gone, rescans, exit_maps;
	struct exec_hint *execs;	/* the last exec of each tgid, by tgid % EXEC_SLOTS */
	long clk_tck;
	collector_sample_fn fn;
	void *ctx;
	uint64_t last_poll_ms;
	uint64_t last_events_ms;	/* when process events last came (collector__poll) */
	uint64_t last_py_ms;		/* when a CPython stack last came (EVENT_PY_STACK) */
	uint64_t last_reap_ms;
	uint64_t memory_limit;		/* bytes of RSS; 0: none */
	uint64_t shrinks;
	uint64_t heap_trims;		/* malloc_trim() calls that gave pages back */
	uint64_t heap_checks;		/* drains that might have trimmed */
	uint64_t page_releases;		/* mapped file pages given back inside a drain */
	uint64_t heap_trimmed;		/* resident bytes they gave back */
	bool limit_warned;
	bool shrunk_in_drain;		/* check_memory() already acted in this drain */
};

/* A process whose read waits until it is MAPS_SETTLED_MS old. */
struct deferred {
	uint32_t tgid;
	uint64_t start;		/* its start time: a reused pid is another process */
	uint64_t due_ms;	/* mono_ms() when it is read */
	bool python_read;	/* its CPython was read at once (read_python()) */
};

/*
 * Where the executable of a recent exec can be opened: the path it was run
 * by, checked against dev/ino when used.  A hint only, so a slot is simply
 * overwritten by the next tgid that hashes to it.
 */
#define EXEC_SLOTS 256
struct exec_hint {
	uint32_t tgid;
	uint64_t start_ns;	/* of the process that exec'd (a pid may be reused) */
	dev_t dev;
	ino_t ino;
	char path[EXEC_PATH_LEN];
};

/*
 * A process read younger than this may still be in its dynamic loader,
 * with its libraries not mapped yet: it is marked read only at a later
 * drain, so if it exits first the BPF side sends its mappings too and the
 * fuller of the two snapshots is kept.
 */
#define MAPS_SETTLED_MS 200

/* pyprefetch.c */
struct py_prefetch *py_prefetch__new(void);
void py_prefetch__free(struct py_prefetch *p);
/* Reads the code objects of a CPython stack BPF reported (EVENT_PY_STACK). */
void py_prefetch__stack(struct collector *c, struct py_prefetch *p,
			const struct ember_py_stack_event *e);
/* Forgets which stacks were looked at (after a drain). */
void py_prefetch__reset(struct py_prefetch *p);

/* procs.c */
/* Handles one process event of the sampler (a sampler_proc_fn). */
void collector_on_process(void *ctx, uint32_t type, uint32_t tgid, const void *data);
/* Marks read the processes read young that have lived long enough since. */
void collector_settle_young(struct collector *c);
/* Reads the deferred processes that are due (@all: every one). */
void collector_read_deferred(struct collector *c, bool all);
/* Notes exits BPF did not report (every REAP_INTERVAL_MS). */
void collector_reap_dead(struct collector *c);
/* Reads again the processes refused tables for room, once room was freed. */
void collector_feed_starved(struct collector *c);

#endif /* EMBER_COLLECTOR_INTERNAL_H */
