// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * kfeat.c - probes the running kernel for each BPF feature ember uses.
 * Helpers and map types are asked of the verifier (libbpf's probes), kfuncs
 * of the kernel's BTF, and what the exit hooks see of a forked child that
 * exits at once (probe.bpf.c), because distribution kernels backport and
 * configure features independently of their version.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "kfeat.h"
#include "log.h"
#include "probe.skel.h"

static const struct {
	const char *name;
	const char *since;	/* upstream version that added it */
	const char *use;	/* what ember uses it for */
	const char *instead;	/* what ember does without it */
} features[KFEAT_MAX] = {
	[KFEAT_BTF] = { "btf", "5.4, CONFIG_DEBUG_INFO_BTF",
		"CO-RE relocations and BTF tracepoints",
		"nothing: ember cannot load without kernel BTF" },
	[KFEAT_PERF_EVENT] = { "perf_event_program", "4.9",
		"sampling on cpu-clock events", "nothing: ember cannot sample" },
	[KFEAT_RINGBUF] = { "ringbuf", "5.8", "process start/exit events",
		"nothing: ember cannot load" },
	[KFEAT_BPF_LOOP] = { "bpf_loop", "5.17", "user stacks unwound with .eh_frame tables",
		"frame-pointer walks only: code built without frame pointers loses callers" },
	[KFEAT_TASK_PT_REGS] = { "bpf_task_pt_regs", "5.15",
		"table unwinding of samples taken in kernel mode",
		"frame-pointer walks only" },
	[KFEAT_NO_PREALLOC] = { "no_prealloc_hash_in_perf_event", "6.1",
		"unwind maps allocated on use",
		"preallocated unwind maps, with 1024 processes and 4096 stacks per half" },
	[KFEAT_VMA_ITER] = { "vma_iterator_kfuncs", "6.7",
		"mappings of short-lived processes sent at exit",
		"processes are named only if they live until user space reads their maps" },
	[KFEAT_EXIT_TP_MM] = { "sched_process_exit_sees_mm", "6.16",
		"the exit-time mapping dump on the sched_process_exit tracepoint",
		"the dump runs on fentry/do_exit where that attaches" },
	[KFEAT_FENTRY] = { "fentry_do_exit", "5.5, with ftrace",
		"the exit-time mapping dump before 6.16",
		"no exit-time dump where sched_process_exit has no mm" },
	[KFEAT_VMA_LIST] = { "vma_list", "before 6.1",
		"mappings sent with a process's first sample where no exit hook sees them",
		"bpf_find_vma of the first sample's pcs, where tables are used" },
	[KFEAT_FIND_VMA] = { "bpf_find_vma", "5.17",
		"new processes unwound with tables from their first sample; mappings of a first "
		"sample's pcs where VMAs cannot be walked",
		"new processes use frame pointers until their maps are read; short-lived ones are "
		"named only if user space reads their maps in time" },
	[KFEAT_BATCH_OPS] = { "map_batch_ops", "5.6", "draining counts in one call per batch",
		"maps drained key by key" },
	[KFEAT_BPF_STATS] = { "bpf_stats", "5.8", "the BPF time per sample (with --bpf-stats)",
		"the BPF time per sample reads 0" },
};

const char *kfeat_name(enum kfeat_id id)
{
	return id < KFEAT_MAX ? features[id].name : "?";
}

/* A libbpf probe: 1 yes, 0 no, <0 could not tell. */
static void set_probe(struct kfeat *kf, enum kfeat_id id, int ret)
{
	kf->has[id] = ret == 1;
	kf->err[id] = ret < 0 ? ret : 0;
}

/*
 * Before 6.1 the verifier refuses BPF_F_NO_PREALLOC hash maps in perf_event
 * programs, even in dead code: load one that only references such a map.
 */
static int probe_no_prealloc(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_NO_PREALLOC);
	int map_fd, prog_fd;

	map_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ember_probe", 4, 4, 1, &mopts);
	if (map_fd < 0)
		return -errno;
	struct bpf_insn insns[] = {
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1,
		  .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_PERF_EVENT, NULL, "GPL", insns,
				sizeof(insns) / sizeof(insns[0]), NULL);
	close(map_fd);
	if (prog_fd < 0)
		return errno == EINVAL ? 0 : -errno;
	close(prog_fd);
	return 1;
}

static int probe_batch_ops(void)
{
	__u32 key, val, count = 1, out;
	int fd, err;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ember_probe", 4, 4, 1, NULL);
	if (fd < 0)
		return -errno;
	/* an empty map answers ENOENT where batches exist */
	err = bpf_map_lookup_and_delete_batch(fd, NULL, &out, &key, &val, &count, NULL);
	err = err && errno != ENOENT ? -errno : 0;
	close(fd);
	if (err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP)
		return 0;
	return err ? err : 1;
}

static int probe_kfunc(const struct btf *btf, const char *name)
{
	return btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) > 0;
}

/* Whether BTF type @id has a member @member, looking into anonymous members. */
static bool has_member(const struct btf *btf, int id, const char *member, int depth)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_member *m;
	const char *name;
	int i;

	if (!t || !btf_is_composite(t) || depth > 4)
		return false;
	for (i = 0, m = btf_members(t); i < btf_vlen(t); i++, m++) {
		name = btf__name_by_offset(btf, m->name_off);
		if (name && !strcmp(name, member))
			return true;
		if ((!name || !*name) && has_member(btf, m->type, member, depth + 1))
			return true;
	}
	return false;
}

/* Whether the kernel's struct @type has a member @member. */
static int probe_member(const struct btf *btf, const char *type, const char *member)
{
	int id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);

	return id > 0 && has_member(btf, id, member, 0);
}

/*
 * EMBER_DISABLE_FEATURES=name,name... makes ember act as if the kernel
 * lacked them, so the fallbacks can be tested on any kernel.
 */
static void apply_disabled(struct kfeat *kf)
{
	const char *list = getenv("EMBER_DISABLE_FEATURES"), *p;
	size_t len;
	int i;

	for (p = list; p && *p; p += len + (p[len] == ',')) {
		len = strcspn(p, ",");
		for (i = 0; i < KFEAT_MAX; i++)
			if (strlen(features[i].name) == len && !strncmp(p, features[i].name, len)) {
				kf->has[i] = false;
				kf->disabled[i] = true;
			}
	}
}

/* Loads probe.bpf.c, with its fentry program when @fentry. */
static struct probe_bpf *probe_open(bool fentry, int *err)
{
	struct probe_bpf *skel = probe_bpf__open();

	if (!skel) {
		*err = -errno;
		return NULL;
	}
	bpf_program__set_autoload(skel->progs.probe_exit_fentry, fentry);
	*err = probe_bpf__load(skel);
	if (*err) {
		probe_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

/* Forks a child that exits once it is the probes' target, and reaps it. */
static int exit_child(struct probe_bpf *skel)
{
	pid_t child;
	int p[2];
	char c;

	if (pipe(p))
		return -errno;
	child = fork();
	if (child == 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) < 0);
	}
	close(p[0]);
	if (child > 0)
		skel->bss->target_tgid = child;
	close(p[1]);
	if (child < 0)
		return -errno;
	return waitpid(child, NULL, 0) < 0 ? -errno : 0;
}

/* What the exit hooks see of a child that exits at once. */
static void probe_exit_hooks(struct kfeat *kf)
{
	struct probe_bpf *skel;
	libbpf_print_fn_t old;
	bool fentry = true;
	int err;

	/* a refused fentry is an answer here, not an error to print */
	old = libbpf_set_print(NULL);
	skel = probe_open(true, &err);
	libbpf_set_print(old);
	if (!skel) {
		kf->err[KFEAT_FENTRY] = err;
		fentry = false;
		skel = probe_open(false, &err);
	}
	if (!skel) {
		kf->err[KFEAT_EXIT_TP_MM] = err;
		return;
	}
	/* links kept in the skeleton, so destroying it detaches them */
	skel->links.probe_exit_tp = bpf_program__attach(skel->progs.probe_exit_tp);
	if (!skel->links.probe_exit_tp) {
		kf->err[KFEAT_EXIT_TP_MM] = -errno;
		goto out;
	}
	if (fentry && !(skel->links.probe_exit_fentry =
			bpf_program__attach(skel->progs.probe_exit_fentry))) {
		kf->err[KFEAT_FENTRY] = -errno;
		fentry = false;
	}
	err = exit_child(skel);
	if (err) {
		kf->err[KFEAT_EXIT_TP_MM] = err;
		goto out;
	}
	kf->has[KFEAT_EXIT_TP_MM] = skel->bss->tp_hits && skel->bss->tp_saw_mm;
	kf->has[KFEAT_FENTRY] = fentry && skel->bss->fentry_hits;
out:
	probe_bpf__destroy(skel);
}

void kfeat__probe(struct kfeat *kf)
{
	struct btf *btf = NULL;
	struct utsname u;

	memset(kf, 0, sizeof(*kf));
	if (uname(&u) == 0)
		snprintf(kf->release, sizeof(kf->release), "%s", u.release);
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		kf->err[KFEAT_BTF] = -errno;
	else if (!(btf = btf__load_vmlinux_btf()))
		kf->err[KFEAT_BTF] = -errno;
	else
		kf->has[KFEAT_BTF] = true;
	set_probe(kf, KFEAT_PERF_EVENT, libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_PERF_EVENT, NULL));
	set_probe(kf, KFEAT_RINGBUF, libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL));
	set_probe(kf, KFEAT_BPF_LOOP,
		  libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, NULL));
	set_probe(kf, KFEAT_TASK_PT_REGS,
		  libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_task_pt_regs, NULL));
	set_probe(kf, KFEAT_NO_PREALLOC, probe_no_prealloc());
	set_probe(kf, KFEAT_FIND_VMA,
		  libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_find_vma, NULL));
	set_probe(kf, KFEAT_BATCH_OPS, probe_batch_ops());
	if (btf) {
		set_probe(kf, KFEAT_VMA_ITER, probe_kfunc(btf, "bpf_iter_task_vma_new"));
		set_probe(kf, KFEAT_VMA_LIST, probe_member(btf, "mm_struct", "mmap"));
		/* BPF_ENABLE_STATS came with this enum (5.8); enabling it to see
		 * would turn on accounting for every program on the host */
		set_probe(kf, KFEAT_BPF_STATS,
			  btf__find_by_name_kind(btf, "bpf_stats_type", BTF_KIND_ENUM) > 0);
		probe_exit_hooks(kf);
	}
	btf__free(btf);
	apply_disabled(kf);
}

void kfeat__print(const struct kfeat *kf, FILE *out)
{
	int i;

	for (i = 0; i < KFEAT_MAX; i++) {
		fprintf(out, "feature %-32s %-3s  (Linux %s) ", features[i].name,
			kf->has[i] ? "yes" : "no", features[i].since);
		if (kf->has[i])
			fprintf(out, "used for: %s\n", features[i].use);
		else
			fprintf(out, "without it: %s%s%s%s%s\n", features[i].instead,
				kf->err[i] ? " [probe failed: " : "",
				kf->err[i] ? strerror(-kf->err[i]) : "", kf->err[i] ? "]" : "",
				kf->disabled[i] ? " [disabled by EMBER_DISABLE_FEATURES]" : "");
	}
}

void kfeat__log(const struct kfeat *kf)
{
	char line[512];
	int i, n;

	n = snprintf(line, sizeof(line), "kernel %s:", kf->release);
	for (i = 0; i < KFEAT_MAX && n < (int)sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - n, " %s=%d", features[i].name, kf->has[i]);
	log_info("%s", line);
}
