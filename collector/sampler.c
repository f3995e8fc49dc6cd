// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * sampler.c - loads profile.bpf.c, attaches it to a cpu-clock perf event on
 * every online CPU, and drains its double-buffered maps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kfeat.h"
#include "log.h"
#include "sampler.h"
#include "profile.skel.h"

#define NSEC_PER_SEC 1000000000ULL

#define X(id, name) name,
const char *const sampler_counter_names[CNT_MAX] = { EMBER_BPF_COUNTERS(X) };
#undef X

struct sampler {
	struct profile_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	int *pefds;
	int ncpus;
	int stats_fd;
	struct kfeat kf;	/* what the kernel offers, probed before loading */
	bool tables;		/* do_sample_dw (table unwinding) is loaded */
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

/*
 * Prints the end of a verifier log, where the verifier says why it gave
 * up; the whole log (a million instructions' worth) only at -vv.
 */
static int print_verifier_tail(const char *fmt, va_list ap)
{
	const char *end, *p;
	char *msg = NULL;
	int lines = 0, n;

	n = vasprintf(&msg, fmt, ap);
	if (n < 0)
		return n;
	end = strstr(msg, "-- END PROG LOAD LOG --");
	if (!end)
		end = msg + n;
	for (p = end; p > msg && lines < 4; p--)
		if (p[-1] == '\n' && p != end)
			lines++;
	fprintf(stderr, "ember: libbpf: %.*s[...]\n%.*s(-vv prints the whole verifier log)\n",
		(int)strcspn(msg, "\n") + 1, msg, (int)(end - p), p);
	free(msg);
	return n;
}

/* libbpf's messages, at our log level; verifier logs cut to their end. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_get_level() < (level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG))
		return 0;
	if (log_get_level() < LOG_DEBUG && strstr(fmt, "BEGIN PROG LOAD LOG"))
		return print_verifier_tail(fmt, ap);
	fputs("ember: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

/* Parses a cpulist like "0-3,5" into a bitmap of @max entries. */
static int online_cpus(bool *online, int max)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	int a, b, n = 0;
	char sep;

	if (!f)
		return -errno;
	while (fscanf(f, "%d", &a) == 1) {
		b = a;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
			if (fscanf(f, "%d", &b) != 1)
				break;
			if (fscanf(f, "%c", &sep) != 1)
				sep = '\n';
		}
		for (; a <= b && a < max; a++, n++)
			online[a] = true;
		if (sep != ',')
			break;
	}
	fclose(f);
	return n ? 0 : -EINVAL;
}

static struct bpf_program *sample_prog(struct sampler *s)
{
	return s->tables ? s->skel->progs.do_sample_dw : s->skel->progs.do_sample;
}

static int open_events(struct sampler *s, unsigned int freq)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		/* a fixed period in ns makes samples = CPU time x freq exactly */
		.sample_period = NSEC_PER_SEC / freq,
	};
	bool *online;
	int cpu, err = 0;

	online = calloc(s->ncpus, sizeof(*online));
	if (!online)
		return -ENOMEM;
	err = online_cpus(online, s->ncpus);
	if (err) {
		log_error("cannot read online CPUs: %s", strerror(-err));
		goto out;
	}
	for (cpu = 0; cpu < s->ncpus; cpu++) {
		if (!online[cpu])
			continue;
		s->pefds[cpu] = syscall(__NR_perf_event_open, &attr, -1, cpu, -1,
					PERF_FLAG_FD_CLOEXEC);
		if (s->pefds[cpu] < 0) {
			err = -errno;
			log_error("perf_event_open on CPU %d: %s", cpu, strerror(errno));
			goto out;
		}
		s->links[cpu] = bpf_program__attach_perf_event(sample_prog(s), s->pefds[cpu]);
		if (!s->links[cpu]) {
			err = -errno;
			log_error("attach to CPU %d: %s", cpu, strerror(errno));
			goto out;
		}
	}
out:
	free(online);
	return err;
}

static int set_targets(struct sampler *s, const struct sampler_opts *opts)
{
	int fd = bpf_map__fd(s->skel->maps.targets);
	__u8 one = 1;
	int i;

	for (i = 0; i < opts->npids; i++) {
		__u32 pid = opts->pids[i];

		if (bpf_map_update_elem(fd, &pid, &one, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int alloc_scratch(struct sampler *s)
{
	s->links = calloc(s->ncpus, sizeof(*s->links));
	s->pefds = malloc(s->ncpus * sizeof(*s->pefds));
	s->keys = calloc(MAX_COUNTS, sizeof(*s->keys));
	s->vals = calloc(MAX_COUNTS, sizeof(*s->vals));
	s->kips = calloc(MAX_STACK_DEPTH + 1, sizeof(*s->kips));
	s->uips = calloc(MAX_STACK_DEPTH + 1, sizeof(*s->uips));
	if (!s->links || !s->pefds || !s->keys || !s->vals || !s->kips || !s->uips)
		return -ENOMEM;
	memset(s->pefds, -1, s->ncpus * sizeof(*s->pefds));
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;
	const struct ember_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (e->type == EVENT_MAPS &&
	    (size < sizeof(struct ember_maps_event) ||
	     ((const struct ember_maps_event *)data)->n > MAX_EXIT_VMAS))
		return 0;
	if (e->type == EVENT_EXEC && size < sizeof(struct ember_exec_event))
		return 0;
	s->proc_fn(s->proc_ctx, e->type, e->tgid, data);
	s->handled++;
	return 0;
}

/*
 * Attaches the tracepoint programs one by one: each is best effort, as
 * sampling works without them.  The exit-time dump goes first so it runs
 * before on_exit (which drops the process's `seen` entry) at every exit.
 */
static void attach_tracking(struct sampler *s)
{
	struct profile_bpf *skel = s->skel;
	struct bpf_program *exit_prog = NULL;
	struct bpf_link **exit_link = NULL;

	if (bpf_program__autoload(skel->progs.exit_maps_tp)) {
		exit_prog = skel->progs.exit_maps_tp;
		exit_link = &skel->links.exit_maps_tp;
		s->exit_hook = "tracepoint sched_process_exit";
	} else if (bpf_program__autoload(skel->progs.exit_maps_fentry)) {
		exit_prog = skel->progs.exit_maps_fentry;
		exit_link = &skel->links.exit_maps_fentry;
		s->exit_hook = "fentry do_exit";
	}
	if (exit_prog) {
		*exit_link = bpf_program__attach(exit_prog);
		if (!*exit_link) {
			log_warn("mappings of short-lived processes are not sent at exit: "
				 "attaching to %s failed: %s", s->exit_hook, strerror(errno));
			s->exit_hook = NULL;
		}
	}
	skel->links.on_exec = bpf_program__attach(skel->progs.on_exec);
	if (!skel->links.on_exec)
		log_warn("process exec tracking unavailable: %s", strerror(errno));
	skel->links.on_exit = bpf_program__attach(skel->progs.on_exit);
	if (!skel->links.on_exit)
		log_warn("process exit tracking unavailable: %s", strerror(errno));
}

/* Preallocated unwind maps (before 6.1) are smaller: they cost memory unused. */
#define PREALLOC_UNWIND_PROCS 1024
#define PREALLOC_DW_STACKS 4096

/*
 * Sizes the maps only one variant uses: without tables they shrink to one
 * entry; where perf_event programs need preallocated hash maps they lose
 * BPF_F_NO_PREALLOC and most of their entries.
 */
static int size_unwind_maps(struct sampler *s, const struct sampler_opts *opts, bool tables)
{
	struct profile_bpf *skel = s->skel;
	struct bpf_map *lazy[] = { skel->maps.unwind_procs, skel->maps.ustacks_dw0,
				   skel->maps.ustacks_dw1 };
	unsigned int i;
	int err = 0;

	err = bpf_map__set_max_entries(skel->maps.unwind_rows,
				       tables && opts->unwind_rows ? opts->unwind_rows : 1);
	for (i = 0; i < sizeof(lazy) / sizeof(lazy[0]) && !err; i++) {
		if (!tables)
			err = bpf_map__set_max_entries(lazy[i], 1);
		else if (!s->kf.has[KFEAT_NO_PREALLOC])
			err = bpf_map__set_map_flags(lazy[i], 0) ?:
			      bpf_map__set_max_entries(lazy[i], i ? PREALLOC_DW_STACKS :
							PREALLOC_UNWIND_PROCS);
	}
	return err;
}

/*
 * Without an exit hook, mappings go with the first sample: from the VMA
 * list where there is one (before 6.1), else from bpf_find_vma(), which
 * only the table program may call.
 */
static enum start_maps_mode start_maps_mode(const struct kfeat *kf, bool tables, bool exit_maps)
{
	if (exit_maps)
		return START_MAPS_NONE;
	if (kf->has[KFEAT_VMA_LIST])
		return START_MAPS_LIST;
	if (tables && kf->has[KFEAT_FIND_VMA])
		return START_MAPS_FIND_VMA;
	return START_MAPS_NONE;
}

/*
 * Loads one variant: @tables picks do_sample_dw, @exit_maps the exit-time
 * dump (on the hook the kernel was probed to have), @start_maps how
 * mappings go with first samples otherwise.
 */
static int load(struct sampler *s, const struct sampler_opts *opts, bool tables, bool exit_maps,
		enum start_maps_mode start_maps)
{
	bool tp = exit_maps && s->kf.has[KFEAT_EXIT_TP_MM];
	int err;

	s->skel = profile_bpf__open();
	if (!s->skel)
		return -errno;
	s->tables = tables;
	bpf_program__set_autoload(s->skel->progs.do_sample, !tables);
	bpf_program__set_autoload(s->skel->progs.do_sample_dw, tables);
	bpf_program__set_autoload(s->skel->progs.exit_maps_tp, tp);
	bpf_program__set_autoload(s->skel->progs.exit_maps_fentry, exit_maps && !tp);
	s->skel->rodata->kernel_stacks = opts->kernel_stacks;
	s->skel->rodata->user_stacks = opts->user_stacks;
	s->skel->rodata->include_idle = opts->include_idle;
	s->skel->rodata->filter_pids = opts->npids > 0;
	s->skel->rodata->start_maps = start_maps;
	err = size_unwind_maps(s, opts, tables);
	if (err)
		return err;
	err = profile_bpf__load(s->skel);
	if (err)
		return err;
	err = set_targets(s, opts);
	if (err)
		return err;
	attach_tracking(s);
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_event, s, NULL);
	return s->rb ? 0 : -errno;
}

static void unload(struct sampler *s)
{
	int cpu;

	for (cpu = 0; cpu < s->ncpus && s->links; cpu++) {
		bpf_link__destroy(s->links[cpu]);
		s->links[cpu] = NULL;
	}
	ring_buffer__free(s->rb);
	profile_bpf__destroy(s->skel);
	s->rb = NULL;
	s->skel = NULL;
	s->exit_hook = NULL;
}

/*
 * Picks the program variant the probed kernel supports, says once what is
 * missing and what that costs, and loads it.  Should the verifier still
 * refuse the richer variant (its limits differ per kernel), the plain
 * frame-pointer program is loaded instead, with libbpf's reason logged.
 */
static int load_any(struct sampler *s, const struct sampler_opts *opts)
{
	const struct kfeat *kf = &s->kf;
	bool tables = opts->unwind == UNWIND_MODE_AUTO;
	bool exit_maps = kf->has[KFEAT_VMA_ITER] &&
			 (kf->has[KFEAT_EXIT_TP_MM] || kf->has[KFEAT_FENTRY]);
	enum start_maps_mode start_maps;
	int err;

	if (tables && (!kf->has[KFEAT_BPF_LOOP] || !kf->has[KFEAT_TASK_PT_REGS])) {
		log_warn("table unwinding unavailable: kernel %s lacks %s (Linux %s+); "
			 "user stacks use frame pointers only", kf->release,
			 kf->has[KFEAT_BPF_LOOP] ? "bpf_task_pt_regs" : "bpf_loop",
			 kf->has[KFEAT_BPF_LOOP] ? "5.15" : "5.17");
		tables = false;
	}
	start_maps = start_maps_mode(kf, tables, exit_maps);
	if (!exit_maps)
		log_info("mappings of short-lived processes are not sent at exit: kernel %s "
			 "lacks %s; %s", kf->release,
			 !kf->has[KFEAT_VMA_ITER] ? "the VMA iterator (Linux 6.7+)" :
			 "an exit hook that sees the mm (sched_process_exit 6.16+, or fentry)",
			 start_maps == START_MAPS_LIST ?
			 "they are sent with each process's first sample" :
			 start_maps == START_MAPS_FIND_VMA ?
			 "those of each process's first sampled stack are sent with it" :
			 "a process is named once user space has read its maps");
	err = load(s, opts, tables, exit_maps, start_maps);
	if (!err || err == -EPERM || (!tables && !exit_maps && !start_maps))
		return err;
	log_warn("kernel %s refused the program (%s; the verifier's reason is above): "
		 "loading the frame-pointer program alone (dropped:%s%s%s)", kf->release,
		 strerror(-err), tables ? " table-unwinding" : "", exit_maps ? " exit-maps" : "",
		 start_maps ? " first-sample-maps" : "");
	unload(s);
	return load(s, opts, false, false, START_MAPS_NONE);
}

struct sampler *sampler__new(const struct sampler_opts *opts)
{
	struct sampler *s;
	int err;

	libbpf_set_print(libbpf_log);
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->stats_fd = -1;
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		err = s->ncpus ? s->ncpus : -EINVAL;
		goto fail;
	}
	err = alloc_scratch(s);
	if (err)
		goto fail;
	kfeat__probe(&s->kf);
	err = load_any(s, opts);
	if (err) {
		log_error("cannot load the BPF program: %s%s", strerror(-err),
			  err == -EPERM ? " (run as root)" : "");
		goto fail;
	}
	s->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	err = open_events(s, opts->freq);
	if (err)
		goto fail;
	return s;
fail:
	sampler__free(s);
	errno = -err;
	return NULL;
}

void sampler__free(struct sampler *s)
{
	int cpu;

	if (!s)
		return;
	for (cpu = 0; cpu < s->ncpus && s->links; cpu++)
		bpf_link__destroy(s->links[cpu]);
	for (cpu = 0; cpu < s->ncpus && s->pefds; cpu++)
		if (s->pefds[cpu] >= 0)
			close(s->pefds[cpu]);
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	ring_buffer__free(s->rb);
	profile_bpf__destroy(s->skel);
	free(s->links);
	free(s->pefds);
	free(s->keys);
	free(s->vals);
	free(s->kips);
	free(s->uips);
	free(s);
}

/*
 * Waits until every program run that may have seen the old `active` value
 * has finished.  Perf-event programs run inside an RCU read-side section, so
 * one RCU grace period (what MEMBARRIER_CMD_GLOBAL waits for) is enough.
 */
static void wait_for_programs(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0)
		usleep(10000);
}

int sampler__stop(struct sampler *s)
{
	int cpu, err = 0;

	for (cpu = 0; cpu < s->ncpus; cpu++)
		if (s->pefds[cpu] >= 0 && ioctl(s->pefds[cpu], PERF_EVENT_IOC_DISABLE, 0) && !err)
			err = -errno;
	wait_for_programs();
	return err;
}

int sampler__poll(struct sampler *s, int timeout_ms, sampler_proc_fn fn, void *ctx)
{
	int err;

	s->proc_fn = fn;
	s->proc_ctx = ctx;
	s->handled = 0;
	err = ring_buffer__poll(s->rb, timeout_ms);
	return err < 0 ? err : s->handled;
}

/* Reads every row of @fd into s->keys/s->vals, deleting as it goes. */
static int take_counts(struct sampler *s, int fd, __u32 *total)
{
	__u32 n, out_batch = 0, *in = NULL;
	struct sample_key key, next;
	int err = 0;

	*total = 0;
	for (;;) {
		n = MAX_COUNTS - *total;
		err = bpf_map_lookup_and_delete_batch(fd, in, &out_batch, s->keys + *total,
						      s->vals + *total, &n, NULL);
		if (err && errno != ENOENT)
			break;
		*total += n;
		if (err || *total >= MAX_COUNTS)
			return 0;
		in = &out_batch;
	}
	if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP)
		return -errno;
	/* kernels without batch ops: walk the keys one by one */
	for (err = bpf_map_get_next_key(fd, NULL, &key); !err && *total < MAX_COUNTS;
	     err = bpf_map_get_next_key(fd, &key, &next), key = next) {
		if (bpf_map_lookup_elem(fd, &key, &s->vals[*total]))
			continue;
		s->keys[(*total)++] = key;
	}
	for (n = 0; n < *total; n++)
		bpf_map_delete_elem(fd, &s->keys[n]);
	return 0;
}

/* Empties a stack-trace map; ids are only meaningful within one drain. */
static void clear_stacks(int fd)
{
	__u32 id, next;
	int err;

	for (err = bpf_map_get_next_key(fd, NULL, &id); !err; id = next) {
		err = bpf_map_get_next_key(fd, &id, &next);
		bpf_map_delete_elem(fd, &id);
	}
}

/* A table-unwound stack, copied 0-terminated like a stack-trace map's. */
static const uint64_t *read_dw_stack(int fd, __u64 hash, uint64_t *ips, struct dw_stack *tmp)
{
	if (!hash || bpf_map_lookup_elem(fd, &hash, tmp))
		return NULL;
	if (tmp->len > MAX_STACK_DEPTH)
		tmp->len = MAX_STACK_DEPTH;
	memcpy(ips, tmp->ips, tmp->len * sizeof(*ips));
	ips[tmp->len] = 0;
	return ips;
}

/* Empties a hash map of table-unwound stacks. */
static void clear_dw_stacks(int fd)
{
	__u64 key, next;
	int err;

	for (err = bpf_map_get_next_key(fd, NULL, &key); !err; key = next) {
		err = bpf_map_get_next_key(fd, &key, &next);
		bpf_map_delete_elem(fd, &key);
	}
}

static const uint64_t *read_stack(int fd, __s32 id, uint64_t *ips)
{
	if (id < 0)
		return NULL;
	memset(ips, 0, MAX_STACK_DEPTH * sizeof(*ips));
	if (bpf_map_lookup_elem(fd, &id, ips))
		return NULL;
	return ips;
}

int sampler__drain(struct sampler *s, sampler_row_fn fn, void *ctx)
{
	struct profile_bpf *skel = s->skel;
	__u32 half = skel->bss->active & 1, i, n;
	struct bpf_map *counts = half ? skel->maps.counts1 : skel->maps.counts0;
	int kfd = bpf_map__fd(half ? skel->maps.kstacks1 : skel->maps.kstacks0);
	int ufd = bpf_map__fd(half ? skel->maps.ustacks1 : skel->maps.ustacks0);
	int dfd = bpf_map__fd(half ? skel->maps.ustacks_dw1 : skel->maps.ustacks_dw0);
	struct dw_stack *tmp = malloc(sizeof(*tmp));
	int err;

	if (!tmp)
		return -ENOMEM;

	skel->bss->active = !half;
	wait_for_programs();
	err = take_counts(s, bpf_map__fd(counts), &n);
	for (i = 0; i < n && !err; i++) {
		struct sampler_row row = {
			.key = &s->keys[i],
			.count = s->vals[i],
			.kips = read_stack(kfd, s->keys[i].kstack_id, s->kips),
			.uips = s->keys[i].uhash ?
				read_dw_stack(dfd, s->keys[i].uhash, s->uips, tmp) :
				read_stack(ufd, s->keys[i].ustack_id, s->uips),
		};

		err = fn(ctx, &row);
	}
	clear_stacks(kfd);
	clear_stacks(ufd);
	clear_dw_stacks(dfd);
	free(tmp);
	return err;
}

int sampler__mark_read(struct sampler *s, uint32_t tgid)
{
	int fd = bpf_map__fd(s->skel->maps.seen);
	__u8 state, read = SEEN_READ;

	/*
	 * Not atomic: an exec between the lookup and the update loses its
	 * stale mark, and the new image is then only read on a missed address.
	 */
	if (bpf_map_lookup_elem(fd, &tgid, &state))
		return -errno;
	if (state != SEEN_CURRENT)
		return 0;
	return bpf_map_update_elem(fd, &tgid, &read, BPF_EXIST) ? -errno : 0;
}

bool sampler__exit_maps(struct sampler *s)
{
	return s->exit_hook != NULL;
}

const char *sampler__exit_hook(struct sampler *s)
{
	return s->exit_hook;
}

const char *sampler__maps_hook(struct sampler *s)
{
	if (s->exit_hook)
		return s->exit_hook;
	switch (s->skel->rodata->start_maps) {
	case START_MAPS_LIST:
		return "first sample (VMA list)";
	case START_MAPS_FIND_VMA:
		return "first sample (bpf_find_vma of its stack)";
	default:
		return NULL;
	}
}

const struct kfeat *sampler__kfeat(struct sampler *s)
{
	return &s->kf;
}

void sampler__unwind_maps(struct sampler *s, struct sampler_unwind_maps *m)
{
	m->rows_fd = bpf_map__fd(s->skel->maps.unwind_rows);
	m->rows_max = bpf_map__max_entries(s->skel->maps.unwind_rows);
	m->files_fd = bpf_map__fd(s->skel->maps.unwind_files);
	m->procs_fd = bpf_map__fd(s->skel->maps.unwind_procs);
}

bool sampler__unwinds(struct sampler *s)
{
	return s->tables;
}

bool sampler_counter_is_loss(int id)
{
	return id != CNT_SAMPLES && id != CNT_UNWIND_WALKS && id != CNT_UNWIND_ROOT &&
	       id != CNT_UNWIND_FP_END && id != CNT_EXIT_MAPS && id != CNT_START_MAPS;
}

int sampler__counters(struct sampler *s, uint64_t out[CNT_MAX])
{
	int fd = bpf_map__fd(s->skel->maps.counters);
	uint64_t *percpu;
	__u32 id;
	int cpu, err = 0;

	percpu = calloc(s->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (id = 0; id < CNT_MAX; id++) {
		out[id] = 0;
		if (bpf_map_lookup_elem(fd, &id, percpu)) {
			err = -errno;
			break;
		}
		for (cpu = 0; cpu < s->ncpus; cpu++)
			out[id] += percpu[cpu];
	}
	free(percpu);
	return err;
}

void sampler__prog_stats(struct sampler *s, uint64_t *run_ns, uint64_t *run_cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	*run_ns = *run_cnt = 0;
	if (bpf_obj_get_info_by_fd(bpf_program__fd(sample_prog(s)), &info, &len))
		return;
	*run_ns = info.run_time_ns;
	*run_cnt = info.run_cnt;
}
