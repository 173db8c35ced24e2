/* job_int.h - what the files of engine/jobs share: the job record and
 * the run record (job.c owns the keys j/), and the runner's entry points
 * (run.c executes runs, task.c their tasks, schedule.c starts them).
 * Private to engine/jobs. */
#ifndef MLFS_JOB_INT_H
#define MLFS_JOB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "job.h"
#include "job_spec.h"
#include "names.h"
#include "store.h"

#define JOB_TEXT_MAX (256u << 10)

/* j/m/NAME */
struct job_rec {
	uint64_t id;
	int64_t ctime_ms, mtime_ms;
	uint32_t uid, gid;
	uint32_t mode;		/* the bits mkdir gave (0755 in older
				 * records: their mode is in attrs) */
	struct buf spec;	/* job.yaml as written */
	uint64_t next_run;	/* the next run's number, from 1 */
	int64_t fired_s;	/* the schedule's last fire considered (s) */
	uint64_t seen_batches;	/* the trigger monitor's alert batches seen */
	bool trigger_queued;	/* a trigger run waits behind a running one */
};

void job_rec_free(struct job_rec *r);
int job_rec_load(struct store *s, const char *name, struct job_rec *r);
void job_rec_put(struct store_batch *b, const char *name, const struct job_rec *r);

/* A task's state in its run's record. */
struct task_state {
	char name[NAMES_MAX + 1];
	char kind[16];
	enum job_status status;
	int64_t start_ms, end_ms;
	char output[512];
	char error[512];
	/* what a train or tune task made, for the tasks after it (memory
	 * only): the run and the version it registered (0: none) */
	char res_exp[NAMES_MAX + 1], res_run[NAMES_MAX + 1], res_model[NAMES_MAX + 1];
	uint64_t res_version;
};

/* j/r/ID RUN */
struct run_rec {
	uint64_t run;
	char trigger[NAMES_MAX + 16];
	enum job_status status;
	int64_t start_ms, end_ms;
	char error[512];
	struct task_state *tasks;
	size_t ntasks;
	struct buf log;		/* "TIME task: message" lines */
	/* the writer name of the session that runs it ("o", a remote store's
	 * store_writer_name; "" on the embedded store): jobs_sweep_dead */
	char owner[STORE_WRITER_MAX];
};

void run_rec_free(struct run_rec *r);
int run_rec_load(struct store *s, uint64_t job_id, uint64_t run, struct run_rec *r);
void run_rec_put(struct store_batch *b, uint64_t job_id, const struct run_rec *r);
/* Write R now (synchronously). */
int run_rec_write(struct store *s, uint64_t job_id, const struct run_rec *r,
		  struct mlfs_err *err);
/* Append "TIME TASK: message" to R's log. */
void run_rec_log(struct run_rec *r, const char *task, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The lock of the jobs of store S (records and runs). */
pthread_mutex_t *jobs_lock(struct store *s);
/* The job's text FILE (a spec) into OUT; -ENOENT. */
int job_spec_file(struct store *s, uint64_t job_id, const char *file, struct buf *out);
/* job.yaml of NAME parsed and checked against the store (tables, models,
 * monitor, spec files). */
int job_load_spec(struct store *s, const char *name, const struct job_rec *r,
		  struct job_spec **out, struct mlfs_err *err);

/* run.c: start a run of NAME by TRIGGER - RUNNING, or when
 * max_concurrent_runs run already QUEUED, or with SKIP_WHEN_FULL a
 * SKIPPED run (a schedule's fire) - *ID its number.  How many of a job's
 * runs are QUEUED or RUNNING (under the jobs lock).  The scheduler's
 * stop flag (under the lock) and sleep (cut short by jobs_stop). */
int job_run_begin(struct store *s, const char *name, const char *trigger,
		  bool skip_when_full, uint64_t *id, struct mlfs_err *err);
int jobs_active(struct store *s, uint64_t job_id);
bool jobs_stopping(struct store *s);
void jobs_sleep(struct store *s, int seconds);
/* schedule.c: the scheduler thread's body (ARG: the store). */
void *jobs_scheduler_main(void *arg);
/* The next QUEUED run of the job, if a slot is free: started. */
void jobs_start_queued(struct store *s, const char *name);
void jobs_notify(struct store *s, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* task.c: run task T of SP in run R of job NAME; 0 or the task's error.
 * CANCEL non-zero: stop.  OUT gets the task's output text. */
struct task_ctx {
	struct store *s;
	const char *job;
	uint64_t job_id;
	uint64_t run;
	uint32_t uid, gid;
	const struct job_spec *sp;
	struct run_rec *rec;		/* outputs of earlier tasks (locked) */
	pthread_mutex_t *rec_lock;
	const volatile int *cancel;
};
int task_execute(const struct task_ctx *tc, size_t t, char *output, size_t outlen,
		 struct mlfs_err *err);

#endif
