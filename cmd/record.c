// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * record.c - `ember record`: sample for a while, then write the profile in
 * the format the output's extension names (folded, pprof, html, svg) and a
 * one-line summary of everything sampled and lost.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "commands.h"
#include "export.h"
#include "log.h"
#include "collector.h"
#include "unwind_abi.h"
#include "mono.h"

#define DRAIN_INTERVAL_MS 1000

struct record_opts {
	struct sampler_opts s;
	struct symbolizer_opts sym;
	double duration;	/* seconds; 0 = until a signal */
	const char *output;	/* NULL or "-" = stdout */
	int pids[MAX_TARGET_PIDS];
};

static const char usage[] =
"usage: ember record [-F HZ] [-d SECONDS] [-p PID[,PID...]] [--kernel-only|--user-only]\n"
"                    [--idle] [--unwind auto|fp] [--unwind-mem MB] [--no-demangle]\n"
"                    [--unwind-files N] [--debuginfod URL] [-o FILE] [-v]\n"
"  -F, --freq HZ        samples per second on each CPU (1-10000, default 99)\n"
"  -d, --duration SEC   stop after SEC seconds (default: at SIGINT/SIGTERM)\n"
"  -p, --pid PIDS       only these processes (comma-separated tgids)\n"
"      --kernel-only    kernel stacks only\n"
"      --user-only      user stacks only\n"
"      --idle           include the idle task\n"
"      --unwind MODE    user stacks: auto (.eh_frame tables, frame pointers elsewhere;\n"
"                       default) or fp (frame pointers only)\n"
"      --unwind-mem MB  memory for unwind tables (default 16)\n"
"      --unwind-files N ELF files with unwind tables at once (8-65536, default 4096)\n"
"      --no-demangle    keep C++/Rust names mangled, as in the binary\n"
"      --debuginfod URL fetch missing debug info from URL (default $DEBUGINFOD_URLS)\n"
"      --no-python      show CPython processes as native frames only (no Python\n"
"                       frames walked in BPF)\n"
"      --bpf-stats      measure the BPF time per sample (turns on the kernel's\n"
"                       run-time accounting of every BPF program while it runs)\n"
"  -o, --output FILE    write to FILE by its extension: .pb.gz or .pprof (pprof),\n"
"                       .html (the viewer), .svg (interactive flame graph),\n"
"                       anything else folded stacks (default or '-': stdout)\n"
"  -v, --verbose        more logging (twice for debug)\n";

static int parse_pids(struct record_opts *o, const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL, *end;
	int err = 0;
	long pid;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		errno = 0;
		pid = strtol(tok, &end, 10);
		if (errno || *end || pid <= 0 || pid > INT_MAX || o->s.npids >= MAX_TARGET_PIDS) {
			err = -EINVAL;
			break;
		}
		if (kill(pid, 0) && errno == ESRCH) {
			err = -ESRCH;
			break;
		}
		o->pids[o->s.npids++] = pid;
	}
	free(copy);
	return err ? err : (o->s.npids ? 0 : -EINVAL);
}

/* Returns 0 to run, 1 after --help, or 2 (the exit code) on a usage error. */
static int parse_args(struct record_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "freq", required_argument, NULL, 'F' },
		{ "duration", required_argument, NULL, 'd' },
		{ "pid", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "kernel-only", no_argument, NULL, 'K' },
		{ "user-only", no_argument, NULL, 'U' },
		{ "idle", no_argument, NULL, 'I' },
		{ "unwind", required_argument, NULL, 'W' },
		{ "unwind-mem", required_argument, NULL, 'M' },
		{ "unwind-files", required_argument, NULL, OPT_UNWIND_FILES },
		{ "no-demangle", no_argument, NULL, 'N' },
		{ "debuginfod", required_argument, NULL, 'G' },
		{ "bpf-stats", no_argument, NULL, 'S' },
		{ "no-python", no_argument, NULL, 'Y' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char *end;
	int c, err;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":F:d:p:o:vh", longopts, NULL)) != -1) {
		err = parse_sampling_flag("record", &o->s, &o->sym, c, optarg);
		if (err != -ENOENT) {
			if (err)
				return err;
			continue;
		}
		switch (c) {
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || *end || end == optarg || !isfinite(o->duration) ||
			    o->duration <= 0 || o->duration > 1e9)
				return usage_error("record", "invalid duration '%s': expected seconds > 0",
						   optarg);
			break;
		case 'p':
			err = parse_pids(o, optarg);
			if (err == -ESRCH)
				return usage_error("record", "no such process in '%s'", optarg);
			if (err)
				return usage_error("record", "invalid pid list '%s'", optarg);
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'K':
			o->s.user_stacks = false;
			break;
		case 'U':
			o->s.kernel_stacks = false;
			break;
		case 'I':
			o->s.include_idle = true;
			break;
		case 'v':
			log_set_level(log_get_level() + 1);
			break;
		default:
			return flag_other("record", c, argv, usage);
		}
	}
	if (flags_end("record", argc, argv))
		return 2;
	if (!o->s.user_stacks && !o->s.kernel_stacks)
		return usage_error("record", "%s", "--kernel-only and --user-only exclude each other");
	return 0;
}

/*
 * What the samples go into: folded stacks always (they give the summary's
 * counts), and the tree or profile the output format needs.
 */
struct record_out {
	enum export_format fmt;
	struct folded *folded;
	struct pprof *pprof;
	struct flame *flame;
	int64_t start_ms;
};

static int add_sample(void *ctx, const struct collector_sample *s)
{
	struct record_out *ro = ctx;
	char comm[sizeof(s->key->comm) + 1];
	struct store_proc proc = { .comm = comm, .pid = s->key->tgid };
	int err;

	memcpy(comm, s->key->comm, sizeof(s->key->comm));
	comm[sizeof(s->key->comm)] = '\0';
	err = folded__add(ro->folded, comm, s->key->tgid, s->frames, s->nframes, s->count);
	if (!err && ro->pprof)
		err = pprof__add(ro->pprof, comm, s->key->tgid, s->frames, s->nframes, s->count);
	if (!err && ro->flame)
		err = flame__add(ro->flame, &proc, s->frames, s->nframes, s->count);
	return err;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int record_out__init(struct record_out *ro, const struct record_opts *o)
{
	ro->fmt = o->output && strcmp(o->output, "-") ? export__format_of(o->output) :
							 EXPORT_FOLDED;
	ro->start_ms = wall_ms();
	ro->folded = folded__new();
	if (ro->fmt == EXPORT_PPROF)
		ro->pprof = pprof__new(1000000000ULL / o->s.freq, ro->start_ms, ro->start_ms);
	if (ro->fmt == EXPORT_HTML || ro->fmt == EXPORT_SVG)
		ro->flame = flame__new();
	if (!ro->folded || (ro->fmt != EXPORT_FOLDED && !ro->pprof && !ro->flame))
		return -ENOMEM;
	return 0;
}

/* Writes the profile; pprof is built here, when the time span is known. */
static int record_out__write(struct record_out *ro, FILE *out)
{
	struct flame_info info = { .title = "ember record", .from_ms = ro->start_ms,
				   .to_ms = wall_ms() };

	switch (ro->fmt) {
	case EXPORT_HTML:
		return flame__write_html(ro->flame, &info, out);
	case EXPORT_SVG:
		return flame__write_svg(ro->flame, &info, out);
	case EXPORT_PPROF:
		pprof__set_end(ro->pprof, info.to_ms);
		return pprof__write(ro->pprof, out);
	default:
		return folded__write(ro->folded, out);
	}
}

static void record_out__fini(struct record_out *ro)
{
	folded__free(ro->folded);
	pprof__free(ro->pprof);
	flame__free(ro->flame);
}

/* Samples until the duration ends or a signal arrives, draining each second. */
static int sample_loop(struct collector *c, struct record_out *ro, double duration,
		       volatile sig_atomic_t *exiting)
{
	double start = mono_s(), next_drain = start + DRAIN_INTERVAL_MS / 1000.0, t, until;
	int err;

	while (!*exiting) {
		t = mono_s();
		if (duration > 0 && t >= start + duration)
			break;
		until = duration > 0 && start + duration < next_drain ? start + duration
								    : next_drain;
		err = collector__poll(c, until > t ? (int)((until - t) * 1000) : 0);
		if (err && err != -EINTR)
			return err;
		if (mono_s() >= next_drain) {
			err = collector__drain(c, add_sample, ro);
			if (err)
				return err;
			next_drain += DRAIN_INTERVAL_MS / 1000.0;
		}
	}
	err = collector__stop(c);
	if (err)
		log_warn("cannot stop sampling: %s", strerror(-err));
	/* events still queued belong to samples in the last drain */
	collector__poll(c, 0);
	return collector__drain(c, add_sample, ro);
}

static void print_summary(struct collector *c, struct folded *f)
{
	struct collector_stats cs;
	struct folded_stats fs;
	int i;

	folded__stats(f, &fs);
	if (collector__stats(c, &cs))
		log_warn("cannot read the BPF counters");
	fprintf(stderr, "ember: record: samples=%llu written=%llu processes=%llu stacks=%llu",
		(unsigned long long)cs.bpf[CNT_SAMPLES], (unsigned long long)fs.samples,
		(unsigned long long)fs.processes, (unsigned long long)fs.stacks);
	for (i = CNT_SAMPLES + 1; i < CNT_MAX; i++)
		fprintf(stderr, " %s=%llu", sampler_counter_names[i],
			(unsigned long long)cs.bpf[i]);
	fprintf(stderr, " unknown_frames=%llu maps_unreadable=%llu elf_errors=%llu"
		" unwind_tables=%llu unwind_table_bytes=%llu unwind_tables_failed=%llu"
		" unwind_tables_evicted=%llu unwind_tables_no_room=%llu unwind_tables_retried=%llu"
		" unwind_tables_cut=%llu unwind_inodes_failed=%llu unwind_build_ms=%llu bpf_ns_per_sample=%llu"
		" exit_maps_received=%llu exit_maps_used=%llu exit_vmas_matched=%llu"
		" exit_vmas_unmatched=%llu cpus_sampled=%llu cpus_reopened=%llu kallsyms_reloads=%llu"
		" processes_reused=%llu stale_exits=%llu paths_refused=%llu"
		" unwind_slots_used=%llu unwind_slots_mapped=%llu unwind_processes=%llu"
		" unwind_processes_starved=%llu unwind_starved_rereads=%llu processes_tracked=%llu"
		" processes_deferred=%llu processes_unread=%llu",
		(unsigned long long)cs.unknown_frames, (unsigned long long)cs.maps_unreadable,
		(unsigned long long)cs.sym.elf_errors,
		(unsigned long long)cs.unwind.files_loaded,
		(unsigned long long)(cs.unwind.rows_used * sizeof(struct unwind_row)),
		(unsigned long long)cs.unwind.tables_failed,
		(unsigned long long)cs.unwind.tables_evicted,
		(unsigned long long)cs.unwind.tables_no_room,
		(unsigned long long)cs.unwind.tables_retried,
		(unsigned long long)cs.unwind.tables_cut,
		(unsigned long long)cs.unwind.inodes_failed,
		(unsigned long long)cs.unwind.build_ns / 1000000,
		(unsigned long long)(cs.bpf_run_cnt ? cs.bpf_run_ns / cs.bpf_run_cnt : 0),
		(unsigned long long)cs.exit_maps, (unsigned long long)cs.sym.vma_snapshots,
		(unsigned long long)cs.sym.vma_matched, (unsigned long long)cs.sym.vma_unmatched,
		(unsigned long long)cs.cpus_sampled, (unsigned long long)cs.cpus_reopened,
		(unsigned long long)cs.sym.kallsyms_reloads,
		(unsigned long long)cs.processes_reused, (unsigned long long)cs.stale_exits,
		(unsigned long long)cs.paths_refused,
		(unsigned long long)cs.unwind.slots_used, (unsigned long long)cs.unwind.slots_mapped,
		(unsigned long long)cs.unwind.procs, (unsigned long long)cs.unwind.procs_starved,
		(unsigned long long)cs.unwind.starved_rereads,
		(unsigned long long)cs.processes_tracked,
		(unsigned long long)cs.processes_deferred, (unsigned long long)cs.processes_unread);
	fprintf(stderr, " python_processes=%llu python_processes_unwalked=%llu"
		" python_not_cpython=%llu python_no_runtime=%llu python_unsupported=%llu"
		" python_tss_waits=%llu python_codes_read=%llu python_code_stale=%llu"
		" python_code_unreadable=%llu",
		(unsigned long long)cs.python.procs, (unsigned long long)cs.python.unwalked,
		(unsigned long long)cs.python.not_cpython, (unsigned long long)cs.python.no_runtime,
		(unsigned long long)cs.python.unsupported, (unsigned long long)cs.python.tss_waits, (unsigned long long)cs.sym.py_codes,
		(unsigned long long)cs.sym.py_stale, (unsigned long long)cs.sym.py_unreadable);
	for (i = 0; i < SYM_DENIED_MAX; i++)
		fprintf(stderr, " denied_%s=%llu", symbolizer_denied_name(i), (unsigned long long)cs.sym.denied[i]);
	fputc('\n', stderr);
}

static FILE *open_output(const char *path)
{
	if (!path || !strcmp(path, "-"))
		return stdout;
	return fopen(path, "w");
}

int cmd_record(int argc, char **argv, volatile sig_atomic_t *exiting)
{
	struct record_opts o = {
		.s = { .freq = 99, .kernel_stacks = true, .user_stacks = true,
			.unwind = UNWIND_MODE_AUTO, .unwind_rows = DEFAULT_UNWIND_ROWS },
	};
	struct collector *c = NULL;
	struct record_out ro = {};
	FILE *out = NULL;
	int err, ret = 1;

	o.s.pids = o.pids;
	err = parse_args(&o, argc, argv);
	if (err)
		return err == 1 ? 0 : err;
	raise_priority();
	out = open_output(o.output);
	if (!out) {
		fprintf(stderr, "ember record: cannot write '%s': %s\n", o.output, strerror(errno));
		return 1;
	}
	if (record_out__init(&ro, &o)) {
		log_error("out of memory");
		goto out;
	}
	c = collector__new(&o.s, &o.sym);
	if (!c)
		goto out;
	log_info("sampling at %u Hz on every CPU", o.s.freq);
	err = sample_loop(c, &ro, o.duration, exiting);
	if (err) {
		log_error("sampling failed: %s", strerror(-err));
		goto out;
	}
	err = record_out__write(&ro, out);
	if (err) {
		log_error("cannot write '%s': %s", o.output ? o.output : "-", strerror(-err));
		goto out;
	}
	print_summary(c, ro.folded);
	ret = 0;
out:
	collector__free(c);
	record_out__fini(&ro);
	if (out && out != stdout && fclose(out) && ret == 0) {
		log_error("cannot write '%s': %s", o.output, strerror(errno));
		ret = 1;
	}
	if (ret && out && out != stdout)
		unlink(o.output);
	return ret;
}
