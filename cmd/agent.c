// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * agent.c - `ember agent`: always-on sampling into the SQLite store, one
 * window at a time.  A window that cannot be written (full disk, read-only
 * store) is kept in memory and retried; past a bound it is dropped and
 * counted, and sampling never stops.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "collector.h"
#include "commands.h"
#include "kfeat.h"
#include "log.h"
#include "store.h"
#include "timearg.h"
#include "unwind_abi.h"
#include "web.h"
#include "webproc.h"

#define DEFAULT_MEMORY_LIMIT_MB 40
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_PENDING 30		/* windows kept in memory while the store fails */
#define HOUSEKEEP_MS 60000	/* how often retention and rollups run */

struct agent_opts {
	struct sampler_opts s;
	struct symbolizer_opts sym;
	const char *db;
	int64_t window_ms;
	int64_t retention_ms;
	struct web_opts web;		/* --listen, --token... (db and metrics set at start) */
	char token_buf[TOKEN_MAX];	/* --token-file's token */
	uint64_t memory_limit;		/* bytes of RSS; 0: none */
};

struct agent {
	struct agent_opts o;
	struct store *store;
	struct collector *c;
	struct store_window *pending[MAX_PENDING];
	int npending;
	uint64_t prev[CNT_MAX];		/* BPF counters at the last window */
	uint64_t prev_unknown;
	uint64_t windows_written, windows_dropped, write_errors;
	int64_t last_housekeep;
	/* the window being filled */
	struct store_window *w;
	uint64_t w_samples, w_rows;
	int add_err;
	/* the UI process, and what its /metrics reports, copied after each window */
	struct webproc *web;
	struct agent_snapshot *m;
};

static const char usage[] =
"usage: ember agent [--db PATH] [-F HZ] [--window SECONDS] [--retention DURATION] [-v]\n"
"  --db PATH             store file (default /var/lib/ember/ember.db)\n"
"  -F, --freq HZ         samples per second on each CPU (1-10000, default 99)\n"
"  --window SECONDS      seconds per stored window (1-3600, default 10)\n"
"  --retention DURATION  keep data this long, e.g. 36h, 7d (default 7d)\n"
"  --unwind MODE         auto (.eh_frame tables; default) or fp (frame pointers)\n"
"  --unwind-mem MB       memory for unwind tables (default 16)\n"
"  --memory-limit MB     past this resident size, drop cached symbol data\n"
"                        (0: no limit; default " STR(DEFAULT_MEMORY_LIMIT_MB) ")\n"
"  --no-demangle         keep C++/Rust names mangled, as in the binary\n"
"  --debuginfod URL      fetch missing debug info from URL (default $DEBUGINFOD_URLS)\n"
"  --bpf-stats           measure the BPF time per sample (turns on the kernel's\n"
"                        run-time accounting of every BPF program while it runs)\n"
WEB_FLAGS_HELP
"  -v, --verbose         debug logging\n";

static int parse_args(struct agent_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "freq", required_argument, NULL, 'F' },
		{ "window", required_argument, NULL, 'w' },
		{ "retention", required_argument, NULL, 'r' },
		{ "unwind", required_argument, NULL, 'W' },
		{ "unwind-mem", required_argument, NULL, 'M' },
		{ "memory-limit", required_argument, NULL, 'L' },
		{ "no-demangle", no_argument, NULL, 'N' },
		{ "debuginfod", required_argument, NULL, 'G' },
		{ "bpf-stats", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "listen", required_argument, NULL, 'l' },
		{ "token", required_argument, NULL, 'T' },
		{ "token-file", required_argument, NULL, 'K' },
		{ "insecure-public", no_argument, NULL, 'P' },
		{ "allow-host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
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
		case 'h':
			fputs(usage, stdout);
			return 1;
		case ':':
			return usage_error("agent", "option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("agent", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("agent", "unexpected argument '%s'", argv[optind]);
	web_opts__env(&o->web);
	return 0;
}

/* Sets @file's mode to @mode when the agent's user owns it and it differs. */
static void set_mode(const char *file, mode_t mode)
{
	struct stat st;

	if (stat(file, &st) || st.st_uid != geteuid() || (st.st_mode & 07777) == mode)
		return;
	if (chmod(file, mode))
		log_warn("cannot make '%s' %o: %s", file, mode, strerror(errno));
	else if (st.st_mode & 07)
		log_info("'%s' was readable by other users: now %o", file, mode);
}

/*
 * The store holds every process's stacks, which perf shows only to
 * privileged users: its directory is 0750 and its files 0640, for the
 * agent's user and group (ember's group in the Debian package), whatever
 * the umask; one made by an older ember is made so once it opens as a
 * store.  SQLite gives its -wal and -shm files the store's mode.
 */
static void make_private(const char *path, bool opened)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char file[4096], *copy = strdup(path);
	unsigned int i;

	umask(027);
	if (!opened && copy && mkdir(dirname(copy), 0750) && errno != EEXIST)
		log_warn("cannot create the directory of '%s': %s", path, strerror(errno));
	if (opened && copy)
		set_mode(dirname(copy), 0750);
	free(copy);
	for (i = 0; opened && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
		set_mode(file, 0640);
	}
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int add_sample(void *ctx, const struct collector_sample *s)
{
	struct agent *a = ctx;
	char comm[sizeof(s->key->comm) + 1];
	struct store_proc proc = {
		.comm = comm, .pid = s->key->tgid, .exe = s->exe, .cgroup = s->cgroup,
	};
	int err;

	memcpy(comm, s->key->comm, sizeof(s->key->comm));
	comm[sizeof(s->key->comm)] = '\0';
	err = store__window_add(a->w, &proc, s->frames, s->nframes, s->count);
	if (err)
		return err;
	a->w_samples += s->count;
	a->w_rows++;
	return 0;
}

/* Writes pending windows oldest first; stops at the first failure. */
static void flush_pending(struct agent *a)
{
	int n = a->npending, err;

	while (a->npending) {
		err = store__window_commit(a->pending[0]);
		if (err) {
			a->write_errors++;
			log_warn("store write failed: %s (%d window%s kept in memory)",
				 strerror(-err), a->npending, a->npending > 1 ? "s" : "");
			return;
		}
		store__window_free(a->pending[0]);
		a->windows_written++;
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
		a->windows_dropped++;
		log_error("store unwritable: dropped the oldest window (%llu dropped so far)",
			  (unsigned long long)a->windows_dropped);
		memmove(a->pending, a->pending + 1, --a->npending * sizeof(a->pending[0]));
	}
	a->pending[a->npending++] = w;
}

/* One info line per window; @drain_s is draining plus symbolizing. */
static void log_window(struct agent *a, double drain_s, double write_s)
{
	struct collector_stats cs;
	uint64_t lost = 0;
	int i;

	if (collector__stats(a->c, &cs))
		return;
	for (i = 0; i < CNT_MAX; i++)
		if (sampler_counter_is_loss(i))
			lost += cs.bpf[i] - a->prev[i];
	log_info("window: samples=%llu stacks=%llu lost=%llu unknown_frames=%llu "
		 "symbolize_ms=%.1f write_ms=%.1f pending=%d dropped_windows=%llu procs=%llu elf_files=%llu "
		 "dwarf_files=%llu unwind_tables=%llu rss_mb=%.1f",
		 (unsigned long long)a->w_samples, (unsigned long long)a->w_rows,
		 (unsigned long long)lost,
		 (unsigned long long)(cs.unknown_frames - a->prev_unknown), drain_s * 1000,
		 write_s * 1000,
		 a->npending, (unsigned long long)a->windows_dropped,
		 (unsigned long long)cs.sym.processes, (unsigned long long)cs.sym.elf_files,
		 (unsigned long long)cs.sym.dwarf_files, (unsigned long long)cs.unwind.files_loaded,
		 cs.rss_bytes / 1048576.0);
	memcpy(a->prev, cs.bpf, sizeof(a->prev));
	pthread_mutex_lock(&a->m->lock);
	a->m->stats = cs;
	a->m->written = a->windows_written;
	a->m->dropped = a->windows_dropped;
	a->m->write_errors = a->write_errors;
	a->m->pending = a->npending;
	pthread_mutex_unlock(&a->m->lock);
	a->prev_unknown = cs.unknown_frames;
}

/* /metrics in the UI process: the snapshot published after the last window. */
static int agent_metrics(void *ctx, struct web_metrics *m)
{
	struct agent *a = ctx;
	struct collector_stats cs;
	uint64_t written, dropped, errors;
	char name[80];
	const char *kf_names[KFEAT_MAX + SYM_DENIED_MAX];	/* then the denied labels */
	double kf_has[KFEAT_MAX + SYM_DENIED_MAX];
	int i, pending, nkf = 0, err = 0;

	pthread_mutex_lock(&a->m->lock);
	for (i = 0; a->m->kf_set && i < KFEAT_MAX; i++, nkf++) {
		kf_names[i] = kfeat_name(i);
		kf_has[i] = a->m->kf.has[i];
	}
	cs = a->m->stats;
	written = a->m->written;
	dropped = a->m->dropped;
	errors = a->m->write_errors;
	pending = a->m->pending;
	pthread_mutex_unlock(&a->m->lock);
	for (i = 0; i < CNT_MAX && !err; i++) {
		snprintf(name, sizeof(name), i == CNT_SAMPLES ? "samples_total" : "bpf_%s_total",
			 sampler_counter_names[i]);
		err = web_metrics__add(m, name, i == CNT_SAMPLES ? "Samples taken on every CPU." :
				       "BPF-side event or loss counter.", WEB_COUNTER, cs.bpf[i]);
	}
	const struct {
		const char *name, *help;
		enum web_metric_type type;
		double value;
	} rows[] = {
		{ "windows_written_total", "Windows committed to the store.", WEB_COUNTER, written },
		{ "windows_dropped_total", "Windows lost (store unwritable).", WEB_COUNTER, dropped },
		{ "store_write_errors_total", "Failed window commits.", WEB_COUNTER, errors },
		{ "windows_pending", "Windows kept in memory until the store takes them.", WEB_GAUGE,
		  pending },
		{ "symbol_cache_hits_total", "Symbolizer cache hits.", WEB_COUNTER,
		  cs.sym.cache_hits },
		{ "symbol_cache_misses_total", "Symbolizer cache misses.", WEB_COUNTER,
		  cs.sym.cache_misses },
		{ "unknown_frames_total", "Sampled frames without a name.", WEB_COUNTER,
		  cs.unknown_frames },
		{ "maps_unreadable_total", "Processes whose mappings could not be read.",
		  WEB_COUNTER, cs.maps_unreadable },
		{ "elf_errors_total", "ELF/DWARF files that could not be read.", WEB_COUNTER,
		  cs.sym.elf_errors },
		{ "elf_files", "ELF files open for symbolization.", WEB_GAUGE, cs.sym.elf_files },
		{ "elf_evicted_total", "Idle ELF files closed.", WEB_COUNTER, cs.sym.elf_evicted },
		{ "dwarf_files", "ELF files with DWARF and symbols loaded.", WEB_GAUGE,
		  cs.sym.dwarf_files },
		{ "dwarf_reopened_total", "DWARF loaded again after being closed while idle.",
		  WEB_COUNTER, cs.sym.dwarf_reopened },
		{ "symbol_cache_flushes_total", "Name caches dropped to stay within budget.",
		  WEB_COUNTER, cs.sym.cache_flushes },
		{ "resident_memory_bytes", "Agent resident set size after the last window.",
		  WEB_GAUGE, cs.rss_bytes },
		{ "memory_limit_shrinks_total", "Cached symbol data dropped for --memory-limit.",
		  WEB_COUNTER, cs.memory_shrinks },
		{ "jit_bad_lines_total", "Malformed perf-map lines skipped.", WEB_COUNTER,
		  cs.sym.jit_bad_lines },
		{ "debuginfod_failed_total", "Debug info requests without an answer.", WEB_COUNTER,
		  cs.sym.debuginfod_failed },
		{ "processes_seen_total", "Processes announced by the BPF side.", WEB_COUNTER,
		  cs.processes_seen },
		{ "processes_exited_total", "Processes dropped after exiting.", WEB_COUNTER,
		  cs.processes_exited },
		{ "unwind_tables", "ELF files with unwind tables loaded.", WEB_GAUGE,
		  cs.unwind.files_loaded },
		{ "unwind_table_bytes", "Memory used by unwind tables.", WEB_GAUGE,
		  cs.unwind.rows_used * sizeof(struct unwind_row) },
		{ "unwind_tables_failed_total", "Files without usable CFI, or no room.", WEB_COUNTER,
		  cs.unwind.tables_failed },
		{ "unwind_tables_evicted_total", "Idle tables dropped for room.", WEB_COUNTER,
		  cs.unwind.tables_evicted },
		{ "unwind_tables_expired_total", "Tables unloaded after their last user left.",
		  WEB_COUNTER, cs.unwind.tables_expired },
		{ "unwind_rescans_total", "Mapping re-reads asked for by BPF (dlopen).",
		  WEB_COUNTER, cs.unwind_rescans },
		{ "exit_maps_received_total", "Mappings sent by BPF at exit (or with the first "
		  "sample where no exit hook sees them).", WEB_COUNTER, cs.exit_maps },
		{ "exit_maps_used_total", "Of those, snapshots taken from them.", WEB_COUNTER,
		  cs.sym.vma_snapshots },
		{ "exit_vmas_matched_total", "Their mappings tied to an open ELF file.", WEB_COUNTER,
		  cs.sym.vma_matched },
		{ "exit_vmas_unmatched_total", "Their mappings named by basename only.", WEB_COUNTER,
		  cs.sym.vma_unmatched },
		/* the mean per run is rate(bpf_run_seconds_total) / rate(bpf_runs_total) */
		{ "bpf_run_seconds_total", "CPU time in the BPF program (with --bpf-stats).",
		  WEB_COUNTER, cs.bpf_run_ns / 1e9 },
		{ "bpf_runs_total", "Runs of the BPF program (with --bpf-stats).", WEB_COUNTER,
		  cs.bpf_run_cnt },
	};

	for (i = 0; i < (int)(sizeof(rows) / sizeof(rows[0])) && !err; i++)
		err = web_metrics__add(m, rows[i].name, rows[i].help, rows[i].type, rows[i].value);
	for (i = 0; i < SYM_DENIED_MAX; i++) {
		kf_names[KFEAT_MAX + i] = symbolizer_denied_name(i);
		kf_has[KFEAT_MAX + i] = cs.sym.denied[i];
	}
	if (!err)
		err = web_metrics__add_labeled(m, "permission_denied_total", "What ember's "
					       "capabilities hid from it (see ember check).", WEB_COUNTER,
					       "what", kf_names + KFEAT_MAX, kf_has + KFEAT_MAX,
					       SYM_DENIED_MAX);
	if (!err && nkf)
		err = web_metrics__add_labeled(m, "kernel_feature", "Whether the running kernel "
					       "offers a BPF feature ember uses (see ember check).",
					       WEB_GAUGE, "name", kf_names, kf_has, nkf);
	return err;
}

/* Serves the UI from its own process; returns 0 or the exit code (2: bad --listen/--token). */
static int start_web(struct agent *a, volatile sig_atomic_t *exiting)
{
	struct web_opts wo = a->o.web;
	int err;

	wo.db = a->o.db;
	wo.metrics = (struct web_metrics_source){ .collect = agent_metrics, .ctx = a };
	a->m = snapshot__new();
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

static void housekeep(struct agent *a, int64_t now_ms)
{
	int err;

	if (now_ms - a->last_housekeep < HOUSEKEEP_MS)
		return;
	a->last_housekeep = now_ms;
	err = store__retain(a->store, now_ms - a->o.retention_ms);
	if (!err)
		err = store__rollup(a->store, now_ms, NULL, 0);
	if (err)
		log_warn("store housekeeping failed: %s", strerror(-err));
}

/* Drains one window into the store. */
static int end_window(struct agent *a, int64_t start_ms, int64_t end_ms)
{
	double t0, t1;
	int err;

	err = store__window_begin(a->store, start_ms, end_ms - start_ms, &a->w);
	if (err)
		return err;
	a->w_samples = a->w_rows = 0;
	t0 = mono_now();
	err = collector__drain(a->c, add_sample, a);
	if (err) {
		/* the samples are gone from the maps: count them, keep going */
		log_error("window lost: %s", strerror(-err));
		store__window_free(a->w);
		a->windows_dropped++;
		return 0;
	}
	t1 = mono_now();
	queue_window(a, a->w);
	flush_pending(a);
	log_window(a, t1 - t0, mono_now() - t1);
	housekeep(a, end_ms);
	return 0;
}

static int run(struct agent *a, volatile sig_atomic_t *exiting)
{
	int64_t start = timearg__now_ms(), end;
	double deadline = mono_now() + a->o.window_ms / 1000.0, left;
	int err;

	while (!*exiting) {
		left = deadline - mono_now();
		if (left > 0) {
			err = collector__poll(a->c, (int)(left * 1000) + 1);
			if (err && err != -EINTR)
				return err;
			continue;
		}
		end = timearg__now_ms();
		err = end_window(a, start, end);
		if (err)
			return err;
		start = end;
		deadline += a->o.window_ms / 1000.0;
	}
	/* the last, partial window */
	collector__stop(a->c);
	collector__poll(a->c, 0);
	return end_window(a, start, timearg__now_ms());
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
	int err, ret = 1, i;

	log_set_level(LOG_INFO);
	err = parse_args(&a.o, argc, argv);
	if (err)
		return err == 1 ? 0 : err;
	make_private(a.o.db, false);
	err = store__open(a.o.db, 0, &a.store);
	if (err) {
		log_error("cannot open store '%s': %s", a.o.db, store__strerror(err));
		return 1;
	}
	make_private(a.o.db, true);
	err = store__set_period_ns(a.store, 1000000000ULL / a.o.s.freq);
	if (err)
		log_warn("cannot record the sampling period: %s", store__strerror(err));
	ret = start_web(&a, exiting);
	if (ret)
		goto out;
	ret = 1;
	a.c = collector__new(&a.o.s, &a.o.sym);
	if (!a.c)
		goto out;
	collector__set_memory_limit(a.c, a.o.memory_limit);
	pthread_mutex_lock(&a.m->lock);
	a.m->kf = *collector__kfeat(a.c);
	a.m->kf_set = true;
	pthread_mutex_unlock(&a.m->lock);
	kfeat__log(&a.m->kf);
	log_info("sampling at %u Hz on every CPU into %s, %lld s windows", a.o.s.freq,
		 a.o.db, (long long)a.o.window_ms / 1000);
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
	for (i = 0; i < a.npending; i++)
		store__window_free(a.pending[i]);
	collector__free(a.c);
	store__free(a.store);
	snapshot__free(a.m);
	return ret;
}
