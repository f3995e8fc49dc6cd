// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/* syscall_loop.c - main -> sys_loop_outer -> do_syscalls spends most of its time in the kernel, for kernel-stack tests. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Syscalls are issued by inline asm inside do_syscalls itself: a libc wrapper
 * would be a frameless leaf, and a frame-pointer walk from inside it skips
 * its caller, so do_syscalls would vanish from the user stack.
 */
#define RAW_SYSCALL3(ret, nr, a, b, c)					\
	__asm__ volatile("syscall"					\
			 : "=a"(ret)					\
			 : "a"((long)(nr)), "D"((long)(a)),		\
			   "S"((long)(b)), "d"((long)(c))		\
			 : "rcx", "r11", "memory")

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void do_syscalls(int fd, double seconds)
{
	char byte = 'x';
	double start = now();
	long ret;

	for (;;) {
		/* Check the clock rarely (it is a vDSO call, i.e. user time). */
		for (int i = 0; i < 20000; i++) {
			RAW_SYSCALL3(ret, SYS_write, fd, &byte, 1);
			if (ret != 1)
				exit(1);
			RAW_SYSCALL3(ret, SYS_getppid, 0, 0, 0);
		}
		if (now() - start >= seconds)
			break;
	}
}

__attribute__((noinline)) void sys_loop_outer(int fd, double seconds)
{
	do_syscalls(fd, seconds);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	struct timespec ts;
	int fd;

	if (seconds <= 0) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	fd = open("/dev/null", O_WRONLY);
	if (fd < 0) {
		perror("open /dev/null");
		return 1;
	}
	sys_loop_outer(fd, seconds);
	close(fd);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	printf("cpu=%.6f\n", ts.tv_sec + ts.tv_nsec / 1e9);
	return 0;
}
