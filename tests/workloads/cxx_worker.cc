// SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
/*
 * cxx_worker.cc - burns CPU in main -> ns::Worker<int>::run(double) -> a
 * lambda inside it, so e2e tests can check that C++ names (namespace,
 * template, lambda) come out demangled, or mangled with --no-demangle.
 */
#include <cstdio>
#include <cstdlib>
#include <ctime>

static double cpu_seconds()
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return -1.0;
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

namespace ns {

template <typename T>
struct Worker {
	volatile T acc = 0;

	__attribute__((noinline)) void run(double seconds)
	{
		auto burn = [this](unsigned long n) __attribute__((noinline)) {
			for (unsigned long i = 0; i < n; i++)
				acc = acc * 31 + (T)i;
		};
		double start = cpu_seconds();

		while (cpu_seconds() - start < seconds)
			burn(2000000);
	}
};

} // namespace ns

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	ns::Worker<int> w;

	if (seconds <= 0) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	w.run(seconds);
	printf("cpu=%.6f\n", cpu_seconds());
	return 0;
}
