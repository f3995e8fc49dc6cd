// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * sampler.c - attaches the loaded profile.bpf.c (see variant.c) to a
 * cpu-clock perf event on every CPU (those brought online later too),
 * polls its events, and drains its double-buffered maps.
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
#include "internal.h"
#include "log.h"

#define NSEC_PER_SEC 1000000000ULL
#define CPUS_CHECK_MS 1000	/* how often CPUs brought online are looked for */

#define X(id, name) name,
const char *const sampler_counter_names[CNT_MAX] = { EMBER_BPF_COUNTERS(X) };
#undef X

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

/*
 * Opens and attaches the cpu-clock event of @cpu.  Returns 0, -ENODEV when
 * the CPU is offline, or another -errno.
 */
static int open_cpu(struct sampler *s, int cpu)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		/* a fixed period in ns makes samples = CPU time x freq exactly */
		.sample_period = NSEC_PER_SEC / s->freq,
	};
	int fd, err;

	fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	s->links[cpu] = bpf_program__attach_perf_event(sample_prog(s), fd);
	if (!s->links[cpu]) {
		err = -errno;
		close(fd);
		return err;
	}
	s->pefds[cpu] = fd;
	s->cpu_clock[cpu] = 0;
	s->cpu_samples[cpu] = UINT64_MAX;	/* a count before it does not vouch for it */
	return 0;
}

/* Destroying a perf event's link closes the event's fd too (libbpf owns it then). */
static void close_cpu(struct sampler *s, int cpu)
{
	if (s->links[cpu])
		bpf_link__destroy(s->links[cpu]);
	else if (s->pefds[cpu] >= 0)
		close(s->pefds[cpu]);
	s->links[cpu] = NULL;
	s->pefds[cpu] = -1;
}

/*
 * One event per possible CPU: those offline now are opened by
 * sampler__check_cpus() once they come online.
 */
static int open_events(struct sampler *s)
{
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
		err = online[cpu] ? open_cpu(s, cpu) : -ENODEV;
		if (err == -ENODEV) {
			log_info("CPU %d is offline: sampled once it comes online", cpu);
			err = 0;
			continue;
		}
		if (err) {
			log_error("perf event on CPU %d: %s", cpu, strerror(-err));
			goto out;
		}
		s->cpus_sampled++;
	}
out:
	free(online);
	return err;
}

/*
 * Whether @cpu's event still counts.  A CPU that went offline took its
 * events out of its context, and coming back online does not bring them
 * back.  A CPU-wide cpu-clock event counts every nanosecond of its CPU, so
 * one that counted less than half of the @elapsed_ns since the last check
 * was dead for part of it, even if the CPU is back by now.  Its count is
 * only read when BPF's per-CPU samples (@samples) did not move: after a
 * run of looks vouched for by samples, its baseline is older, and a busy
 * CPU that flapped is found one look later (three instead of two).
 */
static bool cpu_counting(struct sampler *s, int cpu, uint64_t elapsed_ns, const uint64_t *samples)
{
	uint64_t v, was = s->cpu_clock[cpu];

	/*
	 * A sample BPF counted on it since the last look came from this
	 * event: no need to read its count, which interrupts the CPU (an
	 * IPI, a VM exit under a hypervisor).  Idle or filtered, it is read.
	 */
	if (samples) {
		bool moved = s->cpu_samples[cpu] != UINT64_MAX && samples[cpu] != s->cpu_samples[cpu];

		s->cpu_samples[cpu] = samples[cpu];
		if (moved)
			return true;
	}
	if (read(s->pefds[cpu], &v, sizeof(v)) != sizeof(v))
		return false;
	s->cpu_clock[cpu] = v;
	return v > was && (!was || v - was >= elapsed_ns / 2);
}

int sampler__check_cpus(struct sampler *s)
{
	uint64_t now = mono_ms(), elapsed_ns = (now - s->cpus_checked) * 1000000, *samples;
	int fd = bpf_map__fd(s->skel->maps.counters), cpu, err;
	__u32 id = CNT_SAMPLES;
	bool *online;

	/* once a second; a live event counts all of that second */
	if (s->stopped || now - s->cpus_checked < CPUS_CHECK_MS)
		return 0;
	s->cpus_checked = now;
	online = calloc(s->ncpus, sizeof(*online));
	samples = calloc(s->ncpus, sizeof(*samples));
	if (!online || !samples) {
		free(online);
		free(samples);
		return -ENOMEM;
	}
	if (bpf_map_lookup_elem(fd, &id, samples)) {
		free(samples);
		samples = NULL;
	}
	err = online_cpus(online, s->ncpus);
	for (cpu = 0; cpu < s->ncpus && !err; cpu++) {
		if (s->pefds[cpu] >= 0 && (!online[cpu] || cpu_counting(s, cpu, elapsed_ns, samples)))
			continue;
		if (s->pefds[cpu] >= 0) {
			close_cpu(s, cpu);
			s->cpus_sampled--;
		}
		if (!online[cpu] || open_cpu(s, cpu))
			continue;
		s->cpus_sampled++;
		s->cpus_reopened++;
		log_info("CPU %d came online: sampling it", cpu);
	}
	free(online);
	free(samples);
	return err;
}

void sampler__cpu_stats(struct sampler *s, uint64_t *sampled, uint64_t *reopened)
{
	*sampled = s->cpus_sampled;
	*reopened = s->cpus_reopened;
}

static int alloc_scratch(struct sampler *s)
{
	s->links = calloc(s->ncpus, sizeof(*s->links));
	s->pefds = malloc(s->ncpus * sizeof(*s->pefds));
	if (s->pefds)
		memset(s->pefds, -1, s->ncpus * sizeof(*s->pefds));
	s->cpu_clock = calloc(s->ncpus, sizeof(*s->cpu_clock));
	s->cpu_samples = calloc(s->ncpus, sizeof(*s->cpu_samples));
	s->keys = calloc(MAX_COUNTS, sizeof(*s->keys));
	s->vals = calloc(MAX_COUNTS, sizeof(*s->vals));
	s->kips = calloc(MAX_STACK_DEPTH + 1, sizeof(*s->kips));
	s->uips = calloc(MAX_STACK_DEPTH + 1, sizeof(*s->uips));
	if (!s->links || !s->pefds || !s->cpu_clock || !s->cpu_samples || !s->keys || !s->vals ||
	    !s->kips || !s->uips)
		return -ENOMEM;
	return 0;
}

struct sampler *sampler__new(const struct sampler_opts *opts)
{
	struct sampler *s;
	int err;

	libbpf_set_print(sampler_libbpf_log);
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
	if (opts->kfeat)
		s->kf = *opts->kfeat;
	else
		kfeat__probe(&s->kf);
	err = sampler_load(s, opts);
	if (err) {
		log_error("cannot load the BPF program: %s%s", strerror(-err),
			  err == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)" : "");
		goto fail;
	}
	if (opts->bpf_stats)
		s->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	s->freq = opts->freq;
	err = open_events(s);
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
	for (cpu = 0; cpu < s->ncpus && s->links && s->pefds; cpu++)
		close_cpu(s, cpu);
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	ring_buffer__free(s->rb);
	profile_bpf__destroy(s->skel);
	free(s->links);
	free(s->pefds);
	free(s->cpu_clock);
	free(s->cpu_samples);
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

	s->stopped = true;
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
	/* events BPF sent without a wakeup (batch_events) are not polled for */
	if (err >= 0)
		err = ring_buffer__consume(s->rb);
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

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Deletes each distinct key of @ids[0..@n) from @fd: 32-bit keys (stack ids) unless @wide. */
static void delete_each(int fd, uint64_t *ids, __u32 n, bool wide)
{
	__u32 i, id;

	qsort(ids, n, sizeof(*ids), u64_cmp);
	for (i = 0; i < n; i++) {
		id = ids[i];
		if (!i || ids[i] != ids[i - 1])
			bpf_map_delete_elem(fd, wide ? (void *)&ids[i] : (void *)&id);
	}
}

/*
 * Deletes the stacks the drain's @n rows named from the three maps, each
 * once: a delete each, where clear_*() take a lookup of the next key and a
 * delete.  They still walk what is left after (stacks whose row was lost).
 */
static void delete_named(int kfd, int ufd, int dfd, const struct sample_key *keys, __u32 n)
{
	uint64_t *k = malloc(3 * (size_t)n * sizeof(*k)), *u = k + n, *d = u + n;
	__u32 i, nk = 0, nu = 0, nd = 0;

	if (!k)
		return;
	for (i = 0; i < n; i++) {
		if (keys[i].kstack_id >= 0)
			k[nk++] = keys[i].kstack_id;
		if (keys[i].uhash)
			d[nd++] = keys[i].uhash;
		else if (keys[i].ustack_id >= 0)
			u[nu++] = keys[i].ustack_id;
	}
	delete_each(kfd, k, nk, false);
	delete_each(ufd, u, nu, false);
	delete_each(dfd, d, nd, true);
	free(k);
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
	delete_named(kfd, ufd, dfd, s->keys, n);
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
	if (bpf_map_update_elem(fd, &tgid, &read, BPF_EXIST))
		return -errno;
	/* the CPUs' memos of this tgid say SEEN_CURRENT: let them look again */
	__atomic_fetch_add(&s->skel->bss->seen_gen, 1, __ATOMIC_SEQ_CST);
	return 0;
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
	m->files_max = bpf_map__max_entries(s->skel->maps.unwind_files);
	m->procs_fd = bpf_map__fd(s->skel->maps.unwind_procs);
	m->inodes_fd = s->seed ? bpf_map__fd(s->skel->maps.unwind_inodes) : -1;
	m->gen = &s->skel->bss->unwind_gen;
	m->py_procs_fd = s->python ? bpf_map__fd(s->skel->maps.py_procs) : -1;
}

bool sampler__unwinds(struct sampler *s)
{
	return s->tables;
}

bool sampler__seeds(struct sampler *s)
{
	return s->seed;
}

bool sampler_counter_is_loss(int id)
{
	return id != CNT_SAMPLES && id != CNT_UNWIND_WALKS && id != CNT_UNWIND_ROOT &&
	       id != CNT_UNWIND_FP_END && id != CNT_EXIT_MAPS && id != CNT_START_MAPS &&
	       id != CNT_RESCANS && id != CNT_RESCANS_HELD && id != CNT_PY_EVAL &&
	       id != CNT_PY_FRAMES && id != CNT_UNWIND_CACHE_HITS && id != CNT_SEEDED &&
	       id != CNT_SEED_FORKS && id != CNT_SEED_MAPS;
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
