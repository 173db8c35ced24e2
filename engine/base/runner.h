/* runner.h - a small job runner: N worker threads that run submitted jobs
 * (a function, its argument and the argument's free function) in the
 * order they were submitted, for work too long for a request thread:
 * training, tuning, feature refreshes.  Knows nothing of FUSE.
 *
 * Job states (each job's, changed under the runner's lock):
 *   QUEUED  -> RUNNING   a worker takes the oldest queued job
 *   QUEUED  -> DONE      taken while cancelled: result -ECANCELED, not run
 *   RUNNING -> DONE      the function returned its result and message
 * DONE is final.  After DONE the completion callback runs on the worker
 * thread, then the argument is freed; the last RUNNER_KEEP_DONE finished
 * jobs stay known to runner_status. */
#ifndef MLFS_RUNNER_H
#define MLFS_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define RUNNER_KEEP_DONE 64

struct runner;
struct runner_job;

enum runner_state { RUNNER_QUEUED, RUNNER_RUNNING, RUNNER_DONE };

/* The work: 0 or a negative errno, ERR saying why.  Long jobs poll
 * runner_cancelled(JOB) and return -ECANCELED when it says so. */
typedef int (*runner_fn)(void *arg, const struct runner_job *job,
			 struct mlfs_err *err);
/* Called once per job on a runner thread after it is DONE, with its
 * result and message (ERR->msg empty when none); ARG is freed after. */
typedef void (*runner_done_fn)(void *arg, int result,
			       const struct mlfs_err *err);

/* Start WORKERS (>= 1) threads.  -EINVAL, -EAGAIN. */
int runner_start(unsigned workers, struct runner **out);
/* Cancel every job (running ones see runner_cancelled; queued ones end
 * as -ECANCELED without running), wait for all to be DONE with their
 * callbacks called, join the threads and free R.  NULL is a no-op. */
void runner_stop(struct runner *r);
/* Queue FN(ARG).  FREE_ARG (may be NULL) frees ARG after DONE (also
 * when submitting fails: then ARG is freed here and DONE not called).
 * DONE may be NULL.  *ID (may be NULL): the job's id, from 1.
 * -ESHUTDOWN once stopping.  Thread-safe. */
int runner_submit(struct runner *r, runner_fn fn, void *arg,
		  void (*free_arg)(void *arg), runner_done_fn done,
		  uint64_t *id);
/* True once the job was asked to stop.  For FN to poll. */
bool runner_cancelled(const struct runner_job *job);
/* Ask job ID to stop.  -ENOENT when unknown or already DONE. */
int runner_cancel(struct runner *r, uint64_t id);
/* State of job ID; RESULT and ERR (both may be NULL) once DONE.
 * -ENOENT when unknown (or forgotten). */
int runner_status(struct runner *r, uint64_t id, enum runner_state *state,
		  int *result, struct mlfs_err *err);

#endif
