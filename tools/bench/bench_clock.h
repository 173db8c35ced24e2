/* bench_clock.h - the clocks the C benchmarks share: wall time, this
 * process's CPU time, and the CPU time of other processes named by pid
 * (the servers a benchmark talks to), read from /proc: the figures that
 * other load on a shared machine moves least.  Header-only. */
#ifndef MLFS_BENCH_CLOCK_H
#define MLFS_BENCH_CLOCK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static inline double bench_self_cpu_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* utime + stime, in microseconds, of the processes whose pids the
 * environment variable ENV lists (space separated); -1 when it names
 * none.  A pid gone meanwhile counts nothing. */
static inline double bench_pids_cpu_us(const char *env)
{
	const char *pids = getenv(env);
	if (!pids || !*pids)
		return -1;
	double sum = 0;
	for (const char *p = pids; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		char path[64], line[1024];
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		FILE *f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f)) {
			/* fields 14 and 15, after the ")" that ends the name */
			char *q = strrchr(line, ')');
			unsigned long ut = 0, st = 0;
			if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u "
					"%*u %*u %*u %lu %lu", &ut, &st) == 2)
				sum += (ut + st) * 1e6 / sysconf(_SC_CLK_TCK);
		}
		if (f)
			fclose(f);
		for (p = end; *p == ' '; p++)
			;
	}
	return sum;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#endif
