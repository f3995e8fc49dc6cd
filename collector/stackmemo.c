// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * stackmemo.c - within one drain, rows with the same raw stacks in the same
 * process are named once: the BPF counts are per thread, so a process with
 * 2,000 threads running the same code would otherwise be symbolized (and
 * stored) 2,000 times per drain.  The key is what the kernel side handed
 * over (stack ids and the table-unwound stack's hash, valid until the
 * drain ends), plus the tgid, since user addresses mean something only in
 * their process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

struct memo_ent {
	uint32_t tgid;
	int32_t kstack_id, ustack_id;
	uint64_t uhash;
	size_t off;		/* first frame in memo->frames */
	int n;
	uint64_t unknown;	/* of its frames, those without a name */
};

static uint32_t memo_hash(const struct sample_key *k)
{
	uint64_t h = ((uint64_t)k->tgid << 32 | (uint32_t)k->kstack_id) * 0x9e3779b97f4a7c15ULL;

	h ^= ((uint64_t)(uint32_t)k->ustack_id << 32 ^ k->uhash) * 0xc2b2ae3d27d4eb4fULL;
	return (uint32_t)(h ^ h >> 29);
}

static bool memo_same(const struct memo_ent *e, const struct sample_key *k)
{
	return e->tgid == k->tgid && e->kstack_id == k->kstack_id &&
	       e->ustack_id == k->ustack_id && e->uhash == k->uhash;
}

/* The slot for @k: holding its entry index + 1, or 0 where it would go. */
static uint32_t *memo_slot(const struct stack_memo *m, const struct sample_key *k)
{
	uint32_t mask = m->nslots - 1, i;

	for (i = memo_hash(k) & mask; m->slots[i]; i = (i + 1) & mask)
		if (memo_same(&m->ents[m->slots[i] - 1], k))
			break;
	return &m->slots[i];
}

static int memo_grow(struct stack_memo *m)
{
	uint32_t n = m->nslots ? m->nslots * 2 : 1024, i, *old = m->slots, oldn = m->nslots;
	struct memo_ent *ents;

	ents = realloc(m->ents, n / 2 * sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	m->ents = ents;
	m->slots = calloc(n, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -ENOMEM;
	}
	m->nslots = n;
	for (i = 0; i < oldn; i++)
		if (old[i]) {
			struct sample_key k = { .tgid = ents[old[i] - 1].tgid,
				.kstack_id = ents[old[i] - 1].kstack_id,
				.ustack_id = ents[old[i] - 1].ustack_id,
				.uhash = ents[old[i] - 1].uhash };

			*memo_slot(m, &k) = old[i];
		}
	free(old);
	return 0;
}

bool stack_memo__get(const struct stack_memo *m, const struct sample_key *k,
		     const struct frame **frames, int *n, uint64_t *unknown, uint32_t *id)
{
	uint32_t idx;

	if (!m->nslots || !(idx = *memo_slot(m, k)))
		return false;
	*frames = m->frames + m->ents[idx - 1].off;
	*n = m->ents[idx - 1].n;
	*unknown = m->ents[idx - 1].unknown;
	*id = m->base + idx - 1;
	return true;
}

int stack_memo__put(struct stack_memo *m, const struct sample_key *k, const struct frame *frames,
		    int n, uint64_t unknown, uint32_t *id)
{
	struct frame *f;
	uint32_t *slot;
	size_t cap;

	if (m->n * 2 >= m->nslots && memo_grow(m))
		return -ENOMEM;
	if (m->nframes + n > m->fcap) {
		for (cap = m->fcap ? m->fcap : 4096; cap < m->nframes + n; cap *= 2)
			;
		f = realloc(m->frames, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		m->frames = f;
		m->fcap = cap;
	}
	memcpy(m->frames + m->nframes, frames, n * sizeof(*frames));
	slot = memo_slot(m, k);
	m->ents[m->n] = (struct memo_ent){ .tgid = k->tgid, .kstack_id = k->kstack_id,
		.ustack_id = k->ustack_id, .uhash = k->uhash, .off = m->nframes, .n = n,
		.unknown = unknown };
	*slot = ++m->n;
	m->nframes += n;
	*id = m->base + m->n - 1;
	return 0;
}

void stack_memo__reset(struct stack_memo *m, bool new_drain)
{
	m->base = new_drain ? 0 : m->base + m->n;
	m->n = 0;
	m->nframes = 0;
	if (m->slots)
		memset(m->slots, 0, m->nslots * sizeof(*m->slots));
}

void stack_memo__free(struct stack_memo *m)
{
	free(m->ents);
	free(m->slots);
	free(m->frames);
	memset(m, 0, sizeof(*m));
}
