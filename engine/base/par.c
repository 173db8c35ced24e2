/* par.c - the thread pool of par.h: workers made once that sleep on a
 * condition variable until a call bumps the pool's generation, each run
 * its share of that call's items by thread index, and the last to finish
 * wakes the caller.  One call at a time per pool (the submit mutex): a
 * call from inside a call, or made while another thread's call runs, runs
 * serially in its own thread.  Not a job queue: runner.c runs whole jobs. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "err.h"
#include "par.h"

#define PAR_MAX_THREADS 256

/* One call's work: either FOR (par_for) or RANGE (par_range). */
struct par_job {
	size_t n;
	void (*each)(void *arg, size_t i);
	void (*range)(void *arg, int t, size_t lo, size_t hi);
	void *arg;
};

/* States of the pool (under LOCK):
 *   idle     gen unchanged, pending 0: workers wait on WAKE
 *   running  submit sets JOB, pending = nworkers, gen++ and broadcasts WAKE;
 *            each worker runs its share, the one that takes pending to 0
 *            signals DONE; the caller waits on DONE, then idle again
 *   stopping par_pool_free sets STOP and broadcasts: workers return
 * SUBMIT is held by the caller through one whole call; a caller that
 * cannot take it at once runs its items alone, without the workers. */
struct par_pool {
	int nthreads;			/* caller + started workers */
	pthread_t *workers;		/* nthreads - 1 */
	pthread_mutex_t submit;		/* held through one call; try-locked */
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* lock: gen moved or stop */
	pthread_cond_t done;		/* lock: pending reached 0 */
	uint64_t gen;			/* lock: calls started */
	int pending;			/* lock: workers still on the call */
	bool stop;			/* lock */
	struct par_job job;		/* lock: the current call */
};

struct worker_start {
	struct par_pool *p;
	int t;
};

/* > 0 in a pool worker and in a caller while its call runs: a par_for
 * made there runs serially. */
static _Thread_local int par_depth;

/* Thread T's contiguous share of [0, N) among NT threads. */
static void share(size_t n, int nt, int t, size_t *lo, size_t *hi)
{
	size_t q = n / (size_t)nt, r = n % (size_t)nt, ut = (size_t)t;
	*lo = ut * q + (ut < r ? ut : r);
	*hi = *lo + q + (ut < r);
}

static void run_share(const struct par_job *j, int nt, int t)
{
	if (j->each) {
		for (size_t i = (size_t)t; i < j->n; i += (size_t)nt)
			j->each(j->arg, i);
		return;
	}
	size_t lo, hi;
	share(j->n, nt, t, &lo, &hi);
	if (lo < hi)
		j->range(j->arg, t, lo, hi);
}

static void *worker_main(void *v)
{
	struct worker_start *ws = v;
	struct par_pool *p = ws->p;
	int t = ws->t;
	free(ws);
	par_depth = 1;

	/* From the pool's first call on: gen was 0 when this worker was made. */
	uint64_t seen = 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->gen == seen && !p->stop)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stop)
			break;
		seen = p->gen;
		struct par_job job = p->job;
		int nt = p->nthreads;
		pthread_mutex_unlock(&p->lock);

		run_share(&job, nt, t);

		pthread_mutex_lock(&p->lock);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)(n < PAR_MAX_THREADS ? n : PAR_MAX_THREADS) : 1;
}

struct par_pool *par_pool_new(int nthreads)
{
	struct par_pool *p = calloc(1, sizeof(*p));
	if (!p)
		mlfs_oom();
	if (nthreads <= 0)
		nthreads = online_cpus();
	if (nthreads > PAR_MAX_THREADS)
		nthreads = PAR_MAX_THREADS;
	p->workers = calloc((size_t)nthreads, sizeof(*p->workers));
	if (!p->workers)
		mlfs_oom();
	pthread_mutex_init(&p->submit, NULL);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	p->nthreads = 1;
	/* Workers only read nthreads under the lock, after a call started:
	 * by then every worker below is counted. */
	for (int t = 1; t < nthreads; t++) {
		struct worker_start *ws = malloc(sizeof(*ws));
		if (!ws)
			mlfs_oom();
		*ws = (struct worker_start){ p, t };
		if (pthread_create(&p->workers[t - 1], NULL, worker_main, ws)) {
			free(ws);
			break;
		}
		p->nthreads++;
	}
	return p;
}

void par_pool_free(struct par_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (int t = 0; t < p->nthreads - 1; t++)
		pthread_join(p->workers[t], NULL);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->submit);
	free(p->workers);
	free(p);
}

int par_threads(const struct par_pool *p)
{
	return p ? p->nthreads : 1;
}

/* ---- the process-wide pool ---- */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct par_pool *default_pool;
static pid_t default_pid;

/* At exit, in the process that made it (a forked child has no workers). */
static void default_free(void)
{
	if (getpid() == default_pid)
		par_pool_free(default_pool);
	default_pool = NULL;
}

static void default_make(void)
{
	int n = 0;
	const char *env = getenv("MLFS_THREADS");
	if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);
		if (!*end && v > 0)
			n = v < PAR_MAX_THREADS ? (int)v : PAR_MAX_THREADS;
	}
	default_pool = par_pool_new(n);
	default_pid = getpid();
	atexit(default_free);
}

struct par_pool *par_default(void)
{
	pthread_once(&default_once, default_make);
	return default_pool;
}

/* ---- calls ---- */

static void run(struct par_pool *p, const struct par_job *j)
{
	/* Alone in this thread: no pool, one item, nested, or the pool is
	 * busy with another thread's call (which may last a whole training:
	 * waiting for it would be slower than doing the work here). */
	if (!p || p->nthreads == 1 || par_depth > 0 || j->n <= 1 ||
	    pthread_mutex_trylock(&p->submit)) {
		if (j->each)
			for (size_t i = 0; i < j->n; i++)
				j->each(j->arg, i);
		else if (j->n)
			j->range(j->arg, 0, 0, j->n);
		return;
	}
	pthread_mutex_lock(&p->lock);
	p->job = *j;
	p->pending = p->nthreads - 1;
	p->gen++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);

	par_depth++;
	run_share(j, p->nthreads, 0);
	par_depth--;

	pthread_mutex_lock(&p->lock);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->submit);
}

void par_for(struct par_pool *p, size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
	run(p, &(struct par_job){ .n = n, .each = fn, .arg = arg });
}

void par_range(struct par_pool *p, size_t n, void (*fn)(void *arg, int t, size_t lo, size_t hi), void *arg)
{
	run(p, &(struct par_job){ .n = n, .range = fn, .arg = arg });
}
