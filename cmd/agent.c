// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * agent.c - `ember agent`: always-on sampling into the SQLite store, one
 * window at a time.  A window that cannot be written (full disk, read-only
 * store) is kept in memory and retried; past a bound it is dropped and
 * counted, and sampling never stops.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "collector.h"
#include "commands.h"
#include "kfeat.h"
#include "log.h"
#include "store.h"
#include "timearg.h"
#include "wallclock.h"
#include "unwind_abi.h"
#include "web.h"
#include "webproc.h"
#include "mono.h"

#define DEFAULT_MEMORY_LIMIT_MB 30
/* Blocks at least this big are mapped on their own (see set_malloc()). */
#define MALLOC_MMAP_BYTES (128 * 1024)
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_PENDING 30		/* windows kept in memory while the store fails */
#define HOUSEKEEP_MS 60000	/* how often retention and rollups run */
/*
 * How often the BPF maps are emptied into the window: every DRAIN_SLOW_MS,
 * or every DRAIN_MS where more than DRAIN_SLOW_RATE samples a second can
 * come (frequency x CPUs), so a half of the counts map (32768 keys) never
 * fills.  Each drain has a fixed cost (map walks, trims, the counters
 * published): at 99 Hz on 2 CPUs under churn, draining every 2 s instead
 * of every second cut the agent's CPU by a fifth.
 */
#define DRAIN_MS 1000
#define DRAIN_SLOW_MS 2000
#define DRAIN_SLOW_RATE 4096

struct agent_opts {
	struct sampler_opts s;
	struct symbolizer_opts sym;
	const char *db;
	int64_t window_ms;
	int64_t retention_ms;
	struct web_opts web;		/* --listen, --token... (db and metrics set at start) */
	char token_buf[TOKEN_MAX];	/* --token-file's token */
	uint64_t memory_limit;		/* bytes of RSS; 0: none */
	uint64_t max_bytes;		/* store size cap; 0: none */
	struct push_flags push;
};

/* A drain's stack id (collector) -> the window's (store), valid in that drain. */
struct stack_id {
	uint32_t drain, stack;
};

struct agent {
	struct agent_opts o;
	struct store *store;
	struct store_keeper *keeper;	/* retention and rollups, on their own thread */
	uint64_t keeper_evicted;	/* its evictions counted in n.evicted so far */
	struct collector *c;
	struct pusher *pusher;		/* --push; NULL: none */
	struct store_window *pending[MAX_PENDING];
	int npending;
	uint64_t prev[CNT_MAX];		/* BPF counters at the last window */
	uint64_t prev_unknown;
	struct agent_counts n;		/* the agent's own counters */
	int64_t last_housekeep;
	/* the window being filled, from a drain every drain_ms() */
	struct store_window *w;
	struct wallclock clock;
	uint64_t w_samples, w_rows;
	struct stack_id *stack_ids;	/* by the collector's stack_id */
	uint32_t nstack_ids, drains;
	double w_drain_s;		/* time spent draining and symbolizing it */
	int add_err;
	/* the UI process, and what its /metrics reports, copied after each drain */
	struct webproc *web;
	struct agent_snapshot *m;
};

static const char usage[] =
"usage: ember agent [--db PATH] [-F HZ] [--window SECONDS] [--retention DURATION] [-v]\n"
"  --db PATH             store file (default /var/lib/ember/ember.db)\n"
"  -F, --freq HZ         samples per second on each CPU (1-10000, default 99)\n"
"  --window SECONDS      seconds per stored window (1-3600, default 10)\n"
"  --retention DURATION  keep data this long, e.g. 36h, 7d (default 7d)\n"
"  --max-size SIZE       cap the store file, e.g. 512M, 2G; the oldest windows\n"
"                        are deleted to make room (default: no cap)\n"
"  --unwind MODE         auto (.eh_frame tables; default) or fp (frame pointers)\n"
"  --unwind-mem MB       memory for unwind tables (default 16)\n"
"  --unwind-files N      ELF files with unwind tables at once (8-65536, default 4096)\n"
"  --memory-limit MB     past this resident size, drop cached symbol data\n"
"                        (0: no limit; default " STR(DEFAULT_MEMORY_LIMIT_MB) ")\n"
"  --no-demangle         keep C++/Rust names mangled, as in the binary\n"
"  --debuginfod URL      fetch missing debug info from URL (default $DEBUGINFOD_URLS)\n"
"  --no-python           show CPython processes as native frames only\n"
"  --bpf-stats           measure the BPF time per sample (turns on the kernel's\n"
"                        run-time accounting of every BPF program while it runs)\n"
WEB_FLAGS_HELP
PUSH_USAGE
"  -v, --verbose         debug logging\n";

static int parse_args(struct agent_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "freq", required_argument, NULL, 'F' },
		{ "window", required_argument, NULL, 'w' },
		{ "retention", required_argument, NULL, 'r' },
		{ "max-size", required_argument, NULL, 'X' },
		{ "unwind", required_argument, NULL, 'W' },
		{ "unwind-mem", required_argument, NULL, 'M' },
		{ "unwind-files", required_argument, NULL, OPT_UNWIND_FILES },
		{ "memory-limit", required_argument, NULL, 'L' },
		{ "no-demangle", no_argument, NULL, 'N' },
		{ "debuginfod", required_argument, NULL, 'G' },
		{ "bpf-stats", no_argument, NULL, 'S' },
		{ "no-python", no_argument, NULL, 'Y' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "listen", required_argument, NULL, 'l' },
		{ "token", required_argument, NULL, 'T' },
		{ "token-file", required_argument, NULL, 'K' },
		{ "insecure-public", no_argument, NULL, 'P' },
		{ "allow-host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		PUSH_LONGOPTS,
		{},
	};
	char *end;
	long v;
	int c, err;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":F:vh", longopts, NULL)) != -1) {
		err = parse_sampling_flag("agent", &o->s, &o->sym, c, optarg);
		if (err == -ENOENT)
			err = parse_web_flag("agent", &o->web, o->token_buf, c, optarg);
		if (err == -ENOENT)
			err = parse_push_flag(&o->push, c, optarg);
		if (err != -ENOENT) {
			if (err)
				return err;
			continue;
		}
		switch (c) {
		case 'D':
			o->db = optarg;
			break;
		case 'w':
			v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 1 || v > 3600)
				return usage_error("agent", "invalid window '%s': expected 1-3600 seconds",
						   optarg);
			o->window_ms = v * 1000;
			break;
		case 'r':
			if (timearg__duration(optarg, &o->retention_ms) || o->retention_ms < 60000)
				return usage_error("agent", "invalid retention '%s': expected e.g. 36h or 7d",
						   optarg);
			break;
		case 'X':
			if (parse_size(optarg, &o->max_bytes) || o->max_bytes < (1u << 20))
				return usage_error("agent", "invalid size '%s': expected e.g. 512M or 2G"
						   " (at least 1M)", optarg);
			break;
		case 'L':
			v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 0 || v > 1048576 || (v && v < 16))
				return usage_error("agent", "invalid memory limit '%s': expected 0 (none)"
						   " or 16-1048576 MB", optarg);
			o->memory_limit = (uint64_t)v << 20;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		default:
			return flag_other("agent", c, argv, usage);
		}
	}
	if (flags_end("agent", argc, argv))
		return 2;
	web_opts__env(&o->web);
	return push_flags__check(&o->push);
}

/*
 * The window's id for @s's stack: interned once per drain however many
 * threads and processes share it (the collector numbers equal stacks).
 */
static int window_stack(struct agent *a, const struct collector_sample *s, uint32_t *stack)
{
	struct stack_id *v;
	uint32_t cap;
	int err;

	if (s->stack_id >= a->nstack_ids) {
		for (cap = a->nstack_ids ? a->nstack_ids : 1024; cap <= s->stack_id; cap *= 2)
			;
		v = realloc(a->stack_ids, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + a->nstack_ids, 0, (cap - a->nstack_ids) * sizeof(*v));
		a->stack_ids = v;
		a->nstack_ids = cap;
	}
	v = &a->stack_ids[s->stack_id];
	if (v->drain == a->drains) {
		*stack = v->stack;
		return 0;
	}
	err = store__window_add_stack(a->w, s->frames, s->nframes, stack);
	if (!err)
		*v = (struct stack_id){ .drain = a->drains, .stack = *stack };
	return err;
}

static int add_sample(void *ctx, const struct collector_sample *s)
{
	struct agent *a = ctx;
	uint32_t stack;
	char comm[sizeof(s->key->comm) + 1];
	struct store_proc proc = {
		.comm = comm, .pid = s->key->tgid, .exe = s->exe, .cgroup = s->cgroup,
	};
	int err;

	memcpy(comm, s->key->comm, sizeof(s->key->comm));
	comm[sizeof(s->key->comm)] = '\0';
	err = window_stack(a, s, &stack);
	if (!err)
		err = store__window_add_row(a->w, &proc, stack, s->count);
	if (err) {
		/* one sample lost (no memory): the rest of the drain goes on */
		if (!a->add_err)
			log_error("sample not stored: %s", strerror(-err));
		a->add_err = err;
		a->n.unstored += s->count;
		return 0;
	}
	if (a->pusher)	/* a failure drops the pushed window only, counted at its end */
		pusher__add(a->pusher, &proc, s->frames, s->nframes, s->count);
	a->w_samples += s->count;
	a->w_rows++;
	return 0;
}

/* At the --max-size cap: deletes the oldest windows.  Returns 0 when some went. */
static int make_room(struct agent *a, int round)
{
	uint64_t n = 0;

	if (!a->o.max_bytes || store__evict(a->store, round, &n))
		return -ENOSPC;
	a->n.evicted += n;
	log_info("store at its %llu MB cap: deleted the %llu oldest window%s (%llu in all)",
		 (unsigned long long)(a->o.max_bytes >> 20), (unsigned long long)n,
		 n == 1 ? "" : "s", (unsigned long long)a->n.evicted);
	return 0;
}

/* Writes pending windows oldest first; stops at the first failure. */
static void flush_pending(struct agent *a)
{
	int n = a->npending, round, err;

	while (a->npending) {
		err = store__window_commit(a->pending[0]);
		for (round = 0; err == -ENOSPC && round < 6 && !make_room(a, round); round++)
			err = store__window_commit(a->pending[0]);
		if (err) {
			a->n.write_errors++;
			log_warn("store write failed: %s (%d window%s kept in memory)",
				 strerror(-err), a->npending, a->npending > 1 ? "s" : "");
			return;
		}
		store__window_free(a->pending[0]);
		a->n.written++;
		memmove(a->pending, a->pending + 1, --a->npending * sizeof(a->pending[0]));
	}
	/* windows besides the one just queued: earlier attempts had failed */
	if (n > 1)
		log_info("store writable again: wrote the %d window%s kept in memory", n - 1,
			 n > 2 ? "s" : "");
}

static void queue_window(struct agent *a, struct store_window *w)
{
	if (a->npending == MAX_PENDING) {
		store__window_free(a->pending[0]);
		a->n.dropped++;
		log_error("store unwritable: dropped the oldest window (%llu dropped so far)",
			  (unsigned long long)a->n.dropped);
		memmove(a->pending, a->pending + 1, --a->npending * sizeof(a->pending[0]));
	}
	a->pending[a->npending++] = w;
}

/* Copies the counters for /metrics (the UI process reads the copy). */
static void publish(struct agent *a, const struct collector_stats *cs)
{
	struct push_stats ps;

	if (a->pusher)
		pusher__stats(a->pusher, &ps);
	pthread_mutex_lock(&a->m->lock);
	a->m->stats = *cs;
	if (a->pusher) {
		a->m->push = ps;
		a->m->push_on = true;
	}
	a->n.pending = a->npending;
	a->n.clock_steps = a->clock.steps;
	a->m->n = a->n;
	pthread_mutex_unlock(&a->m->lock);
}

/* One info line per window [@start, @end) (ms); @write_s is the commit's time. */
static void log_window(struct agent *a, int64_t start, int64_t end, double write_s)
{
	struct collector_stats cs;
	uint64_t lost = 0, failures = 0;
	int i;

	if (collector__stats(a->c, &cs))
		return;
	/*
	 * lost: samples BPF could not count at all.  failures: the rest of
	 * what BPF counts as failed (a walk cut short, a stack or an event
	 * not kept): the sample itself is stored.  /metrics has each kind.
	 */
	for (i = 0; i < CNT_MAX; i++) {
		if (i == CNT_COUNTS_FULL)
			lost += cs.bpf[i] - a->prev[i];
		else if (sampler_counter_is_loss(i))
			failures += cs.bpf[i] - a->prev[i];
	}
	log_info("window: start_ms=%lld dur_ms=%lld samples=%llu stacks=%llu lost=%llu bpf_failures=%llu "
		 "unknown_frames=%llu symbolize_ms=%.1f write_ms=%.1f pending=%d dropped_windows=%llu procs=%llu "
		 "elf_files=%llu dwarf_files=%llu unwind_tables=%llu rss_mb=%.1f",
		 (long long)start, (long long)(end - start),
		 (unsigned long long)a->w_samples, (unsigned long long)a->w_rows,
		 (unsigned long long)lost, (unsigned long long)failures,
		 (unsigned long long)(cs.unknown_frames - a->prev_unknown), a->w_drain_s * 1000,
		 write_s * 1000,
		 a->npending, (unsigned long long)a->n.dropped,
		 (unsigned long long)cs.sym.processes, (unsigned long long)cs.sym.elf_files,
		 (unsigned long long)cs.sym.dwarf_files, (unsigned long long)cs.unwind.files_loaded,
		 cs.rss_bytes / 1048576.0);
	memcpy(a->prev, cs.bpf, sizeof(a->prev));
	publish(a, &cs);
	a->prev_unknown = cs.unknown_frames;
}

/* Serves the UI from its own process; returns 0 or the exit code (2: bad --listen/--token). */
static int start_web(struct agent *a, volatile sig_atomic_t *exiting)
{
	struct web_opts wo = a->o.web;
	int err;

	wo.db = a->o.db;
	a->m = snapshot__new();
	wo.metrics = (struct web_metrics_source){ .collect = snapshot__metrics, .ctx = a->m };
	err = a->m ? webproc__start(&wo, exiting, &a->web) : -ENOMEM;
	if (!err) {
		/* with --listen ADDR:0 this is the only way to learn the port */
		log_info("serving the UI and API on port %d", webproc__port(a->web));
		return 0;
	}
	log_error("cannot serve the UI on %s: %s",
		  a->o.web.listen ? a->o.web.listen : WEB_DEFAULT_LISTEN,
		  web__strerror(err));
	return err == -EACCES || err == -EINVAL || err == -EBADMSG ? 2 : 1;
}

/* Retention and rollups run on the keeper's thread: the drains go on meanwhile. */
static void housekeep(struct agent *a, int64_t now_ms)
{
	struct store_keeper_stats ks;

	if (now_ms - a->last_housekeep < HOUSEKEEP_MS)
		return;
	a->last_housekeep = now_ms;
	store_keeper__stats(a->keeper, &ks);	/* its evictions near the cap count too */
	a->n.evicted += ks.evicted - a->keeper_evicted;
	a->keeper_evicted = ks.evicted;
	store_keeper__kick(a->keeper, now_ms);
}

/*
 * Empties the BPF maps into the window being filled.  Returns 0 or -errno
 * for a window that lost samples (the maps are emptied all the same).
 */
static int drain(struct agent *a)
{
	struct collector_stats cs;
	double t0 = mono_s();
	int err;

	if (!a->w) {
		/* the span is set when the window ends */
		err = store__window_begin(a->store, a->clock.start_ms, a->o.window_ms, &a->w);
		if (err)
			return err;
		a->w_samples = a->w_rows = 0;
		a->w_drain_s = 0;
		a->add_err = 0;
		if (a->pusher)
			pusher__window_begin(a->pusher, a->clock.start_ms,
					     a->clock.start_ms + a->o.window_ms);
	}
	a->drains++;	/* forgets the last drain's stack ids */
	err = collector__drain(a->c, add_sample, a);
	if (err)
		log_error("drain failed: %s", strerror(-err));
	a->w_drain_s += mono_s() - t0;
	if (!collector__stats(a->c, &cs))
		publish(a, &cs);
	return err;
}

/*
 * Drains the last second, then hands the window to the store.  The window
 * ends at @due (monotonic seconds) even when a long drain made us late, so
 * boundaries stay on their grid.
 */
static void end_window(struct agent *a, double due)
{
	int64_t start, end;
	bool stepped;
	double t1;
	int err;

	/* first: a window begun by this drain must take this window's start */
	drain(a);	/* a failed drain was logged; what the window holds is kept */
	t1 = mono_s();
	if (due > t1)
		due = t1;
	stepped = wallclock__end_window(&a->clock, timearg__now_ms() - (int64_t)((t1 - due) * 1000),
					(int64_t)(due * 1000), &start, &end);
	if (stepped)
		log_warn("wall clock stepped %s by %.1f s: windows stay in order (%llu step%s)",
			 a->clock.last_step_ms > 0 ? "forward" : "back",
			 llabs(a->clock.last_step_ms) / 1000.0,
			 (unsigned long long)a->clock.steps, a->clock.steps == 1 ? "" : "s");
	a->n.truncated += store__window_truncated(a->w);
	err = a->w ? store__window_set_span(a->w, start, end - start) : -ENOMEM;
	if (err) {
		/* the samples are gone from the maps: count them, keep going */
		log_error("window lost: %s", strerror(-err));
		store__window_free(a->w);
		a->n.dropped++;
	} else {
		queue_window(a, a->w);
	}
	a->w = NULL;
	if (a->pusher)	/* encodes and queues; the network is the push thread's */
		pusher__window_end(a->pusher, start, end);
	t1 = mono_s();
	flush_pending(a);
	log_window(a, start, end, mono_s() - t1);
	housekeep(a, end);
}

static int drain_ms(const struct agent *a)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);

	return (uint64_t)a->o.s.freq * (cpus > 0 ? cpus : 1) > DRAIN_SLOW_RATE ? DRAIN_MS
									     : DRAIN_SLOW_MS;
}

static int run(struct agent *a, volatile sig_atomic_t *exiting)
{
	double every = drain_ms(a) / 1000.0, now = mono_s(), next_drain = now + every;
	double deadline = now + a->o.window_ms / 1000.0, until;
	int err;

	wallclock__init(&a->clock, timearg__now_ms(), (int64_t)(now * 1000));
	while (!*exiting) {
		now = mono_s();
		until = next_drain < deadline ? next_drain : deadline;
		if (until > now) {
			err = collector__poll(a->c, (int)((until - now) * 1000) + 1);
			if (err && err != -EINTR)
				return err;
			continue;
		}
		if (now >= deadline) {
			end_window(a, deadline);
			deadline += a->o.window_ms / 1000.0;
		} else if (drain(a) == -ENOMEM && !a->w) {
			return -ENOMEM;
		}
		/* a late wakeup drains once, not once per missed period */
		while (next_drain <= now)
			next_drain += every;
	}
	/* the last, partial window */
	collector__stop(a->c);
	collector__poll(a->c, 0);
	end_window(a, mono_s());
	return 0;
}

/*
 * The agent's heap goes up by tens of MB while a drain reads DWARF and
 * down again after it.  glibc raises its mmap threshold each time a big
 * mapped block is freed, after which the big blocks (decompressed debug
 * sections, symbol tables) come from the heap and are stuck under small
 * live ones; a fixed threshold keeps them mapped, so freeing them gives
 * the memory back.  The threads (store, debuginfod) allocate little: one
 * extra arena is enough, not eight per core.
 */
static void set_malloc(void)
{
	if (!mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_BYTES) || !mallopt(M_ARENA_MAX, 2))
		log_warn("cannot set malloc options: the resident size may stay higher");
}

int cmd_agent(int argc, char **argv, volatile sig_atomic_t *exiting)
{
	struct agent a = {
		.o = {
			.s = { .freq = 99, .kernel_stacks = true, .user_stacks = true,
			.unwind = UNWIND_MODE_AUTO, .unwind_rows = DEFAULT_UNWIND_ROWS },
			.db = "/var/lib/ember/ember.db",
			.window_ms = 10000,
			.memory_limit = (uint64_t)DEFAULT_MEMORY_LIMIT_MB << 20,
			.retention_ms = 7 * 86400 * 1000LL,
		},
	};
	char inflate_dir[PATH_MAX];
	int err, ret = 1, i;

	log_set_level(LOG_INFO);
	err = parse_args(&a.o, argc, argv);
	if (err)
		return err == 1 ? 0 : err;
	raise_priority();
	set_malloc();
	make_private(a.o.db, false);
	err = store__open(a.o.db, 0, &a.store);
	if (err) {
		log_error("cannot open store '%s': %s", a.o.db, store__strerror(err));
		return 1;
	}
	make_private(a.o.db, true);
	err = a.o.max_bytes ? store__set_max_bytes(a.store, a.o.max_bytes) : 0;
	if (err)
		log_warn("cannot cap the store: %s", store__strerror(err));
	err = store_keeper__new(a.o.db, a.o.retention_ms, a.o.max_bytes, &a.keeper);
	if (err)	/* sampling goes on; the store only stops shrinking */
		log_warn("cannot start the store's housekeeping (no retention, no rollups): %s",
			 store__strerror(err));
	a.o.push.o.freq = a.o.s.freq;
	if (a.o.push.o.url && pusher__new(&a.o.push.o, &a.pusher)) {
		ret = 2;
		goto out;
	}
	err = store__set_period_ns(a.store, 1000000000ULL / a.o.s.freq);
	if (err)
		log_warn("cannot record the sampling period: %s", store__strerror(err));
	ret = start_web(&a, exiting);
	if (ret)
		goto out;
	ret = 1;
	/*
	 * Compressed debug files are written out inflated next to the store:
	 * on disk, and writable by the agent (the service's file system is
	 * read-only elsewhere).
	 */
	snprintf(inflate_dir, sizeof(inflate_dir), "%s", a.o.db);
	if (!a.o.sym.inflate_dir)
		a.o.sym.inflate_dir = dirname(inflate_dir);
	a.c = collector__new(&a.o.s, &a.o.sym);
	if (!a.c)
		goto out;
	collector__set_memory_limit(a.c, a.o.memory_limit);
	pthread_mutex_lock(&a.m->lock);
	a.m->kf = *collector__kfeat(a.c);
	a.m->kf_set = true;
	pthread_mutex_unlock(&a.m->lock);
	kfeat__log(&a.m->kf);
	log_info("sampling at %u Hz on every CPU into %s, %lld s windows, drained every %d s",
		 a.o.s.freq, a.o.db, (long long)a.o.window_ms / 1000, drain_ms(&a) / 1000);
	err = run(&a, exiting);
	if (err) {
		log_error("agent failed: %s", strerror(-err));
		goto out;
	}
	ret = a.npending ? 1 : 0;
	if (a.npending)
		log_error("%d window(s) could not be written", a.npending);
out:
	webproc__stop(a.web);
	pusher__free(a.pusher, 5000);	/* the last window gets 5 s to go out */
	for (i = 0; i < a.npending; i++)
		store__window_free(a.pending[i]);
	collector__free(a.c);
	free(a.stack_ids);
	store_keeper__free(a.keeper);
	store__free(a.store);
	snapshot__free(a.m);
	return ret;
}
