/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/* profile.h - the ABI shared by profile.bpf.c and the collector. */
#ifndef EMBER_PROFILE_H
#define EMBER_PROFILE_H

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif
#ifndef MAX_STACK_DEPTH
#define MAX_STACK_DEPTH 127
#endif
#ifndef MAX_STACKS
#define MAX_STACKS 16384
#endif
#ifndef MAX_COUNTS
#define MAX_COUNTS 32768
#endif
#ifndef MAX_TARGET_PIDS
#define MAX_TARGET_PIDS 1024
#endif

#ifndef MAX_PROC_MAPS
#define MAX_PROC_MAPS 512	/* executable mappings with tables per process */
#endif
#ifndef MAX_UNWIND_FILES
#define MAX_UNWIND_FILES 4096	/* ELF files with tables loaded at once */
#endif
#ifndef MAX_UNWIND_PROCS
#define MAX_UNWIND_PROCS 8192
#endif

/* Aggregation key: one row per (thread, kernel stack, user stack). */
struct sample_key {
	__u32 tgid;
	__u32 pid;
	__s32 kstack_id;	/* < 0: none (user-mode sample, or walk failed) */
	__s32 ustack_id;	/* frame-pointer stack; < 0: none */
	__u64 uhash;		/* table-unwound stack in ustacks_dw*; 0: none */
	char comm[TASK_COMM_LEN];
};

enum unwind_mode {
	UNWIND_MODE_FP = 0,	/* the kernel's frame-pointer walk only */
	UNWIND_MODE_AUTO = 1,	/* .eh_frame tables where loaded, frame pointers elsewhere */
};

/* A user stack unwound with tables: len frames, leaf first. */
struct dw_stack {
	__u64 len;
	__u64 ips[MAX_STACK_DEPTH];
};

/* One executable mapping of a process: pc - bias is the table's pc_off. */
struct unwind_map {
	__u64 start;
	__u64 end;
	__u64 bias;
	__u32 file;		/* slot in unwind_files */
	__u32 gen;		/* the file's unwind_file.gen: a slot given to another file differs */
};

/* A process's executable mappings that have tables, sorted by start. */
#define UNWIND_PROC_SEEDED 1	/* made in BPF, before user space read the process */
#define SEED_MAX_MAPS 32	/* mappings a seeded entry grows to */
struct unwind_proc {
	__u32 n;
	__u32 flags;		/* UNWIND_PROC_*; 0 from user space */
	struct unwind_map maps[MAX_PROC_MAPS];
};

/* Where a file's rows sit in the unwind_rows pool; n == 0: not loaded. */
struct unwind_file {
	__u32 first;
	__u32 n;
	__u32 gen;		/* new at every load (never 0) */
};

/*
 * A file with a table, by the inode it is mapped from, so BPF can seed a
 * new process's entry before user space has read its maps.  ph[]: the
 * file's PT_LOAD segments; a VMA at file offset pgoff inside [lo, hi) has
 * bias vm_start - pgoff + delta.
 */
#define UNWIND_INODE_PHDRS 4
struct unwind_inode_key {
	__u64 ino;
	__u32 dev;		/* the kernel's s_dev: major << 20 | minor */
	__u32 pad;
};
struct unwind_inode {
	__s64 ctime_sec;	/* the inode's change time: a file rewritten in place differs */
	__u32 ctime_nsec;
	__u32 slot;		/* in unwind_files */
	__u32 nph;
	__u32 gen;		/* unwind_file.gen of the load */
	/*
	 * As an executable: mm->start_code - text_start + text_delta is the
	 * bias of its text; text_end <= text_start: unknown.
	 */
	__u64 text_start, text_end;
	__u64 text_delta;
	struct {
		__u64 lo, hi;
		__u64 delta;
	} ph[UNWIND_INODE_PHDRS];
};
/* Events sent to user space through the ring buffer. */
enum ember_event_type {
	EVENT_NEW_PROCESS = 1,	/* struct ember_proc_event: first sample of a tgid (or first since exec) */
	EVENT_EXIT = 2,		/* a sampled tgid exited */
	EVENT_RESCAN = 3,	/* a pc outside every known mapping (dlopen): re-read maps */
	EVENT_MAPS = 4,		/* struct ember_maps_event: an announced tgid's mappings at exit */
	EVENT_EXEC = 5,		/* struct ember_exec_event: a tgid exec'd this file */
	EVENT_PY_STACK = 6,	/* struct ember_py_stack_event: a CPython stack new in a half */
};

struct ember_event {
	__u32 type;
	__u32 tgid;
};

/*
 * A new process, with what identifies it even when it is gone by the time
 * user space reads the event: its start (what /proc/PID/stat's field 22
 * counts in clock ticks), its cgroup v2 id, and its executable's file
 * (a child forked without exec names the same file as its parent).
 */
struct ember_proc_event {
	__u32 type;
	__u32 tgid;
	__u64 start_boottime_ns;	/* the group leader's, CLOCK_BOOTTIME */
	__u64 cgroup_id;		/* 0: none */
	__u32 flags;			/* PROC_EXITING, PROC_NO_TABLE */
	__u32 exe_dev;			/* mm->exe_file's s_dev, as in struct ember_exec_event */
	__u64 exe_ino;			/* 0: none (a kernel thread) */
};

/*
 * Sampled while exiting, not announced since its last exec: sent for its
 * labels only, with every such sample (it is not marked seen, so no exit
 * event may follow).
 */
#define PROC_EXITING 1
/* BPF has no table for its executable: read it now, not once settled. */
#define PROC_NO_TABLE 2

#define EXEC_PATH_LEN 256

/*
 * Sent at every exec: the executable's identity and the path it was run
 * by, so the file of a process gone before its maps were read can still
 * be opened (and checked against dev/ino) to name its frames.
 */
struct ember_exec_event {
	__u32 type;		/* EVENT_EXEC */
	__u32 tgid;
	__u64 ino;
	__u32 dev;		/* the kernel's s_dev: major << 20 | minor */
	__u32 pad;
	__u64 start_boottime_ns;	/* as in struct ember_proc_event: which process exec'd */
	char path[EXEC_PATH_LEN];	/* bprm->interp: untrusted, maybe relative or cut */
};

/*
 * A sample key new in its half whose table-unwound stack holds CPython
 * frames: user space reads their code objects while the process lives.
 */
struct ember_py_stack_event {
	__u32 type;		/* EVENT_PY_STACK */
	__u32 tgid;
	__u64 uhash;		/* the stack, in ustacks_dw<half> */
	__u32 half;
	__u32 pad;
};

/* Values of the `seen` map (tgid -> __u8). */
enum seen_state {
	SEEN_CURRENT = 1,	/* announced; its maps may not have been read */
	SEEN_STALE = 2,		/* exec'd since it was announced */
	SEEN_READ = 3,		/* user space has its maps (written by user space) */
	SEEN_DUMPED = 4,	/* its maps were sent at exit (EVENT_MAPS) */
	SEEN_EARLY = 5,		/* announced young: maps sent, and again (up to 3 times) */
	SEEN_EARLY_LAST = 7,	/* ... as it gets older: 5, 6, 7, then SEEN_CURRENT */
};

#ifndef MAX_EXIT_VMAS
#define MAX_EXIT_VMAS 32	/* executable file mappings sent at exit */
#endif
#define EXIT_VMA_NAME_LEN 48

/* One executable file mapping, as /proc/PID/maps would show it. */
struct ember_vma {
	__u64 start;
	__u64 end;
	__u64 pgoff;		/* file offset in bytes */
	__u64 ino;
	__u32 dev;		/* the kernel's s_dev: major << 20 | minor */
	__u32 pad;
	char name[EXIT_VMA_NAME_LEN];	/* dentry basename; untrusted, maybe cut short */
};

enum maps_flags {
	MAPS_TRUNCATED = 1,	/* more executable file mappings than MAX_EXIT_VMAS */
	MAPS_AT_START = 2,	/* sent with the first sample, not at exit */
};

/* How mappings are sent with a process's first sample (rodata start_maps). */
enum start_maps_mode {
	START_MAPS_NONE = 0,	/* not sent: an exit hook sends them, or nothing can */
	START_MAPS_LIST = 1,	/* walk mm->mmap (kernels before 6.1) */
	START_MAPS_FIND_VMA = 2, /* bpf_find_vma() of the exe text and the sampled pcs */
};

/*
 * Sent at exit for a process announced but whose maps user space has not
 * read: short-lived processes are gone before /proc/PID/maps can be read.
 * Where no exit hook can see the mm (before 6.7, or 6.7-6.15 without
 * fentry), sent with the first sample instead (MAPS_AT_START).
 * The first n entries are valid; a first member equal to ember_event's
 * keeps type/tgid where every event has them.
 */
struct ember_maps_event {
	__u32 type;		/* EVENT_MAPS */
	__u32 tgid;
	__u32 n;
	__u32 flags;		/* MAPS_* */
	struct ember_vma vmas[MAX_EXIT_VMAS];
};

#ifndef MAX_PY_PROCS
#define MAX_PY_PROCS 4096	/* CPython processes unwound at once */
#endif

/*
 * CPython frames inside a table-unwound stack (struct dw_stack): the
 * native pc of the eval loop that ran them, then two words per Python
 * frame, innermost first.  Word 0 is PY_FRAME_MARK | the code object's
 * address (user addresses fit in 47 bits); word 1 is the checksum of the
 * code object << 32 | the index of its last instruction (code units, s32).
 */
#define PY_FRAME_MARK 0xfe7a000000000000ULL
#define PY_FRAME_MASK 0xffff000000000000ULL
#define PY_SUM_WORDS 11		/* code object words hashed, from code_sum on */
#define PY_FRAME_BYTES 128	/* largest _PyInterpreterFrame prefix read */

/*
 * What BPF needs to walk one CPython process's frames (collector/python.c
 * fills it).  Addresses are the process's; offsets are in bytes.
 */
struct py_proc {
	__u64 eval_start[2];	/* _PyEval_EvalFrameDefault and its .cold part */
	__u64 eval_end[2];	/* [start, end); an empty range is unused */
	__s32 tss_key;		/* pthread key of the thread state; < 0: not known yet */
	__u32 tls_specific;	/* glibc: offset of specific_1stblock in struct pthread */
	__u16 tstate_cframe;	/* PyThreadState.cframe; 0: none (3.13+), the frame is in tstate */
	__u16 cframe_frame;	/* _PyCFrame.current_frame (or PyThreadState.current_frame) */
	__u16 frame_code;	/* _PyInterpreterFrame.f_code */
	__u16 frame_previous;
	__u16 frame_prev_instr;
	__u16 frame_stop;	/* byte telling the last frame of an eval loop (see stop_skip) */
	__u16 frame_read;	/* bytes read per frame (<= PY_FRAME_BYTES) */
	__u16 code_sum;		/* PyCodeObject: first byte hashed (PY_SUM_WORDS words) */
	__u16 code_qualname;	/* co_qualname, inside the hashed words */
	__u16 code_adaptive;	/* first instruction (tp_basicsize) */
	__u16 str_hash;		/* PyASCIIObject.hash */
	__u8 stop_value;	/* frame_stop's value there */
	/*
	 * 0 (3.11, is_entry): that frame is the eval loop's first, emitted;
	 * 1 (3.12+, owner == FRAME_OWNED_BY_CSTACK): a shim, not emitted.
	 */
	__u8 stop_skip;
};

/*
 * The code object checksum BPF emits and user space checks; never 0, so
 * no stack word is 0 (user space reads stacks up to a 0).
 */
static inline __u32 py_code_sum(const __u64 *words, __u64 qualname_hash)
{
	__u64 h = qualname_hash;
	__u32 s;
	int i;

	for (i = 0; i < PY_SUM_WORDS; i++)
		h = (h ^ words[i]) * 0x9e3779b97f4a7c15ULL;
	s = (__u32)(h >> 32) ^ (__u32)h;
	return s ? s : 1;
}

/*
 * Per-CPU counters of everything the BPF side does and loses.  The order is
 * ABI: the collector sums each slot over all CPUs.
 */
#define EMBER_BPF_COUNTERS(X)						\
	X(SAMPLES, "samples")						\
	X(KSTACK_FAULT, "kernel_walk_failed")				\
	X(KSTACK_COLLISION, "kernel_stack_collision")			\
	X(KSTACK_FULL, "kernel_stack_map_full")				\
	X(USTACK_FAULT, "user_walk_failed")				\
	X(USTACK_COLLISION, "user_stack_collision")			\
	X(USTACK_FULL, "user_stack_map_full")				\
	X(COUNTS_FULL, "counts_map_full")				\
	X(EVENTS_LOST, "process_events_lost")				\
	X(UNWIND_WALKS, "unwind_walks")					\
	X(UNWIND_ROOT, "unwind_reached_root")				\
	X(UNWIND_FP_END, "unwind_ended_in_fp_chain")			\
	X(UNWIND_NO_TABLE, "unwind_failed_no_table")			\
	X(UNWIND_BAD_CFA, "unwind_failed_bad_cfa")			\
	X(UNWIND_READ_FAULT, "unwind_failed_read_fault")		\
	X(UNWIND_DEPTH, "unwind_failed_depth_limit")			\
	X(UNWIND_STACKS_FULL, "unwind_stack_map_full")			\
	X(UNWIND_COLLISION, "unwind_stack_collision")			\
	X(EXIT_MAPS, "exit_maps_sent")					\
	X(EXIT_MAPS_LOST, "exit_maps_lost")				\
	X(START_MAPS, "start_maps_sent")				\
	X(START_MAPS_LOST, "start_maps_lost")				\
	X(RESCANS, "rescans_requested")					\
	X(RESCANS_HELD, "rescans_held_back")					\
	X(PY_EVAL, "python_eval_frames")				\
	X(PY_FRAMES, "python_frames")					\
	X(PY_NO_TSS, "python_failed_no_tss_key")			\
	X(PY_NO_TSTATE, "python_failed_no_thread_state")		\
	X(PY_READ_FAULT, "python_failed_read_fault")			\
	X(PY_DEPTH, "python_failed_depth_limit")			\
	X(PY_NO_FRAME, "python_failed_no_frame_left")			\
	X(UNWIND_CACHE_HITS, "unwind_row_cache_hits")			\
	X(SEEDED, "unwind_procs_seeded")				\
	X(SEED_FORKS, "unwind_procs_seeded_from_parent")		\
	X(SEED_MAPS, "unwind_seed_maps_added")				\
	X(SEED_BUSY, "unwind_seed_find_vma_busy")			\
	X(SEED_NO_TABLE, "unwind_seed_pcs_without_table")

#define X(id, name) CNT_##id,
enum ember_counter { EMBER_BPF_COUNTERS(X) CNT_MAX };
#undef X

#endif /* EMBER_PROFILE_H */
