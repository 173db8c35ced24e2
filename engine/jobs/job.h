/* job.h - jobs (DESIGN.md section 8): named task graphs with their spec
 * files, started by hand, by a cron schedule or by a drift monitor's
 * alerts, each start a numbered run whose tasks (feature refresh,
 * training, tuning, validation, promotion, batch scoring) the daemon's
 * job runner executes off the request path.  This module owns the keys
 * j/ (docs/store-format.md).
 *
 * A run's states (changed under the jobs lock, written through):
 *   QUEUED   -> RUNNING    a slot is free (max_concurrent_runs)
 *   QUEUED   -> KILLED     killed before it ran
 *   RUNNING  -> FINISHED   every task FINISHED
 *   RUNNING  -> FAILED     a task FAILED (the others SKIPPED or done), or
 *                          the daemon died under it ("interrupted", at the
 *                          next start)
 *   RUNNING  -> KILLED     killed: the running tasks cancelled
 *   (new)    -> SKIPPED    a schedule fired with every slot taken
 * A task: QUEUED -> RUNNING -> FINISHED | FAILED | KILLED, or QUEUED ->
 * SKIPPED when a task it waits for did not finish. */
#ifndef MLFS_JOB_H
#define MLFS_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

enum job_status {
	JOB_QUEUED, JOB_RUNNING, JOB_FINISHED, JOB_FAILED, JOB_SKIPPED, JOB_KILLED,
};
const char *job_status_name(enum job_status st);

struct job_info {
	int64_t ctime_ms, mtime_ms;
	uint32_t uid, gid;
	uint32_t mode;		/* the bits mkdir gave (0755 in older
				 * records: their mode is in attrs) */
	uint64_t last_run;	/* 0: none yet */
};

/* NAME owned by UID/GID with permission bits MODE, kept in its own
 * record, written in one batch that also removes the attrs.h records
 * under ATTRS and below (may be NULL: what a chmod of an earlier job of
 * the name left).  -EEXIST, -EINVAL. */
int job_create(struct store *s, const char *name, uint32_t uid, uint32_t gid,
	       uint32_t mode, const char *attrs, struct mlfs_err *err);
/* The job, its files, its runs and the attrs under ATTRS (may be NULL),
 * in one batch.  -EBUSY while a run is QUEUED or RUNNING, -ENOENT. */
int job_delete(struct store *s, const char *name, const char *attrs,
	       struct mlfs_err *err);
int job_stat(struct store *s, const char *name, struct job_info *out);
int job_list(struct store *s, int (*fn)(void *ctx, const char *name), void *ctx);

/* Files of the job's folder: job.yaml and the specs (*.yaml) its tasks
 * name.  job.yaml is checked (APPLY false: as far as complete lines go)
 * with the store: tables, models and monitors it names exist, its spec
 * files exist and parse as their kind; a spec file named by job.yaml is
 * checked as its kind.  -EINVAL (line and column), -ENOENT, -EFBIG. */
int job_file_get(struct store *s, const char *name, const char *file,
		 struct buf *out);
int job_file_set(struct store *s, const char *name, const char *file,
		 const char *text, size_t len, bool apply, struct mlfs_err *err);
int job_file_delete(struct store *s, const char *name, const char *file,
		    struct mlfs_err *err);
/* FN for every spec file but job.yaml, in name order. */
int job_file_list(struct store *s, const char *name,
		  int (*fn)(void *ctx, const char *file), void *ctx);
/* Whether FILE may be a spec file of a job: NAME.yaml, not job.yaml. */
bool job_file_name_ok(const char *file);

/* Runs. */
int job_run_list(struct store *s, const char *name,
		 int (*fn)(void *ctx, uint64_t id), void *ctx);
int job_run_status(struct store *s, const char *name, uint64_t id,
		   enum job_status *out);
int job_run_tasks_csv(struct store *s, const char *name, uint64_t id,
		      struct buf *out);
int job_run_log(struct store *s, const char *name, uint64_t id, struct buf *out);
/* run,trigger,start,end,status */
int job_history_csv(struct store *s, const char *name, struct buf *out);
/* The next scheduled start, ISO 8601 UTC and a newline; empty without a
 * schedule. */
int job_next_text(struct store *s, const char *name, struct buf *out);

/* ---- the runner (needs jobs_start) ----
 * Start a run now (TRIGGER "manual", "schedule" or "monitor:NAME"):
 * RUNNING, or QUEUED behind max_concurrent_runs.  *ID gets its number.
 * -ENODATA without job.yaml, -EINVAL when it no longer fits the store,
 * -ESHUTDOWN when no runner is started. */
int job_run_start(struct store *s, const char *name, const char *trigger,
		  uint64_t *id, struct mlfs_err *err);
/* Stop run ID: KILLED.  -EINVAL when it already ended. */
int job_run_kill(struct store *s, const char *name, uint64_t id,
		 struct mlfs_err *err);

/* The daemon's job runner and scheduler, one per store: at start, runs
 * left QUEUED or RUNNING by a dead daemon end FAILED "interrupted"; then
 * every few seconds schedules fire (a fire missed while stopped starts
 * once) and monitor triggers start runs.  CHANGED (may be NULL) is
 * called when a run's state changes (waiters to wake); LOG with a job's
 * name and a message. */
typedef void (*jobs_log_fn)(void *ctx, const char *name, const char *msg);
/* End FAILED "interrupted" (as a lone mount does with every run left
 * QUEUED or RUNNING) the runs QUEUED or RUNNING whose owner (the session
 * that runs them, "o" in the run record; none on the embedded store) GONE
 * says is gone; *N (may be NULL) how many.  The leader's sweep calls it
 * (sweep.h, sweep_set_runs).  0 or <0. */
int jobs_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
		    size_t *n, struct mlfs_err *err);
int jobs_start(struct store *s, jobs_log_fn log, void (*changed)(void *ctx),
	       void *ctx, struct mlfs_err *err);
/* Kill every run, wait for them, stop the threads. */
void jobs_stop(struct store *s);
/* One scheduler pass at NOW_MS (what the thread does; for tests):
 * returns the runs started. */
int jobs_tick(struct store *s, int64_t now_ms);

/* mlfs check: records decode, specs parse.  FN per problem; returns
 * their number or <0. */
int job_check(struct store *s, void (*fn)(void *ctx, const char *problem),
	      void *ctx);

#endif
