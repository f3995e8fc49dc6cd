// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * check.c - `ember check`: what this host gives ember.  The kernel and its
 * BTF, each kernel feature ember uses (probed, not guessed), the process's
 * privileges and what each missing one costs, and finally a real load and
 * attach of the sampling program.  Exits 1 only when ember cannot sample.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
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
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
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
	{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "other users' /proc/PID/maps and roots "
	  "cannot be read: their frames stay module+0xoffset" },
	{ CAP_CHECKPOINT_RESTORE, "CAP_CHECKPOINT_RESTORE", "/proc/PID/map_files cannot be "
	  "opened: deleted binaries are not named (CAP_SYS_ADMIN stands in for it)" },
	{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "binaries and debug files not "
	  "readable by ember's user are not symbolized" },
	{ CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", "before 5.11 BPF maps count against "
	  "RLIMIT_MEMLOCK, which cannot be raised (or set LimitMEMLOCK=infinity)" },
	{ CAP_SYSLOG, "CAP_SYSLOG", "/proc/kallsyms hides addresses (kptr_restrict): "
	  "kernel frames are not named" },
	{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "nothing with the ones above; before 5.8 "
	  "needed to load BPF" },
};

/* Whether /proc/kallsyms shows this process any non-zero address. */
static bool kallsyms_visible(void)
{
	unsigned long long addr = 0;
	char line[256];
	FILE *f = fopen("/proc/kallsyms", "re");
	int n = 0;

	while (f && !addr && n++ < 1000 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx", &addr) != 1)
			addr = 0;
	if (f)
		fclose(f);
	return addr;
}

/* Opens this process's first /proc/self/map_files entry: 0 or -errno. */
static int map_files_open(void)
{
	DIR *d = opendir("/proc/self/map_files");
	struct dirent *de;
	char path[320];
	int fd = -ENOENT;

	while (d && (de = readdir(d)) && fd == -ENOENT) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/map_files/%s", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		fd = fd < 0 ? -errno : (close(fd), 0);
	}
	if (d)
		closedir(d);
	return fd;
}

/*
 * Whether another user's process refuses its root, /proc/PID/root, where
 * its files are opened (false: none to try).  Kernel threads (no command line) have no maps to refuse, and init
 * may hold capabilities its children lack, which refuses even root.
 */
static bool other_root_refused(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char path[300];
	struct stat st;
	bool refused = false, tried = false;
	FILE *f;

	while (d && !tried && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%s", de->d_name);
		if (!strspn(de->d_name, "0123456789") || !strcmp(de->d_name, "1") ||
		    stat(path, &st) || st.st_uid == geteuid())
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		f = fopen(path, "re");
		tried = f && fgetc(f) != EOF;
		if (f)
			fclose(f);
		if (!tried)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/root/", de->d_name);
		refused = stat(path, &st) && errno == EACCES;
	}
	if (d)
		closedir(d);
	return tried && refused;
}

/*
 * What ember's privileges hide here, tried rather than guessed (the agent
 * counts the same as ember_permission_denied_total{what=...}).
 */
static void print_denied(void)
{
	int err = map_files_open();
	bool maps = !other_root_refused();

	printf("denied kallsyms  %s\n", kallsyms_visible() ? "no" :
	       "yes: kernel addresses are hidden (needs CAP_SYSLOG): kernel frames are not named");
	printf("denied maps      %s\n", maps ? "no" : "yes: another user's /proc/PID/root is refused (needs "
	       "CAP_SYS_PTRACE): other users' processes keep module+0xOFFSET frames");
	printf("denied map_files %s\n", err != -EPERM ? "no" : "yes: /proc/PID/map_files is "
	       "refused (needs CAP_CHECKPOINT_RESTORE): deleted binaries are not named");
}

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
	print_denied();
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
		default:
			return flag_other("check", c, argv, usage);
		}
	}
	if (flags_end("check", argc, argv))
		return 2;
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
	       sampler__seeds(s) ? ".eh_frame tables (new processes seeded in BPF), frame "
	       "pointers where none" : sampler__unwinds(s) ?
	       ".eh_frame tables, frame pointers where none" : "frame pointers only",
	       sampler__maps_hook(s) ? sampler__maps_hook(s) : "not sent (read from /proc only)");
	sampler__free(s);
	return 0;
}
