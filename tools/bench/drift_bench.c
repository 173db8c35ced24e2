/* drift_bench.c - tools/bench/drift's C side: every numeric drift
 * statistic of engine/monitor/drift.h on every column of a file written
 * by drift_scipy.py gen, timed the way drift_scipy.py run times scipy and
 * numpy on the same arrays.  A benchmark, not a test and not installed.
 *
 *   drift_bench FILE N COLS [ROUNDS]
 *
 * FILE holds COLS columns of N baseline then N current float64 values.
 * Per column: sort_doubles of both sides, drift_psi (10 bins), drift_ks
 * (statistic and p-value) and drift_wasserstein (normalised).  Each round
 * runs the loop with 1 thread, then 2 (columns i with i % nth == ith),
 * timed with CLOCK_MONOTONIC from the first sort to the last join; the
 * file read and the copy of the unsorted columns are outside the time.
 * Prints "round R threads T seconds S cpu S sort S psi S ks S
 * wasserstein S", where the steps' figures are CPU time
 * (CLOCK_THREAD_CPUTIME_ID: what the machine's other load moves least)
 * summed over the threads and cpu is their sum, and, once, "col C psi V
 * ks V p V wasserstein V" for every column. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drift.h"
#include "sort.h"

#define NBINS 10
#define MAX_THREADS 2

/* What one column gives. */
struct col_stats {
	double psi, ks, p, wasserstein;
};

/* CPU seconds spent in each step, by one thread. */
struct step_times {
	double sort, psi, ks, wasserstein;
};

/* One thread's share of a run: columns ith, ith + nth, ... */
struct job {
	double *work;			/* COLS x 2N, sorted in place */
	size_t n;
	int cols, ith, nth;
	struct col_stats *out;		/* COLS entries; this thread's only */
	struct step_times t;
};

static double clock_s(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static double cpu_now(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static void *job_run(void *arg)
{
	struct job *j = arg;
	for (int c = j->ith; c < j->cols; c += j->nth) {
		double *base = j->work + (size_t)c * 2 * j->n, *cur = base + j->n;
		struct col_stats *s = &j->out[c];
		double t0 = cpu_now();
		sort_doubles(base, j->n);
		sort_doubles(cur, j->n);
		double t1 = cpu_now();
		s->psi = drift_psi(base, j->n, cur, j->n, NBINS);
		double t2 = cpu_now();
		s->ks = drift_ks(base, j->n, cur, j->n, &s->p);
		double t3 = cpu_now();
		s->wasserstein = drift_wasserstein(base, j->n, cur, j->n, 1);
		double t4 = cpu_now();
		j->t.sort += t1 - t0;
		j->t.psi += t2 - t1;
		j->t.ks += t3 - t2;
		j->t.wasserstein += t4 - t3;
	}
	return NULL;
}

/* One timed run over every column with NTH threads; the steps' times
 * summed over the threads go to *T.  Returns the wall-clock seconds. */
static double run(double *work, size_t n, int cols, int nth,
		  struct col_stats *out, struct step_times *t)
{
	struct job jobs[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	for (int i = 0; i < nth; i++)
		jobs[i] = (struct job){ .work = work, .n = n, .cols = cols,
					.ith = i, .nth = nth, .out = out };
	double t0 = now();
	for (int i = 1; i < nth; i++) {
		int rc = pthread_create(&tid[i], NULL, job_run, &jobs[i]);
		if (rc) {
			fprintf(stderr, "pthread_create: %s\n", strerror(rc));
			exit(1);
		}
	}
	job_run(&jobs[0]);
	for (int i = 1; i < nth; i++)
		pthread_join(tid[i], NULL);
	double secs = now() - t0;
	*t = (struct step_times){ 0 };
	for (int i = 0; i < nth; i++) {
		t->sort += jobs[i].t.sort;
		t->psi += jobs[i].t.psi;
		t->ks += jobs[i].t.ks;
		t->wasserstein += jobs[i].t.wasserstein;
	}
	return secs;
}

static double *read_columns(const char *path, size_t count)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
	double *x = malloc(count * sizeof(*x));
	if (!x) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	size_t got = fread(x, sizeof(*x), count, f);
	int extra = fgetc(f) != EOF;
	fclose(f);
	if (got != count || extra) {
		fprintf(stderr, "%s: not %zu float64 values\n", path, count);
		exit(1);
	}
	return x;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: drift_bench FILE N COLS [ROUNDS]\n");
		return 2;
	}
	size_t n = strtoull(argv[2], NULL, 10);
	int cols = atoi(argv[3]), rounds = argc > 4 ? atoi(argv[4]) : 3;
	if (!n || cols < 1 || rounds < 1) {
		fprintf(stderr, "drift_bench: N, COLS and ROUNDS must be positive\n");
		return 2;
	}
	size_t count = (size_t)cols * 2 * n;
	double *data = read_columns(argv[1], count);
	double *work = malloc(count * sizeof(*work));
	struct col_stats *out = calloc(cols, sizeof(*out));
	struct col_stats *first = calloc(cols, sizeof(*first));
	if (!work || !out || !first) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (int r = 1; r <= rounds; r++) {
		for (int nth = 1; nth <= MAX_THREADS; nth++) {
			struct step_times t;
			memcpy(work, data, count * sizeof(*work));
			double secs = run(work, n, cols, nth, out, &t);
			printf("round %d threads %d seconds %.4f cpu %.4f sort %.4f"
			       " psi %.4f ks %.4f wasserstein %.4f\n", r, nth, secs,
			       t.sort + t.psi + t.ks + t.wasserstein,
			       t.sort, t.psi, t.ks, t.wasserstein);
			fflush(stdout);
			if (r == 1 && nth == 1) {
				memcpy(first, out, cols * sizeof(*out));
			} else if (memcmp(first, out, cols * sizeof(*out))) {
				fprintf(stderr, "drift_bench: round %d, %d threads:"
					" values differ from the first run\n", r, nth);
				return 1;
			}
		}
	}
	for (int c = 0; c < cols; c++)
		printf("col %d psi %.17g ks %.17g p %.17g wasserstein %.17g\n", c,
		       out[c].psi, out[c].ks, out[c].p, out[c].wasserstein);
	free(first);
	free(out);
	free(work);
	free(data);
	return 0;
}
