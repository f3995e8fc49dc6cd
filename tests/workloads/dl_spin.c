// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * dl_spin.c - a shared library and the program that dlopen()s it, from one
 * source (built with -DDL_SPIN_LIB -shared as libdl_spin.so).  dlopen sets
 * no ETXTBSY, so a test can truncate the library (or its debug file) while
 * the program runs it and ember has it open.  The program burns CPU in
 * lib_main -> lib_a -> lib_spin_a; each SIGUSR1 moves it on, to
 * lib_main -> lib_b -> lib_spin_b, then lib_c -> lib_spin_c: addresses
 * ember has not named yet.  Usage: dl_spin LIBRARY SECONDS (all phases).
 */
#ifdef DL_SPIN_LIB
#include <signal.h>

/* the leaves touch no .rodata or .data: only the stack and registers */
__attribute__((noinline)) void lib_spin_a(volatile sig_atomic_t *stop)
{
	volatile unsigned long acc = 0;

	while (!*stop)
		for (unsigned long i = 0; i < 100000; i++)
			acc = acc * 6364136223846793005UL + i;
}

__attribute__((noinline)) void lib_spin_b(volatile sig_atomic_t *stop)
{
	volatile unsigned long acc = 1;

	while (!*stop)
		for (unsigned long i = 0; i < 100000; i++)
			acc = acc * 2862933555777941757UL + i;
}

__attribute__((noinline)) void lib_spin_c(volatile sig_atomic_t *stop)
{
	volatile unsigned long acc = 2;

	while (!*stop)
		for (unsigned long i = 0; i < 100000; i++)
			acc = acc * 3935559000370003845UL + i;
}

__attribute__((noinline)) void lib_a(volatile sig_atomic_t *stop)
{
	lib_spin_a(stop);
}

__attribute__((noinline)) void lib_b(volatile sig_atomic_t *stop)
{
	lib_spin_b(stop);
}

__attribute__((noinline)) void lib_c(volatile sig_atomic_t *stop)
{
	lib_spin_c(stop);
}

void lib_main(int phase, volatile sig_atomic_t *stop)
{
	if (phase == 1)
		lib_a(stop);
	else if (phase == 2)
		lib_b(stop);
	else
		lib_c(stop);
}
#else
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop, timeout, phase = 1;

static void on_signal(int sig)
{
	if (sig == SIGALRM)
		timeout = 1;
	else if (phase < 3)
		phase++;
	stop = 1;
}

int main(int argc, char **argv)
{
	void (*lib_main)(int, volatile sig_atomic_t *);
	void *h;

	if (argc != 3) {
		fprintf(stderr, "usage: dl_spin LIBRARY SECONDS\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "dl_spin: %s\n", dlerror());
		return 1;
	}
	*(void **)&lib_main = dlsym(h, "lib_main");
	if (!lib_main) {
		fprintf(stderr, "dl_spin: %s\n", dlerror());
		return 1;
	}
	signal(SIGUSR1, on_signal);
	signal(SIGALRM, on_signal);
	alarm(atoi(argv[2]));
	while (!timeout) {
		stop = 0;	/* before phase is read: a signal between is not lost */
		lib_main(phase, &stop);
	}
	return 0;
}
#endif
