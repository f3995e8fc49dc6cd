// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * snapshot.c - the agent's counters as its UI process sees them: a mapping
 * shared across the fork, which the agent fills after each drain under a
 * process-shared lock, and the /metrics answer built from it.
 */
#include <stdio.h>
#include <sys/mman.h>
#include "commands.h"
#include "sampler.h"
#include "symbolizer.h"
#include "unwind_abi.h"
#include "webproc.h"

struct agent_snapshot *snapshot__new(void)
{
	struct agent_snapshot *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t attr;

	if (s == MAP_FAILED)
		return NULL;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&s->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return s;
}

void snapshot__free(struct agent_snapshot *s)
{
	if (s)
		munmap(s, sizeof(*s));
}

/* /metrics in the UI process: the snapshot published after the last drain. */
int snapshot__metrics(void *ctx, struct web_metrics *m)
{
	struct agent_snapshot *snap = ctx;
	struct collector_stats cs;
	struct agent_counts n;
	struct push_stats push;
	bool push_on;
	char name[80];
	const char *kf_names[KFEAT_MAX + SYM_DENIED_MAX];	/* then the denied labels */
	double kf_has[KFEAT_MAX + SYM_DENIED_MAX];
	int i, nkf = 0, err = 0;

	pthread_mutex_lock(&snap->lock);
	for (i = 0; snap->kf_set && i < KFEAT_MAX; i++, nkf++) {
		kf_names[i] = kfeat_name(i);
		kf_has[i] = snap->kf.has[i];
	}
	cs = snap->stats;
	n = snap->n;
	push = snap->push;
	push_on = snap->push_on;
	pthread_mutex_unlock(&snap->lock);
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
		{ "windows_written_total", "Windows committed to the store.", WEB_COUNTER, n.written },
		{ "windows_dropped_total", "Windows lost (store unwritable).", WEB_COUNTER, n.dropped },
		{ "store_write_errors_total", "Failed window commits.", WEB_COUNTER, n.write_errors },
		{ "windows_pending", "Windows kept in memory until the store takes them.", WEB_GAUGE,
		  n.pending },
		{ "stacks_truncated_total", "Samples whose stack was cut to the store's 1024 "
		  "frames (leaf end kept under [truncated]).", WEB_COUNTER, n.truncated },
		{ "samples_unstored_total", "Samples the window could not take (no memory).",
		  WEB_COUNTER, n.unstored },
		{ "clock_steps_total", "Wall-clock steps seen (windows stay in order).",
		  WEB_COUNTER, n.clock_steps },
		{ "windows_evicted_total", "Oldest windows deleted to stay within --max-size.",
		  WEB_COUNTER, n.evicted },
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
		{ "elf_changed_total", "ELF files cut short or rewritten while open.", WEB_COUNTER,
		  cs.sym.elf_changed },
		{ "elf_files", "ELF files open for symbolization.", WEB_GAUGE, cs.sym.elf_files },
		{ "elf_evicted_total", "Idle ELF files closed.", WEB_COUNTER, cs.sym.elf_evicted },
		{ "dwarf_files", "ELF files with DWARF and symbols loaded.", WEB_GAUGE,
		  cs.sym.dwarf_files },
		{ "dwarf_reopened_total", "DWARF loaded again after being closed while idle.",
		  WEB_COUNTER, cs.sym.dwarf_reopened },
		{ "dwarf_recycled_total", "DWARF closed (and reopened) after naming 128 addresses, to drop "
		  "the line tables it read.", WEB_COUNTER, cs.sym.dwarf_recycled },
		{ "symbol_cache_flushes_total", "Name caches dropped to stay within budget.",
		  WEB_COUNTER, cs.sym.cache_flushes },
		{ "resident_memory_bytes", "Agent resident set size after the last window.",
		  WEB_GAUGE, cs.rss_bytes },
		{ "memory_limit_shrinks_total", "Cached symbol data dropped for --memory-limit.",
		  WEB_COUNTER, cs.memory_shrinks },
		{ "debug_inflated_total", "Compressed debug files written out inflated (mapped, "
		  "not inflated into memory at each use).", WEB_COUNTER, cs.sym.debug_inflated },
		{ "debug_inflate_failed_total", "Compressed debug files that could not be written "
		  "out inflated.", WEB_COUNTER, cs.sym.debug_inflate_failed },
		{ "debug_inflated_bytes", "Disk taken by the inflated debug files open now "
		  "(unlinked files).", WEB_GAUGE, cs.sym.debug_inflated_bytes },
		{ "mapped_page_releases_total", "Times a drain past --memory-limit gave "
		  "back the mapped file pages its lookups touched.", WEB_COUNTER, cs.page_releases },
		{ "heap_trims_total", "Drains after which free heap pages were given back.",
		  WEB_COUNTER, cs.heap_trims },
		{ "heap_trimmed_bytes_total", "Resident bytes given back by those trims.",
		  WEB_COUNTER, cs.heap_trimmed_bytes },
		{ "jit_bad_lines_total", "Malformed perf-map lines skipped.", WEB_COUNTER,
		  cs.sym.jit_bad_lines },
		{ "debuginfod_failed_total", "Debug info requests without an answer.", WEB_COUNTER,
		  cs.sym.debuginfod_failed },
		{ "processes_seen_total", "Processes announced by the BPF side.", WEB_COUNTER,
		  cs.processes_seen },
		{ "processes_exited_total", "Processes dropped after exiting.", WEB_COUNTER,
		  cs.processes_exited },
		{ "processes_deferred_total", "New processes read only once settled (exit hook).",
		  WEB_COUNTER, cs.processes_deferred },
		{ "processes_unread_total", "Of them, those gone before: named from the mappings "
		  "BPF sent at exit.", WEB_COUNTER, cs.processes_unread },
		{ "exe_reads_total", "Executables read from /proc/PID/exe: a path and file not "
		  "exec'd before.", WEB_COUNTER, cs.exe_reads },
		{ "exe_cached_total", "Executables known from an earlier exec of the same path and "
		  "file.", WEB_COUNTER, cs.exe_cached },
		{ "processes_reused_total", "Tracked processes whose pid a new process took.",
		  WEB_COUNTER, cs.processes_reused },
		{ "stale_exits_total", "Exits of a pid's earlier process, kept from removing its "
		  "new one.", WEB_COUNTER, cs.stale_exits },
		{ "paths_refused_total", "Mapped files not opened: their path led outside their "
		  "process's root.", WEB_COUNTER, cs.paths_refused },
		{ "unwind_tables", "ELF files with unwind tables loaded.", WEB_GAUGE,
		  cs.unwind.files_loaded },
		{ "unwind_table_bytes", "Memory used by unwind tables.", WEB_GAUGE,
		  cs.unwind.rows_used * sizeof(struct unwind_row) },
		{ "unwind_tables_failed_total", "Table builds that failed (no usable CFI, unreadable).",
		  WEB_COUNTER, cs.unwind.tables_failed },
		{ "unwind_tables_no_room_total", "Table loads refused: every file slot or row in use.",
		  WEB_COUNTER, cs.unwind.tables_no_room },
		{ "unwind_tables_retried_total", "Table builds tried again after a failure.",
		  WEB_COUNTER, cs.unwind.tables_retried },
		{ "unwind_tables_cut_total", "Table builds cut off by their row or time budget.",
		  WEB_COUNTER, cs.unwind.tables_cut },
		{ "unwind_inodes_failed_total", "Loaded tables BPF could not find by inode "
		  "(new processes then wait for their maps to be read).", WEB_COUNTER,
		  cs.unwind.inodes_failed },
		{ "unwind_file_slots", "Files holding an unwind-table slot.", WEB_GAUGE,
		  cs.unwind.slots_used },
		{ "unwind_file_slots_max", "Unwind-table slots (--unwind-files).", WEB_GAUGE,
		  cs.unwind.slots_max },
		{ "unwind_file_slots_mapped", "Slots of files a tracked process maps (the rest "
		  "are idle, free for others).", WEB_GAUGE, cs.unwind.slots_mapped },
		{ "unwind_processes", "Processes with an unwind-table entry (at most "
		  "processes_tracked: more is a leak).", WEB_GAUGE, cs.unwind.procs },
		{ "unwind_processes_starved", "Processes missing a table for lack of room now.",
		  WEB_GAUGE, cs.unwind.procs_starved },
		{ "unwind_starved_rereads_total", "Processes read again for their tables once "
		  "room was freed.", WEB_COUNTER, cs.unwind.starved_rereads },
		{ "processes_tracked", "Processes known now (exited ones until the next drain).",
		  WEB_GAUGE, cs.processes_tracked },
		{ "unwind_tables_evicted_total", "Idle tables dropped for room.", WEB_COUNTER,
		  cs.unwind.tables_evicted },
		{ "kallsyms_reloads_total", "Kernel symbols read again after modules or BPF "
		  "programs changed.", WEB_COUNTER, cs.sym.kallsyms_reloads },
		{ "kallsyms_reload_errors_total", "Kernel symbol re-reads that failed.", WEB_COUNTER,
		  cs.sym.kallsyms_reload_errors },
		{ "cpus_sampled", "CPUs with a live sampling event.", WEB_GAUGE, cs.cpus_sampled },
		{ "cpu_events_reopened_total", "Sampling events opened on CPUs that came online "
		  "after the start.", WEB_COUNTER, cs.cpus_reopened },
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
		{ "python_processes_total", "CPython processes whose frames BPF walks.",
		  WEB_COUNTER, cs.python.procs },
		{ "python_processes_unwalked_total", "CPython processes found where the loaded "
		  "program cannot walk Python frames (no bpf_loop, or --unwind fp).", WEB_COUNTER,
		  cs.python.unwalked },
		{ "python_not_cpython_total", "Python-named files without the interpreter.",
		  WEB_COUNTER, cs.python.not_cpython },
		{ "python_no_runtime_total", "Python binaries without _PyRuntime (stripped).",
		  WEB_COUNTER, cs.python.no_runtime },
		{ "python_unsupported_total", "CPython versions without a layout entry.",
		  WEB_COUNTER, cs.python.unsupported },
		{ "python_codes_read_total", "Python code objects read and named.", WEB_COUNTER,
		  cs.sym.py_codes },
		{ "python_code_stale_total", "Sampled code objects freed and reused since (checksum "
		  "mismatch; shown unknown).", WEB_COUNTER, cs.sym.py_stale },
		{ "python_code_unreadable_total", "Python code objects that could not be read.",
		  WEB_COUNTER, cs.sym.py_unreadable },
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
	if (!err && push_on)
		err = push_metrics__add(&push, m);
	if (!err && nkf)
		err = web_metrics__add_labeled(m, "kernel_feature", "Whether the running kernel "
					       "offers a BPF feature ember uses (see ember check).",
					       WEB_GAUGE, "name", kf_names, kf_has, nkf);
	return err;
}
