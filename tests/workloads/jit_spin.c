// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * jit_spin.c - burns CPU in code written to anonymous executable memory,
 * as JIT compilers do: no file, no unwind table covers those pcs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

/* sub rdi, 1; jnz .-4; ret: counts @rdi down to zero */
static const unsigned char countdown[] = { 0x48, 0x83, 0xef, 0x01, 0x75, 0xfa, 0xc3 };

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	void (*fn)(unsigned long);
	struct timespec ts;
	double start, now;
	void *mem;

	mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || (memcpy(mem, countdown, sizeof(countdown)),
				  mprotect(mem, 4096, PROT_READ | PROT_EXEC))) {
		perror("jit_spin: mmap");
		return 1;
	}
	fn = (void (*)(unsigned long))mem;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	start = ts.tv_sec + ts.tv_nsec / 1e9;
	do {
		fn(50000000);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = ts.tv_sec + ts.tv_nsec / 1e9;
	} while (now - start < seconds);
	return 0;
}
