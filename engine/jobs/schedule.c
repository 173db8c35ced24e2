/* schedule.c - when jobs start by themselves: a thread that every two
 * seconds fires each job's cron schedule (the first fire after the last
 * one considered: a fire missed while the store was not mounted starts
 * once at the next mount, as anacron) and starts a run per new alert
 * batch of a trigger's monitor (never a second one QUEUED).  Starting is
 * run.c's. */
#include "job_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "monitor.h"

#define TICK_S 2

struct tick_ctx {
	struct store *s;
	int64_t now_s;
	int started;
};

/* The trigger's monitor's alert batches now (HIGH ones, or all for a
 * medium trigger); -1 when it is gone. */
static int64_t batches_of(struct store *s, const struct job_spec *sp)
{
	struct monitor_info mi;
	if (monitor_stat(s, sp->trigger_monitor, &mi))
		return -1;
	return (int64_t)(sp->trigger_medium ? mi.alert_batches : mi.high_batches);
}

static void save_marks(struct store *s, const char *name, int64_t fired_s, int64_t seen)
{
	struct job_rec r;
	pthread_mutex_lock(jobs_lock(s));
	if (!job_rec_load(s, name, &r)) {
		if (fired_s >= 0)
			r.fired_s = fired_s;
		if (seen >= 0)
			r.seen_batches = (uint64_t)seen;
		struct store_batch *b = store_batch_new();
		job_rec_put(b, name, &r);
		store_write(s, b, true, NULL);
		store_batch_free(b);
	}
	pthread_mutex_unlock(jobs_lock(s));
	job_rec_free(&r);
}

static int tick_one(void *arg, const char *name)
{
	struct tick_ctx *tc = arg;
	struct job_rec r;
	struct job_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	uint64_t id;
	if (jobs_stopping(tc->s))
		return 1;
	if (job_rec_load(tc->s, name, &r) || !r.spec.len ||
	    job_spec_parse(r.spec.data, r.spec.len, &sp, NULL)) {
		job_rec_free(&r);
		return 0;
	}
	int64_t next;
	if (sp->has_schedule && !cron_next(&sp->cron, r.fired_s, &next) && next <= tc->now_s) {
		int rc = job_run_begin(tc->s, name, "schedule", true, &id, &err);
		if (rc)
			jobs_notify(tc->s, name, "scheduled run not started: %s", err.msg);
		else
			tc->started++;
		save_marks(tc->s, name, tc->now_s, -1);
	}
	int64_t batches = sp->has_trigger ? batches_of(tc->s, sp) : -1;
	if (batches > (int64_t)r.seen_batches) {
		pthread_mutex_lock(jobs_lock(tc->s));
		int active = jobs_active(tc->s, r.id);
		pthread_mutex_unlock(jobs_lock(tc->s));
		/* one behind a running one at most */
		if (active <= (int)sp->max_concurrent_runs) {
			char trigger[NAMES_MAX + 16];
			snprintf(trigger, sizeof(trigger), "monitor:%s", sp->trigger_monitor);
			int rc = job_run_begin(tc->s, name, trigger, false, &id, &err);
			if (rc)
				jobs_notify(tc->s, name, "triggered run not started: %s", err.msg);
			else
				tc->started++;
		}
		save_marks(tc->s, name, -1, batches);
	}
	job_spec_free(sp);
	job_rec_free(&r);
	return 0;
}

int jobs_tick(struct store *s, int64_t now_ms)
{
	struct tick_ctx tc = { s, now_ms / 1000, 0 };
	job_list(s, tick_one, &tc);
	return tc.started;
}

void *jobs_scheduler_main(void *arg)
{
	struct store *s = arg;
	while (!jobs_stopping(s)) {
		jobs_tick(s, clock_now_ms());
		jobs_sleep(s, TICK_S);
	}
	return NULL;
}
