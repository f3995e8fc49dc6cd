// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * python.c - CPython support on the collector side.  For each sampled
 * process mapping a python executable or libpython, reads from the ELF
 * file where _PyRuntime and the eval loop (_PyEval_EvalFrameDefault and
 * any .cold part) are, from the live interpreter its version (Py_Version),
 * the code object layout (PyCode_Type's tp_basicsize and tp_members) and
 * the thread-state TSS key (retried while the interpreter starts), and
 * puts it all in BPF's py_procs map.  What cannot be read from the
 * interpreter comes from a per-version table: supporting another version
 * is an entry there.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "file.h"
#include "log.h"
#include "profile.h"
#include "python.h"
#include "internal.h"
#include "mono.h"

#define TSS_RETRY_MS 20		/* first wait for a key not set yet, doubled per try */
#define TSS_RETRY_MAX_MS 1000	/* the longest wait between two tries */
#define TSS_RETRY_FOR_MS 30000	/* then the process stays unwalked (BPF counts its misses) */
#define MEMBERS_MAX 64		/* tp_members entries looked at */

/*
 * What the interpreter does not describe about itself, per minor version.
 * A version is an entry: the TSS key's place in _PyRuntime, the thread
 * state and frame layout (3.12 stops at a frame owned by the C stack,
 * frame_stop = owner, stop_value = 3, stop_skip = 1; 3.13 keeps the
 * current frame in the thread state, tstate_cframe = 0), and the str and
 * bytes layouts.  Code object offsets come from PyCode_Type itself.
 */
struct py_version {
	unsigned int minor;
	uint16_t runtime_tss;		/* _PyRuntime: Py_tss_t {int initialized; int key} */
	uint16_t tstate_cframe, cframe_frame;
	uint16_t frame_code, frame_previous, frame_prev_instr, frame_read;
	uint16_t frame_stop;			/* see struct py_proc */
	uint8_t stop_value, stop_skip;
	uint16_t type_basicsize, type_members;	/* PyTypeObject */
	uint16_t member_size, member_offset;	/* PyMemberDef */
	uint16_t str_length, str_hash, str_state, str_ascii_data;
	uint16_t str_utf8_length, str_utf8, str_compact_data;
	uint16_t bytes_size, bytes_data;
};

static const struct py_version versions[] = {
	/* 3.11: gilstate.autoTSSkey at 568 + 24; _PyInterpreterFrame up to is_entry/owner */
	{ .minor = 11, .runtime_tss = 592, .tstate_cframe = 56, .cframe_frame = 8,
	  .frame_code = 32, .frame_previous = 48, .frame_prev_instr = 56,
	  .frame_stop = 68, .stop_value = 1, .stop_skip = 0,
	  .frame_read = 72, .type_basicsize = 32, .type_members = 240, .member_size = 40,
	  .member_offset = 16, .str_length = 16, .str_hash = 24, .str_state = 32,
	  .str_ascii_data = 48, .str_utf8_length = 48, .str_utf8 = 56, .str_compact_data = 72,
	  .bytes_size = 16, .bytes_data = 32 },
};

struct py_pid {
	int pid;
	bool walked;			/* in the BPF map */
	uint64_t first_ms;		/* first TSS key read */
	uint64_t wait_ms;		/* before the next one */
	uint64_t next_ms;		/* next TSS key read */
	uint64_t tss;			/* address of the Py_tss_t */
	struct py_proc cfg;
	struct sym_py_layout layout;
};

/*
 * A code object layout read from a CPython file's PyCode_Type (some twenty
 * reads of the process's memory): the same for every process of that file
 * and version, so read once.
 */
#define LAYOUT_CACHE 4

struct code_layout {
	uint64_t dev, ino, code_type, version;	/* the key; ino 0: unused */
	uint64_t code_sum, code_qualname, code_adaptive;
	struct sym_py_layout layout;
};

struct python {
	int fd;
	struct code_layout layouts[LAYOUT_CACHE];
	unsigned int next_layout;	/* the slot the next new layout takes */
	uint32_t tls_specific;		/* 0: glibc's layout unknown */
	void *pids;			/* tree of struct py_pid */
	int *pending;			/* pids whose TSS key is not set yet */
	int npending, pending_cap;
	uint64_t next_tick_ms;		/* the earliest of their next reads; 0: none */
	struct py_elf_cache elfs;	/* symbols of the CPython files seen */
	struct python_stats st;
};

static int pid_cmp(const void *a, const void *b)
{
	return ((const struct py_pid *)a)->pid - ((const struct py_pid *)b)->pid;
}

/*
 * Where glibc keeps thread-specific values of keys below 32 in struct
 * pthread (its specific_1stblock; the TLS base points at struct pthread
 * on x86-64): found by setting a key in this thread and looking for its
 * value, so it follows the glibc installed.  0 when not found.
 */
static uint32_t find_tls_specific(void)
{
	uint64_t block[512], mark = 0x6d65626572707973ULL;	/* "syprebme" */
	pthread_key_t key;
	uint32_t off = 0;
	size_t i;

	if (pthread_key_create(&key, NULL))
		return 0;
	if (key < 32 && !pthread_setspecific(key, (void *)(uintptr_t)mark) &&
	    !process__read_mem(getpid(), (uintptr_t)pthread_self(), block, sizeof(block))) {
		for (i = 1; i < 512; i++) {
			/* struct pthread_key_data {uintptr_t seq; void *data;} */
			if (block[i] == mark && i * 8 >= 8 + key * 16u) {
				off = i * 8 - 8 - key * 16;
				break;
			}
		}
	}
	pthread_key_delete(key);
	return off;
}

struct python *python__new(int py_procs_fd)
{
	struct python *py = calloc(1, sizeof(*py));

	if (!py)
		return NULL;
	py->fd = py_procs_fd;
	py->tls_specific = find_tls_specific();
	if (!py->tls_specific && py_procs_fd >= 0)
		log_warn("python: glibc's thread-specific data not found; Python frames stay "
			 "unnamed (python_failed_no_tss_key)");
	return py;
}

static void pid_free(void *p)
{
	free(p);
}

void python__free(struct python *py)
{
	if (!py)
		return;
	tdestroy(py->pids, pid_free);
	free(py->pending);
	free(py);
}

/* Fills the code object layout from PyCode_Type's own description of itself. */
static int read_code_layout(int pid, const struct py_version *v, uint64_t code_type,
			    struct py_pid *p)
{
	uint64_t basicsize, members, m[8], at = 0, qual = 0, file = 0, table = 0, first = 0;
	uint8_t buf[MEMBERS_MAX * 40];
	char name[32];
	size_t i, max;
	int err;

	if (v->member_size > 40)
		return -EINVAL;
	err = process__read_mem(pid, code_type + v->type_basicsize, &basicsize, 8) ?:
	      process__read_mem(pid, code_type + v->type_members, &members, 8);
	if (err)
		return err;
	if (process__read_mem(pid, members, buf, sizeof(buf)))
		return -EFAULT;
	for (i = 0; i < MEMBERS_MAX; i++) {
		memcpy(m, buf + i * v->member_size, v->member_size);
		if (!m[0] || process__read_mem(pid, m[0], name, sizeof(name)))
			break;
		name[sizeof(name) - 1] = '\0';
		at = m[v->member_offset / 8];
		if (!strcmp(name, "co_argcount"))
			p->cfg.code_sum = at & ~7ULL;	/* whole words: co_qualname is one of them */
		else if (!strcmp(name, "co_qualname"))
			qual = at;
		else if (!strcmp(name, "co_filename"))
			file = at;
		else if (!strcmp(name, "co_linetable"))
			table = at;
		else if (!strcmp(name, "co_firstlineno"))
			first = at;
	}
	max = p->cfg.code_sum + PY_SUM_WORDS * 8;
	if (!p->cfg.code_sum || !qual || !file || !table || !first || basicsize > 1024 ||
	    qual < p->cfg.code_sum || qual + 8 > max || (qual - p->cfg.code_sum) % 8 ||
	    file + 8 > 512 || table + 8 > 512)
		return -EINVAL;
	p->cfg.code_qualname = qual;
	p->cfg.code_adaptive = basicsize;
	p->layout = (struct sym_py_layout){
		.code_sum = p->cfg.code_sum, .sum_words = PY_SUM_WORDS,
		.code_qualname = qual, .code_filename = file, .code_linetable = table,
		.code_firstlineno = first,
		.str_length = v->str_length, .str_hash = v->str_hash, .str_state = v->str_state,
		.str_ascii_data = v->str_ascii_data, .str_utf8_length = v->str_utf8_length,
		.str_utf8 = v->str_utf8, .str_compact_data = v->str_compact_data,
		.bytes_size = v->bytes_size, .bytes_data = v->bytes_data,
	};
	max = max > file + 8 ? max : file + 8;
	max = max > table + 8 ? max : table + 8;
	max = max > first + 4 ? max : first + 4;
	p->layout.code_size = (max + 7) & ~7UL;
	return 0;
}

/* @p's code object layout: known for @m's file and @version, or read (see struct code_layout). */
static int code_layout(struct python *py, struct py_pid *p, const struct proc_map *m,
		       const struct py_version *v, uint64_t code_type, uint64_t bias,
		       uint64_t version)
{
	struct code_layout *c;
	unsigned int i;
	int err;

	for (i = 0; i < LAYOUT_CACHE; i++) {
		c = &py->layouts[i];
		if (c->ino && c->ino == m->ino && c->dev == m->dev && c->code_type == code_type &&
		    c->version == version) {
			p->cfg.code_sum = c->code_sum;
			p->cfg.code_qualname = c->code_qualname;
			p->cfg.code_adaptive = c->code_adaptive;
			p->layout = c->layout;
			return 0;
		}
	}
	err = read_code_layout(p->pid, v, code_type + bias, p);
	if (err || !m->ino)
		return err;
	c = &py->layouts[py->next_layout++ % LAYOUT_CACHE];
	*c = (struct code_layout){
		.dev = m->dev, .ino = m->ino, .code_type = code_type, .version = version,
		.code_sum = p->cfg.code_sum, .code_qualname = p->cfg.code_qualname,
		.code_adaptive = p->cfg.code_adaptive, .layout = p->layout,
	};
	return 0;
}

static uint32_t layout_sum(const uint64_t *words, uint64_t qualname_hash)
{
	return py_code_sum((const __u64 *)words, qualname_hash);
}

/*
 * Reads the TSS key.  0: read; -EAGAIN: the interpreter has not set it yet;
 * -ESRCH: the process has no memory left (exited); else -errno.
 */
static int read_tss(struct py_pid *p)
{
	int32_t tss[2];
	int err;

	err = process__read_mem(p->pid, p->tss, tss, sizeof(tss));
	if (err)
		return err;
	if (!tss[0] || tss[1] < 0)
		return -EAGAIN;
	p->cfg.tss_key = tss[1];
	return 0;
}

static int publish(struct python *py, struct py_pid *p)
{
	if (py->fd < 0)
		return 0;
	if (bpf_map_update_elem(py->fd, &p->pid, &p->cfg, BPF_ANY))
		return -errno;
	p->walked = true;
	return 0;
}

/* A CPython mapped by @m: fills @p.  0, -ENOENT (not CPython), -errno. */
static int probe(struct python *py, struct py_pid *p, const struct proc_map *m,
		 struct proc_open_stats *open)
{
	const char *path = m->path;
	uint64_t start = m->start;
	const struct py_version *v = NULL;
	struct py_syms s = {};
	uint64_t bias = 0, version;
	unsigned int minor, i;
	int err, fd;

	fd = proc_map__open(p->pid, m, open, NULL);
	if (fd < 0)
		return fd;
	err = python_elf__read(&py->elfs, fd, start, m->pgoff, &s, &bias);
	close(fd);
	if (err)
		return err;
	if (!s.eval) {
		py->st.not_cpython++;	/* a python-named file without the interpreter */
		return -ENOENT;
	}
	if (!s.runtime) {
		py->st.no_runtime++;
		log_info("python: pid %d: %s has no _PyRuntime symbol (stripped?); its Python "
			 "frames stay native", p->pid, path);
		return -ENOENT;
	}
	if (!s.version || !s.code_type || process__read_mem(p->pid, s.version + bias, &version, 8)) {
		py->st.unsupported++;
		return -ENOENT;
	}
	minor = (version >> 16) & 0xff;
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		if (versions[i].minor == minor && (version >> 24) == 3)
			v = &versions[i];
	if (!v) {
		py->st.unsupported++;
		log_info("python: pid %d: CPython 3.%u has no layout entry; its Python frames "
			 "stay native", p->pid, minor);
		return -ENOENT;
	}
	err = code_layout(py, p, m, v, s.code_type, bias, version);
	if (err)
		return err;
	p->layout.sum = layout_sum;
	p->cfg.eval_start[0] = s.eval + bias;
	p->cfg.eval_end[0] = s.eval + bias + s.eval_size;
	if (s.cold) {
		p->cfg.eval_start[1] = s.cold + bias;
		p->cfg.eval_end[1] = s.cold + bias + s.cold_size;
	}
	p->cfg.tls_specific = py->tls_specific;
	p->cfg.tstate_cframe = v->tstate_cframe;
	p->cfg.cframe_frame = v->cframe_frame;
	p->cfg.frame_code = v->frame_code;
	p->cfg.frame_previous = v->frame_previous;
	p->cfg.frame_prev_instr = v->frame_prev_instr;
	p->cfg.frame_stop = v->frame_stop;
	p->cfg.stop_value = v->stop_value;
	p->cfg.stop_skip = v->stop_skip;
	p->cfg.frame_read = v->frame_read;
	p->cfg.str_hash = v->str_hash;
	p->cfg.tss_key = -1;
	p->tss = s.runtime + bias + v->runtime_tss;
	return 0;
}

bool python__candidate(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "python", 6) || !strncmp(base, "libpython", 9);
}

/* Finds CPython in @pm; 0 when found, -ENOENT when not. */
static int find(struct python *py, struct py_pid *p, const struct proc_maps *pm,
		struct proc_open_stats *open)
{
	const struct proc_map *m;
	int err = -ENOENT;
	size_t i;

	for (i = 0; err == -ENOENT && i < pm->n; i++) {
		m = &pm->maps[i];
		if (!proc_map__is_file(m) || !python__candidate(m->path))
			continue;
		err = probe(py, p, m, open);
		if (err && err != -ENOENT) {
			py->st.errors++;
			log_debug("python: pid %d: %s: %s", p->pid, m->path, strerror(-err));
			err = -ENOENT;
		}
	}
	return err;
}

/* Keeps py->next_tick_ms the earliest retry of the pending pids. */
static void pending_due(struct python *py, uint64_t ms)
{
	if (!py->next_tick_ms || ms < py->next_tick_ms)
		py->next_tick_ms = ms;
}

static int pending_push(struct python *py, int pid)
{
	int *v;

	if (py->npending == py->pending_cap) {
		v = realloc(py->pending, (py->pending_cap * 2 + 8) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		py->pending = v;
		py->pending_cap = py->pending_cap * 2 + 8;
	}
	py->pending[py->npending++] = pid;
	return 0;
}

int python__add_process(struct python *py, const struct proc_maps *pm,
			struct proc_open_stats *open)
{
	struct py_pid key = { .pid = pm->pid }, *p;
	int pid = pm->pid;
	void *node;
	int err;

	if (tfind(&key, &py->pids, pid_cmp))
		return 1;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pid = pid;
	err = find(py, p, pm, open);
	if (err) {
		free(p);
		return err == -ENOENT ? 0 : err;
	}
	node = tsearch(p, &py->pids, pid_cmp);
	if (!node) {
		free(p);
		return -ENOMEM;
	}
	if (read_tss(p)) {
		/* Py_Initialize() has not created it yet: BPF counts the misses meanwhile */
		py->st.tss_waits++;
		p->first_ms = mono_ms();
		p->wait_ms = TSS_RETRY_MS;
		p->next_ms = p->first_ms + p->wait_ms;
		if (pending_push(py, pid))
			log_warn("python: pid %d: out of memory; its thread-state key is not retried",
				 pid);
		else
			pending_due(py, p->next_ms);
	}
	if (py->fd < 0) {
		py->st.unwalked++;
		return 1;
	}
	err = publish(py, p);
	if (err) {
		log_warn("python: pid %d: cannot publish its config: %s", pid, strerror(-err));
		return err;
	}
	py->st.procs++;
	log_debug("python: pid %d: CPython, eval loop %#llx-%#llx, tss key %d", pid,
		  (unsigned long long)p->cfg.eval_start[0], (unsigned long long)p->cfg.eval_end[0],
		  p->cfg.tss_key);
	return 1;
}

static struct py_pid *lookup(const struct python *py, int pid)
{
	struct py_pid key = { .pid = pid };
	void *node = tfind(&key, &py->pids, pid_cmp);

	return node ? *(struct py_pid **)node : NULL;
}

void python__remove_process(struct python *py, int pid)
{
	struct py_pid *p = lookup(py, pid);

	if (!p)
		return;
	if (p->walked)
		bpf_map_delete_elem(py->fd, &pid);
	tdelete(p, &py->pids, pid_cmp);
	free(p);
}

void python__tick(struct python *py)
{
	uint64_t now;
	struct py_pid *p;
	int i, n = 0, err;

	now = mono_ms();
	if (!py->npending || now < py->next_tick_ms)
		return;
	py->next_tick_ms = 0;
	for (i = 0; i < py->npending; i++) {
		p = lookup(py, py->pending[i]);
		if (!p)
			continue;
		if (now >= p->next_ms) {
			err = read_tss(p);
			if (!err) {
				py->st.tss_late++;
				if (p->walked && publish(py, p))
					log_warn("python: pid %d: cannot publish its key", p->pid);
				continue;
			}
			/* exited (its memory is gone), or never initialized: BPF counts its misses */
			if (err == -ESRCH || now - p->first_ms >= TSS_RETRY_FOR_MS)
				continue;
			if (p->wait_ms < TSS_RETRY_MAX_MS)
				p->wait_ms *= 2;
			p->next_ms = now + p->wait_ms;
		}
		py->pending[n++] = p->pid;
		pending_due(py, p->next_ms);
	}
	py->npending = n;
}

uint64_t python__next_tick_ms(const struct python *py)
{
	return py->npending ? py->next_tick_ms : 0;
}

bool python__knows(struct python *py, int pid)
{
	return lookup(py, pid) != NULL;
}

int python__frame(struct python *py, struct symbolizer *sym, int pid, uint64_t w0, uint64_t w1,
		  const struct frame **frames)
{
	struct py_pid *p = lookup(py, pid);

	if (!p)
		return -ENOENT;
	return symbolizer__python(sym, pid, &p->layout, w0 & ~PY_FRAME_MASK, w1 >> 32,
				  (int32_t)(uint32_t)w1, frames);
}

void python__stats(const struct python *py, struct python_stats *st)
{
	*st = py->st;
}
