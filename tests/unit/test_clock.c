// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * test_clock.c - window labels across wall-clock steps (util/wallclock.c):
 * forward and backward steps never give overlapping or empty windows.
 */
#include "test.h"
#include "wallclock.h"

#define T0 1764064800000LL	/* 2025-11-25T10:00:00Z */

/* Ends windows every @every ms of monotonic time, with the wall clock jumping by @jump[i]. */
static void run_windows(struct test *t, const int64_t *jump, int n, int64_t every,
			uint64_t want_steps)
{
	struct wallclock c;
	int64_t mono = 5000, wall = T0, prev_end = 0, start, end;
	int i;

	wallclock__init(&c, wall, mono);
	for (i = 0; i < n; i++) {
		mono += every;
		wall += every + jump[i];
		wallclock__end_window(&c, wall, mono, &start, &end);
		CHECK(end > start, "window %d: end %lld <= start %lld", i, (long long)end,
		      (long long)start);
		CHECK(!prev_end || start >= prev_end, "window %d overlaps the one before", i);
		CHECK(end - start <= every + WALLCLOCK_STEP_MS, "window %d spans %lld ms", i,
		      (long long)(end - start));
		prev_end = end;
	}
	CHECK(c.steps == want_steps, "%llu steps counted, want %llu",
	      (unsigned long long)c.steps, (unsigned long long)want_steps);
	/* once the clocks agree again the labels are the wall clock's own */
	CHECK(end == wall, "last window ends at %lld, the wall clock reads %lld",
	      (long long)end, (long long)wall);
out:
	return;
}

static void test_steady(struct test *t)
{
	static const int64_t jump[5] = { 0, 3, -2, 0, 1 };	/* NTP-sized slews */

	run_windows(t, jump, 5, 10000, 0);
}

static void test_forward(struct test *t)
{
	static const int64_t jump[4] = { 0, 3600000, 0, 0 };

	run_windows(t, jump, 4, 10000, 1);
}

static void test_backward(struct test *t)
{
	/* one hour back: the labels meet the wall clock again two hours later */
	static int64_t jump[730] = { 0, -3600000 };

	run_windows(t, jump, 730, 10000, 1);
}

static void test_back_and_forth(struct test *t)
{
	/* back 60 s, forward 120 s while still behind, back 5 s, then steady */
	static int64_t jump[200] = { -60000, 0, 120000, -5000 };

	run_windows(t, jump, 200, 1000, 3);
}

const struct test_case clock_tests[] = {
	{ "clock_steady", test_steady },
	{ "clock_forward_step", test_forward },
	{ "clock_backward_step", test_backward },
	{ "clock_back_and_forth", test_back_and_forth },
	{ NULL, NULL },
};
