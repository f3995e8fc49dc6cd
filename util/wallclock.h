/* SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0 */
/*
 * wallclock.h - wall-clock labels for windows timed by the monotonic clock.
 *
 * Windows are scheduled on CLOCK_MONOTONIC; the wall clock only names them.
 * When the wall clock steps (chrony, a restored VM, date -s), the labels
 * never overlap and never shrink to zero: after a forward step the next
 * window starts at the new time (a gap); after a backward step the labels
 * tick at half speed until the wall clock catches up with them (twice the
 * step later), so no window lands on a time already written.
 */
#ifndef EMBER_WALLCLOCK_H
#define EMBER_WALLCLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* A difference between the two clocks larger than this is a step. */
#define WALLCLOCK_STEP_MS 2000

struct wallclock {
	int64_t anchor_wall_ms, anchor_mono_ms;	/* both clocks at the last window's end */
	int64_t start_ms;			/* label of the current window's start */
	int64_t window_mono_ms;			/* monotonic time it started at */
	bool behind;				/* wall clock stepped back, not caught up */
	uint64_t steps;				/* steps seen */
	int64_t last_step_ms;			/* the last step's size (negative: back) */
};

/* Starts the first window at @wall_ms, @mono_ms (the two clocks now). */
void wallclock__init(struct wallclock *c, int64_t wall_ms, int64_t mono_ms);

/*
 * Ends the current window with the clocks reading @wall_ms and @mono_ms:
 * sets *start and *end (end > start, end >= the previous window's end) and
 * starts the next window.  Returns true when the wall clock stepped since
 * the last call (counted in c->steps, size in c->last_step_ms).
 */
bool wallclock__end_window(struct wallclock *c, int64_t wall_ms, int64_t mono_ms,
			   int64_t *start, int64_t *end);

#endif /* EMBER_WALLCLOCK_H */
