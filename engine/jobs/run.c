/* run.c - executing job runs: the per-store runner state (runs QUEUED or
 * RUNNING in memory), starting a run or queueing it behind
 * max_concurrent_runs, a thread per run that runs its tasks in graph
 * order - two at a time when they do not wait for each other - and
 * writes the run record through at every task's change, killing, and at
 * start the runs a dead daemon left (FAILED "interrupted").  The tasks
 * themselves are task.c's; when they start, schedule.c's. */
#include "job_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "sweep.h"

#define TASK_SLOTS 2

/* A run QUEUED or RUNNING in this daemon.  Fields but CANCEL are guarded
 * by the jobs lock; CANCEL is read by the tasks without it. */
struct active {
	struct active *next;
	char name[NAMES_MAX + 1];
	uint64_t job_id, run;
	bool running, done;
	bool exited;		/* its thread returns: it can be joined */
	volatile int cancel;
	pthread_t thread;
};

struct jobs_state {
	bool started;		/* jobs_start ran; guarded by the jobs lock */
	bool stopping;
	struct active *runs;
	jobs_log_fn log;
	void (*changed)(void *ctx);
	void *ctx;
	pthread_t sched;
	bool sched_on;
	pthread_cond_t wake;	/* the scheduler's sleep */
};

static const int state_key = 0;

static void *state_make(void)
{
	struct jobs_state *js = calloc(1, sizeof(*js));
	if (!js)
		mlfs_oom();
	pthread_cond_init(&js->wake, NULL);
	return js;
}

static void state_free(void *p)
{
	struct jobs_state *js = p;
	pthread_cond_destroy(&js->wake);
	free(js);
}

static struct jobs_state *jobs_state(struct store *s)
{
	return store_state(s, &state_key, state_make, state_free);
}

void jobs_notify(struct store *s, const char *name, const char *fmt, ...)
{
	struct jobs_state *js = jobs_state(s);
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (js->log)
		js->log(js->ctx, name, msg);
}

static void changed(struct store *s)
{
	struct jobs_state *js = jobs_state(s);
	if (js->changed)
		js->changed(js->ctx);
}

/* Under the jobs lock. */
int jobs_active(struct store *s, uint64_t job_id)
{
	int n = 0;
	for (struct active *a = jobs_state(s)->runs; a; a = a->next)
		n += a->job_id == job_id && !a->done;
	return n;
}

static int running_count(struct jobs_state *js, uint64_t job_id)
{
	int n = 0;
	for (struct active *a = js->runs; a; a = a->next)
		n += a->job_id == job_id && a->running && !a->done;
	return n;
}

/* ---- one run ---- */

struct run_thread {
	struct store *s;
	struct active *a;
};

struct run_exec {
	struct store *s;
	struct active *a;
	struct job_rec job;
	struct job_spec *sp;
	struct run_rec rec;		/* guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t done;		/* a task ended */
	int running;			/* tasks under way */
};

static void exec_write(struct run_exec *x)
{
	/* under x->lock */
	run_rec_write(x->s, x->job.id, &x->rec, NULL);
	changed(x->s);
}

struct task_thread {
	struct run_exec *x;
	size_t t;
	pthread_t thread;
};

static void *task_main(void *arg)
{
	struct task_thread *tt = arg;
	struct run_exec *x = tt->x;
	struct task_state *ts = &x->rec.tasks[tt->t];
	char output[512] = "";
	struct mlfs_err err = { 0 };
	struct task_ctx tc = {
		x->s, x->a->name, x->job.id, x->a->run, x->job.uid, x->job.gid, x->sp,
		&x->rec, &x->lock, &x->a->cancel,
	};
	int rc = task_execute(&tc, tt->t, output, sizeof(output), &err);
	pthread_mutex_lock(&x->lock);
	ts->end_ms = clock_now_ms();
	snprintf(ts->output, sizeof(ts->output), "%s", output);
	if (rc == -ECANCELED || (rc && x->a->cancel)) {
		ts->status = JOB_KILLED;
		run_rec_log(&x->rec, ts->name, "killed");
	} else if (rc) {
		ts->status = JOB_FAILED;
		snprintf(ts->error, sizeof(ts->error), "%s", err.msg[0] ? err.msg : "failed");
		run_rec_log(&x->rec, ts->name, "failed: %s", ts->error);
		jobs_notify(x->s, x->a->name, "run %" PRIu64 " task %s failed: %s", x->a->run,
			    ts->name, ts->error);
	} else {
		ts->status = JOB_FINISHED;
		run_rec_log(&x->rec, ts->name, "finished%s%s", output[0] ? ": " : "", output);
	}
	x->running--;
	exec_write(x);
	pthread_cond_signal(&x->done);
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* Task T's fate from those it waits for: 1 ready, 0 not yet, -1 skip. */
static int readiness(const struct run_exec *x, size_t t)
{
	const struct job_task *task = &x->sp->tasks[t];
	int r = 1;
	for (size_t i = 0; i < task->nafter; i++) {
		enum job_status st = x->rec.tasks[task->after[i]].status;
		if (st == JOB_FAILED || st == JOB_SKIPPED || st == JOB_KILLED)
			return -1;
		if (st != JOB_FINISHED)
			r = 0;
	}
	return r;
}

/* Run every task: start the ready ones (in graph order, two at a time),
 * skip those whose dependency did not finish, until none is left. */
static void run_tasks(struct run_exec *x)
{
	struct task_thread threads[JOB_MAX_TASKS];
	size_t nthreads = 0;
	pthread_mutex_lock(&x->lock);
	for (;;) {
		bool pending = false;
		for (size_t k = 0; k < x->sp->ntasks; k++) {
			size_t t = x->sp->order[k];
			struct task_state *ts = &x->rec.tasks[t];
			if (ts->status != JOB_QUEUED)
				continue;
			int r = x->a->cancel ? -1 : readiness(x, t);
			if (r < 0) {
				ts->status = JOB_SKIPPED;
				ts->end_ms = clock_now_ms();
				run_rec_log(&x->rec, ts->name, "skipped: %s", x->a->cancel ? "the run was killed" : "a task it waits for did not finish");
				exec_write(x);
				continue;
			}
			pending = true;
			if (r == 0 || x->running >= TASK_SLOTS)
				continue;
			ts->status = JOB_RUNNING;
			ts->start_ms = clock_now_ms();
			run_rec_log(&x->rec, ts->name, "started");
			exec_write(x);
			struct task_thread *tt = &threads[nthreads];
			*tt = (struct task_thread){ x, t, 0 };
			if (pthread_create(&tt->thread, NULL, task_main, tt)) {
				ts->status = JOB_FAILED;
				snprintf(ts->error, sizeof(ts->error), "no thread to run it");
				continue;
			}
			nthreads++;
			x->running++;
		}
		if (!pending && !x->running)
			break;
		pthread_cond_wait(&x->done, &x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	for (size_t i = 0; i < nthreads; i++)
		pthread_join(threads[i].thread, NULL);
}

static void *run_main(void *arg)
{
	struct run_thread *rt = arg;
	struct run_exec x = { .s = rt->s, .a = rt->a };
	struct mlfs_err err = { 0 };
	pthread_mutex_init(&x.lock, NULL);
	pthread_cond_init(&x.done, NULL);
	free(rt);
	int rc = job_rec_load(x.s, x.a->name, &x.job);
	if (!rc)
		rc = run_rec_load(x.s, x.job.id, x.a->run, &x.rec);
	if (!rc && !(rc = job_load_spec(x.s, x.a->name, &x.job, &x.sp, &err)) &&
	    x.sp->ntasks != x.rec.ntasks)
		rc = mlfs_fail(&err, -EINVAL, "job.yaml changed under the run");
	if (!rc) {
		run_tasks(&x);
		bool failed = false, killed = false;
		for (size_t i = 0; i < x.rec.ntasks; i++) {
			failed |= x.rec.tasks[i].status == JOB_FAILED;
			killed |= x.rec.tasks[i].status == JOB_KILLED;
		}
		x.rec.status = killed || x.a->cancel ? JOB_KILLED : failed ? JOB_FAILED : JOB_FINISHED;
	} else if (x.rec.run) {
		x.rec.status = JOB_FAILED;
		snprintf(x.rec.error, sizeof(x.rec.error), "%s", err.msg);
	}
	if (x.rec.run) {
		x.rec.end_ms = clock_now_ms();
		run_rec_log(&x.rec, "run", "%s", job_status_name(x.rec.status));
		run_rec_write(x.s, x.job.id, &x.rec, NULL);
		jobs_notify(x.s, x.a->name, "run %" PRIu64 " %s", x.a->run, job_status_name(x.rec.status));
	}
	pthread_mutex_lock(jobs_lock(x.s));
	x.a->done = true;
	pthread_mutex_unlock(jobs_lock(x.s));
	changed(x.s);
	jobs_start_queued(x.s, x.a->name);
	job_spec_free(x.sp);
	job_rec_free(&x.job);
	run_rec_free(&x.rec);
	pthread_mutex_destroy(&x.lock);
	pthread_cond_destroy(&x.done);
	pthread_mutex_lock(jobs_lock(x.s));
	x.a->exited = true;
	pthread_mutex_unlock(jobs_lock(x.s));
	return NULL;
}

/* Under the jobs lock: forget the runs whose threads are gone. */
static void reap(struct jobs_state *js)
{
	for (struct active **p = &js->runs; *p;) {
		struct active *a = *p;
		if (a->done && (a->exited || !a->running)) {
			if (a->running)
				pthread_join(a->thread, NULL);
			*p = a->next;
			free(a);
		} else {
			p = &a->next;
		}
	}
}

/* Under the jobs lock: start A's thread. */
static int launch(struct store *s, struct active *a, struct mlfs_err *err)
{
	struct run_thread *rt = malloc(sizeof(*rt));
	if (!rt)
		mlfs_oom();
	*rt = (struct run_thread){ s, a };
	a->running = true;
	if (pthread_create(&a->thread, NULL, run_main, rt)) {
		free(rt);
		a->running = false;
		return mlfs_fail(err, -EAGAIN, "no thread for the run");
	}
	return 0;
}

/* ---- starting, queueing, killing ---- */

static struct active *active_add(struct jobs_state *js, const char *name, uint64_t job_id,
				 uint64_t run)
{
	struct active *a = calloc(1, sizeof(*a));
	if (!a)
		mlfs_oom();
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->job_id = job_id;
	a->run = run;
	struct active **tail = &js->runs;
	while (*tail)
		tail = &(*tail)->next;
	*tail = a;
	return a;
}

int job_run_begin(struct store *s, const char *name, const char *trigger,
		  bool skip_when_full, uint64_t *id, struct mlfs_err *err)
{
	struct jobs_state *js = jobs_state(s);
	struct job_rec r;
	struct job_spec *sp = NULL;
	struct run_rec rec = { 0 };
	pthread_mutex_lock(jobs_lock(s));
	reap(js);
	int rc = js->started && !js->stopping ? 0 : mlfs_fail(err, -ESHUTDOWN, "no job runner (the store is not mounted)");
	if (!rc && (rc = job_rec_load(s, name, &r)))
		rc = mlfs_fail(err, -ENOENT, "no job '%s'", name);
	if (!rc)
		rc = job_load_spec(s, name, &r, &sp, err);
	if (!rc) {
		bool full = running_count(js, r.id) >= (int)sp->max_concurrent_runs;
		rec.run = r.next_run++;
		snprintf(rec.trigger, sizeof(rec.trigger), "%s", trigger);
		snprintf(rec.owner, sizeof(rec.owner), "%s", store_writer_name(s));
		rec.start_ms = clock_now_ms();
		rec.status = full ? (skip_when_full ? JOB_SKIPPED : JOB_QUEUED) : JOB_RUNNING;
		if (rec.status == JOB_SKIPPED) {
			rec.end_ms = rec.start_ms;
			snprintf(rec.error, sizeof(rec.error), "max_concurrent_runs (%u) runs were RUNNING",
				 sp->max_concurrent_runs);
		}
		rec.ntasks = sp->ntasks;
		rec.tasks = calloc(sp->ntasks + 1, sizeof(*rec.tasks));
		if (!rec.tasks)
			mlfs_oom();
		for (size_t i = 0; i < sp->ntasks; i++) {
			snprintf(rec.tasks[i].name, sizeof(rec.tasks[i].name), "%s", sp->tasks[i].name);
			snprintf(rec.tasks[i].kind, sizeof(rec.tasks[i].kind), "%s", job_kind_name(sp->tasks[i].kind));
			rec.tasks[i].status = rec.status == JOB_SKIPPED ? JOB_SKIPPED : JOB_QUEUED;
		}
		run_rec_log(&rec, "run", "%s by %s", job_status_name(rec.status), trigger);
		struct store_batch *b = store_batch_new();
		job_rec_put(b, name, &r);
		run_rec_put(b, r.id, &rec);
		rc = store_write(s, b, true, err);
		store_batch_free(b);
	}
	if (!rc && rec.status != JOB_SKIPPED) {
		struct active *a = active_add(js, name, r.id, rec.run);
		if (rec.status == JOB_RUNNING)
			rc = launch(s, a, err);
	}
	if (!rc)
		*id = rec.run;
	pthread_mutex_unlock(jobs_lock(s));
	job_spec_free(sp);
	job_rec_free(&r);
	run_rec_free(&rec);
	changed(s);
	return rc;
}

int job_run_start(struct store *s, const char *name, const char *trigger,
		  uint64_t *id, struct mlfs_err *err)
{
	return job_run_begin(s, name, trigger, false, id, err);
}

void jobs_start_queued(struct store *s, const char *name)
{
	struct jobs_state *js = jobs_state(s);
	struct job_rec r;
	struct job_spec *sp = NULL;
	pthread_mutex_lock(jobs_lock(s));
	if (js->stopping || job_rec_load(s, name, &r)) {
		pthread_mutex_unlock(jobs_lock(s));
		return;
	}
	unsigned max = 1;
	if (!job_spec_parse(r.spec.data ? r.spec.data : "", r.spec.len, &sp, NULL))
		max = sp->max_concurrent_runs;
	for (struct active *a = js->runs; a; a = a->next) {
		if (a->job_id != r.id || a->running || a->done)
			continue;
		if (running_count(js, r.id) >= (int)max)
			break;
		struct run_rec rec;
		if (!run_rec_load(s, r.id, a->run, &rec)) {
			rec.status = JOB_RUNNING;
			rec.start_ms = clock_now_ms();
			run_rec_log(&rec, "run", "RUNNING: a slot is free");
			run_rec_write(s, r.id, &rec, NULL);
			run_rec_free(&rec);
		}
		launch(s, a, NULL);
	}
	pthread_mutex_unlock(jobs_lock(s));
	job_spec_free(sp);
	job_rec_free(&r);
	changed(s);
}

int job_run_kill(struct store *s, const char *name, uint64_t id, struct mlfs_err *err)
{
	struct jobs_state *js = jobs_state(s);
	struct job_rec r;
	int rc = -ENOENT;
	pthread_mutex_lock(jobs_lock(s));
	if (!job_rec_load(s, name, &r)) {
		rc = mlfs_fail(err, -EINVAL, "run %" PRIu64 " of %s is not QUEUED or RUNNING", id, name);
		for (struct active *a = js->runs; a; a = a->next) {
			if (a->job_id != r.id || a->run != id || a->done)
				continue;
			a->cancel = 1;
			rc = 0;
			if (!a->running) {
				/* never started: it ends here */
				struct run_rec rec;
				a->done = true;
				if (!run_rec_load(s, r.id, id, &rec)) {
					rec.status = JOB_KILLED;
					rec.end_ms = clock_now_ms();
					for (size_t i = 0; i < rec.ntasks; i++)
						rec.tasks[i].status = JOB_SKIPPED;
					run_rec_log(&rec, "run", "KILLED while QUEUED");
					run_rec_write(s, r.id, &rec, NULL);
					run_rec_free(&rec);
				}
			}
		}
	}
	pthread_mutex_unlock(jobs_lock(s));
	job_rec_free(&r);
	changed(s);
	return rc;
}

/* ---- the daemon's start and stop ---- */

/* The runs to end FAILED "interrupted": all those QUEUED or RUNNING (GONE
 * NULL: a mount alone with the store), or those whose owner GONE says is
 * gone (the leader's sweep). */
struct interrupt_ctx {
	struct store *s;
	uint64_t job_id;
	bool (*gone)(void *ctx, const char *owner);
	void *gone_ctx;
	size_t n;		/* runs marked */
	struct mlfs_err *err;
};

static int interrupt_run(void *ctx, uint64_t id)
{
	struct interrupt_ctx *ic = ctx;
	struct run_rec rec;
	int rc = 0;
	if (run_rec_load(ic->s, ic->job_id, id, &rec))
		return 0;
	if ((rec.status == JOB_QUEUED || rec.status == JOB_RUNNING) &&
	    (!ic->gone || (rec.owner[0] && ic->gone(ic->gone_ctx, rec.owner)))) {
		rec.status = JOB_FAILED;
		rec.end_ms = clock_now_ms();
		snprintf(rec.error, sizeof(rec.error), "interrupted");
		for (size_t i = 0; i < rec.ntasks; i++) {
			struct task_state *t = &rec.tasks[i];
			if (t->status == JOB_RUNNING) {
				t->status = JOB_FAILED;
				t->end_ms = rec.end_ms;
				snprintf(t->error, sizeof(t->error), "interrupted");
			} else if (t->status == JOB_QUEUED) {
				t->status = JOB_SKIPPED;
			}
		}
		run_rec_log(&rec, "run", "FAILED: interrupted (the daemon stopped under it)");
		rc = run_rec_write(ic->s, ic->job_id, &rec, ic->err);
		ic->n += !rc;
	}
	run_rec_free(&rec);
	return ic->gone ? rc : 0;
}

static int interrupt_job(void *ctx, const char *name)
{
	struct interrupt_ctx *ic = ctx;
	struct job_rec r;
	int rc = 0;
	if (!job_rec_load(ic->s, name, &r)) {
		ic->job_id = r.id;
		rc = job_run_list(ic->s, name, interrupt_run, ic);
	}
	job_rec_free(&r);
	return ic->gone ? rc : 0;
}

int jobs_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
		    size_t *n, struct mlfs_err *err)
{
	struct interrupt_ctx ic = { .s = s, .gone = gone, .gone_ctx = ctx, .err = err };
	int rc = job_list(s, interrupt_job, &ic);
	if (n)
		*n = rc ? 0 : ic.n;
	if (rc && err && !err->msg[0])
		mlfs_fail(err, rc, "job runs: %s", strerror(-rc));
	return rc;
}

int jobs_start(struct store *s, jobs_log_fn log, void (*changed_fn)(void *ctx),
	       void *ctx, struct mlfs_err *err)
{
	struct jobs_state *js = jobs_state(s);
	/* Runs left QUEUED or RUNNING are a dead daemon's, unless another
	 * host's mount is alive: they may be its (cluster.h). */
	struct interrupt_ctx ic = { .s = s };
	if (cluster_others(s, NULL) == 0)
		job_list(s, interrupt_job, &ic);
	sweep_set_runs(s, jobs_sweep_dead);	/* the other hosts' dead runs */
	pthread_mutex_lock(jobs_lock(s));
	js->log = log;
	js->changed = changed_fn;
	js->ctx = ctx;
	js->started = true;
	js->stopping = false;
	js->sched_on = pthread_create(&js->sched, NULL, jobs_scheduler_main, s) == 0;
	pthread_mutex_unlock(jobs_lock(s));
	return js->sched_on ? 0 : mlfs_fail(err, -EAGAIN, "no scheduler thread");
}

bool jobs_stopping(struct store *s)
{
	return jobs_state(s)->stopping;
}

void jobs_sleep(struct store *s, int seconds)
{
	struct jobs_state *js = jobs_state(s);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(jobs_lock(s));
	while (!js->stopping && pthread_cond_timedwait(&js->wake, jobs_lock(s), &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(jobs_lock(s));
}

void jobs_stop(struct store *s)
{
	struct jobs_state *js = jobs_state(s);
	pthread_mutex_lock(jobs_lock(s));
	if (!js->started) {
		pthread_mutex_unlock(jobs_lock(s));
		return;
	}
	js->stopping = true;
	pthread_cond_broadcast(&js->wake);
	for (struct active *a = js->runs; a; a = a->next)
		a->cancel = 1;
	pthread_mutex_unlock(jobs_lock(s));
	if (js->sched_on)
		pthread_join(js->sched, NULL);
	/* the runs end KILLED; their threads are joined here */
	for (;;) {
		pthread_mutex_lock(jobs_lock(s));
		struct active *a = js->runs;
		if (a)
			js->runs = a->next;
		pthread_mutex_unlock(jobs_lock(s));
		if (!a)
			break;
		if (a->running)
			pthread_join(a->thread, NULL);
		free(a);
	}
	pthread_mutex_lock(jobs_lock(s));
	js->started = false;
	js->sched_on = false;
	pthread_mutex_unlock(jobs_lock(s));
}
