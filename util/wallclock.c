// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* wallclock.c - window labels that survive wall-clock steps (see wallclock.h). */
#include "wallclock.h"

void wallclock__init(struct wallclock *c, int64_t wall_ms, int64_t mono_ms)
{
	*c = (struct wallclock){
		.anchor_wall_ms = wall_ms, .anchor_mono_ms = mono_ms, .start_ms = wall_ms,
		.window_mono_ms = mono_ms,
	};
}

static void anchor(struct wallclock *c, int64_t wall_ms, int64_t mono_ms)
{
	c->anchor_wall_ms = wall_ms;
	c->anchor_mono_ms = mono_ms;
	c->behind = false;
}

bool wallclock__end_window(struct wallclock *c, int64_t wall_ms, int64_t mono_ms,
			   int64_t *start, int64_t *end)
{
	/* what the wall clock would read had it only ticked since the anchor */
	int64_t expect = c->anchor_wall_ms + (mono_ms - c->anchor_mono_ms);
	int64_t diff = wall_ms - expect, next;
	bool stepped = false;

	*start = c->start_ms;
	if (diff > WALLCLOCK_STEP_MS) {
		/* forward: close at the ticked time, resume at the new one (a gap) */
		*end = c->behind ? c->start_ms + (mono_ms - c->window_mono_ms) / 2 : expect;
		next = wall_ms;
		stepped = true;
		anchor(c, wall_ms, mono_ms);
	} else if (diff < -WALLCLOCK_STEP_MS || c->behind) {
		/*
		 * back, or still behind: labels tick at half speed, so they never
		 * overlap the windows already written and meet the wall clock
		 * again after twice the step
		 */
		stepped = !c->behind;
		c->behind = true;
		*end = c->start_ms + (mono_ms - c->window_mono_ms) / 2;
		if (wall_ms >= *end)
			*end = wall_ms;
		/* the wall clock ticks on from here; the labels catch up with it */
		c->anchor_wall_ms = wall_ms;
		c->anchor_mono_ms = mono_ms;
		c->behind = wall_ms < *end;
		next = *end;
	} else {
		*end = wall_ms;
		next = wall_ms;
		anchor(c, wall_ms, mono_ms);
	}
	if (*end <= *start)
		*end = *start + 1;
	if (next < *end)
		next = *end;
	c->start_ms = next;
	c->window_mono_ms = mono_ms;
	if (stepped) {
		c->steps++;
		c->last_step_ms = diff;
	}
	return stepped;
}
