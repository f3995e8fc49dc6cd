// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * check.c - `ember check`: what this host gives ember.  The kernel and its
 * BTF, each kernel feature ember uses (probed, not guessed), the process's
 * privileges and what each missing one costs, and finally a real load and
 * attach of the sampling program.  Exits 1 only when ember cannot sample.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include "commands.h"
#include "kfeat.h"
#include "log.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static const char usage[] =
"usage: ember check [-v]\n"
"  prints the kernel, the BPF features ember uses and whether this kernel has\n"
"  them, the privileges ember has, and loads the sampling program once.\n"
"  Exits 0 when ember can sample here, 1 when it cannot.\n"
"  -v   show libbpf's messages (-vv: the verifier log)\n";

static const struct {
	int cap;
	const char *name;
	const char *cost;	/* what is lost without it */
} caps[] = {
	{ CAP_BPF, "CAP_BPF", "no BPF program loads (CAP_SYS_ADMIN stands in for it)" },
	{ CAP_PERFMON, "CAP_PERFMON", "no system-wide perf events and no BPF tracing "
	  "(CAP_SYS_ADMIN stands in for it)" },
	{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "/proc/PID/map_files (binaries deleted or in "
	  "other mount namespaces) cannot be opened; before 5.8 also needed to load BPF" },
	{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "other users' /proc/PID/maps and perf maps "
	  "cannot be read: their frames stay module+0xoffset" },
	{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "binaries and debug files not "
	  "readable by ember's user are not symbolized" },
	{ CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", "before 5.11 BPF maps count against "
	  "RLIMIT_MEMLOCK, which cannot be raised" },
	{ CAP_SYSLOG, "CAP_SYSLOG", "/proc/kallsyms hides addresses (kptr_restrict): "
	  "kernel frames are not named" },
};

/* Effective capabilities, as two 32-bit words. */
static int effective_caps(__u32 eff[2])
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	eff[0] = data[0].effective;
	eff[1] = data[1].effective;
	return 0;
}

static void print_sysctl(const char *path, const char *name)
{
	char buf[32] = "?";
	FILE *f = fopen(path, "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			snprintf(buf, sizeof(buf), "?");
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	printf("sysctl %-32s %s\n", name, buf);
}

static void print_privileges(void)
{
	__u32 eff[2] = {};
	unsigned int i;
	bool has;

	if (effective_caps(eff)) {
		printf("privilege capabilities unknown: capget: %s\n", strerror(errno));
		return;
	}
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		has = eff[caps[i].cap / 32] & (1u << (caps[i].cap % 32));
		printf("privilege %-28s %-3s%s%s\n", caps[i].name, has ? "yes" : "no",
		       has ? "" : "  without it: ", has ? "" : caps[i].cost);
	}
	print_sysctl("/proc/sys/kernel/perf_event_paranoid", "kernel.perf_event_paranoid");
	print_sysctl("/proc/sys/kernel/unprivileged_bpf_disabled",
		     "kernel.unprivileged_bpf_disabled");
	print_sysctl("/proc/sys/kernel/kptr_restrict", "kernel.kptr_restrict");
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "verbose", no_argument, NULL, 'v' },
		{},
	};
	int c, verbose = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hv", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			return usage_error("check", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("check", "unexpected argument '%s'", argv[optind]);
	log_set_level(verbose > 1 ? LOG_DEBUG : verbose ? LOG_INFO : LOG_ERROR);
	return 0;
}

int cmd_check(int argc, char **argv, volatile sig_atomic_t *exiting)
{
	struct sampler_opts opts = {
		.freq = 99, .kernel_stacks = true, .user_stacks = true,
		.unwind = UNWIND_MODE_AUTO, .unwind_rows = DEFAULT_UNWIND_ROWS,
	};
	struct sampler *s;
	struct kfeat kf;
	struct utsname u;
	int err;

	(void)exiting;
	err = parse_args(argc, argv);
	if (err)
		return err == 1 ? 0 : err;
	if (uname(&u) == 0)
		printf("kernel %s %s (%s)\n", u.release, u.machine, u.version);
	printf("btf /sys/kernel/btf/vmlinux: %s\n",
	       access("/sys/kernel/btf/vmlinux", R_OK) ? "missing" : "present");
	kfeat__probe(&kf);
	opts.kfeat = &kf;
	kfeat__print(&kf, stdout);
	print_privileges();
	fflush(stdout);

	s = sampler__new(&opts);
	if (!s) {
		printf("sampling: no: the program did not load or attach: %s\n", strerror(errno));
		return 1;
	}
	printf("sampling: yes; user stacks: %s; mappings of short-lived processes: %s\n",
	       sampler__unwinds(s) ? ".eh_frame tables, frame pointers where none" :
	       "frame pointers only",
	       sampler__maps_hook(s) ? sampler__maps_hook(s) : "not sent (read from /proc only)");
	sampler__free(s);
	return 0;
}
