/* runner.c - the job runner of runner.h: one locked list of jobs in
 * submission order, worker threads that take the oldest queued one, and
 * the finished ones kept for status.  Not a thread pool for data-parallel
 * loops (that is par); one job runs on one worker. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

struct runner_job {
	struct runner_job *next;	/* list order: submission */
	uint64_t id;
	enum runner_state state;	/* lock */
	bool cancel;			/* atomic: asked to stop */
	int result;			/* lock; valid once DONE */
	struct mlfs_err err;		/* lock; valid once DONE */
	runner_fn fn;
	void *arg;
	void (*free_arg)(void *arg);
	runner_done_fn done;
};

struct runner {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a job was queued, or stopping */
	struct runner_job *jobs;	/* lock: queued, running, kept done */
	uint64_t next_id;		/* lock */
	bool stopping;			/* lock */
	unsigned nthreads;
	pthread_t *threads;
};

bool runner_cancelled(const struct runner_job *job)
{
	return __atomic_load_n(&job->cancel, __ATOMIC_ACQUIRE);
}

static struct runner_job *find(struct runner *r, uint64_t id)
{
	struct runner_job *j = r->jobs;
	while (j && j->id != id)
		j = j->next;
	return j;
}

/* Forget the oldest finished jobs past RUNNER_KEEP_DONE.  Lock held. */
static void trim_done(struct runner *r)
{
	size_t kept = 0;
	for (struct runner_job *j = r->jobs; j; j = j->next)
		kept += j->state == RUNNER_DONE;
	for (struct runner_job **pp = &r->jobs; *pp && kept > RUNNER_KEEP_DONE;) {
		struct runner_job *j = *pp;
		if (j->state != RUNNER_DONE) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		free(j);
		kept--;
	}
}

static struct runner_job *take_queued(struct runner *r)
{
	for (struct runner_job *j = r->jobs; j; j = j->next)
		if (j->state == RUNNER_QUEUED)
			return j;
	return NULL;
}

/* Run J (taken QUEUED -> RUNNING under the lock), finish it, call back. */
static void run_job(struct runner *r, struct runner_job *j)
{
	struct mlfs_err err = { 0 };
	/* Once DONE, J may be forgotten by another worker: keep what the
	 * callbacks need. */
	void *arg = j->arg;
	void (*free_arg)(void *) = j->free_arg;
	runner_done_fn done = j->done;
	int rc = runner_cancelled(j) ? mlfs_fail(&err, -ECANCELED, "cancelled")
				     : j->fn(arg, j, &err);
	pthread_mutex_lock(&r->lock);
	j->state = RUNNER_DONE;
	j->result = rc;
	j->err = err;
	trim_done(r);
	pthread_mutex_unlock(&r->lock);
	if (done)
		done(arg, rc, &err);
	if (free_arg)
		free_arg(arg);
}

static void *worker_main(void *arg)
{
	struct runner *r = arg;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct runner_job *j = take_queued(r);
		if (!j && r->stopping)
			break;
		if (!j) {
			pthread_cond_wait(&r->work, &r->lock);
			continue;
		}
		j->state = RUNNER_RUNNING;
		pthread_mutex_unlock(&r->lock);
		run_job(r, j);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int runner_start(unsigned workers, struct runner **out)
{
	if (workers < 1 || workers > 256)
		return -EINVAL;
	struct runner *r = calloc(1, sizeof(*r));
	if (!r || !(r->threads = calloc(workers, sizeof(*r->threads))))
		mlfs_oom();
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->work, NULL);
	r->next_id = 1;
	for (; r->nthreads < workers; r->nthreads++) {
		if (pthread_create(&r->threads[r->nthreads], NULL, worker_main, r)) {
			runner_stop(r);
			return -EAGAIN;
		}
	}
	*out = r;
	return 0;
}

void runner_stop(struct runner *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	for (struct runner_job *j = r->jobs; j; j = j->next)
		__atomic_store_n(&j->cancel, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	while (r->jobs) {
		struct runner_job *j = r->jobs;
		r->jobs = j->next;
		free(j);
	}
	pthread_cond_destroy(&r->work);
	pthread_mutex_destroy(&r->lock);
	free(r->threads);
	free(r);
}

int runner_submit(struct runner *r, runner_fn fn, void *arg,
		  void (*free_arg)(void *arg), runner_done_fn done,
		  uint64_t *id)
{
	struct runner_job *j = calloc(1, sizeof(*j));
	if (!j)
		mlfs_oom();
	j->fn = fn;
	j->arg = arg;
	j->free_arg = free_arg;
	j->done = done;
	pthread_mutex_lock(&r->lock);
	if (r->stopping) {
		pthread_mutex_unlock(&r->lock);
		free(j);
		if (free_arg)
			free_arg(arg);
		return -ESHUTDOWN;
	}
	j->id = r->next_id++;
	struct runner_job **pp = &r->jobs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = j;
	if (id)
		*id = j->id;
	pthread_cond_signal(&r->work);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int runner_cancel(struct runner *r, uint64_t id)
{
	pthread_mutex_lock(&r->lock);
	struct runner_job *j = find(r, id);
	int rc = j && j->state != RUNNER_DONE ? 0 : -ENOENT;
	if (!rc)
		__atomic_store_n(&j->cancel, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int runner_status(struct runner *r, uint64_t id, enum runner_state *state,
		  int *result, struct mlfs_err *err)
{
	pthread_mutex_lock(&r->lock);
	struct runner_job *j = find(r, id);
	if (j) {
		*state = j->state;
		if (result)
			*result = j->state == RUNNER_DONE ? j->result : 0;
		if (err && j->state == RUNNER_DONE)
			*err = j->err;
	}
	pthread_mutex_unlock(&r->lock);
	return j ? 0 : -ENOENT;
}
