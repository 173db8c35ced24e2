/* schedule.c - when jobs start by themselves: a thread that every two
 * seconds fires each job's cron schedule (the first fire after the last
 * one considered: a fire missed while the store was not mounted starts
 * once at the next mount, as anacron) and starts a run per new alert
 * batch of a trigger's monitor (never a second one QUEUED).  Only on the
 * host that leads the cluster's scheduler role, and each occurrence only
 * once it is claimed (cluster.h), so a new leader skips what the old one
 * started.  Starting is run.c's.  The leader also checkpoints a remote
 * store every STORE_CHECKPOINT_EVERY log entries (store.h) and sweeps
 * what dead hosts left in it (sweep.h). */
#include "job_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "monitor.h"
#include "sweep.h"

#define TICK_S 2

struct tick_ctx {
	struct store *s;
	int64_t now_s;
	int started;
	kv_rev fence;		/* this leader's token */
	bool deposed;		/* a claim failed: start nothing more */
};

/* Claim occurrence SEQ of job ID's KIND of start ("schedule": SEQ the
 * scheduled time; "trigger": the alert batches) before starting it:
 * 1 claimed here, start it; 0 claimed before (another leader started
 * it), skip it; -1 not claimable now (deposed, or the kv failed): leave
 * it for the next tick and the next leader. */
static int claim(struct tick_ctx *tc, const char *name, uint64_t id, const char *kind,
		 uint64_t seq)
{
	char what[64];
	struct mlfs_err err = { 0 };
	snprintf(what, sizeof(what), "job/%" PRIu64 "/%s", id, kind);
	int rc = cluster_claim(tc->s, CLUSTER_SCHEDULER, tc->fence, what, seq, &err);
	if (rc == -EALREADY)
		return 0;
	if (rc) {
		tc->deposed = true;
		jobs_notify(tc->s, name, "%s run not started: %s", kind, err.msg);
		return -1;
	}
	return 1;
}

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
	if (jobs_stopping(tc->s) || tc->deposed)
		return 1;
	if (job_rec_load(tc->s, name, &r) || !r.spec.len ||
	    job_spec_parse(r.spec.data, r.spec.len, &sp, NULL)) {
		job_rec_free(&r);
		return 0;
	}
	int64_t next;
	int claimed = 0;
	if (sp->has_schedule && !cron_next(&sp->cron, r.fired_s, &next) && next <= tc->now_s &&
	    (claimed = claim(tc, name, r.id, "schedule", (uint64_t)next)) >= 0) {
		int rc = claimed ? job_run_begin(tc->s, name, "schedule", true, &id, &err) : 0;
		if (rc)
			jobs_notify(tc->s, name, "scheduled run not started: %s", err.msg);
		else
			tc->started += claimed;
		save_marks(tc->s, name, tc->now_s, -1);
	}
	int64_t batches = sp->has_trigger ? batches_of(tc->s, sp) : -1;
	if (claimed >= 0 && batches > (int64_t)r.seen_batches) {
		pthread_mutex_lock(jobs_lock(tc->s));
		int active = jobs_active(tc->s, r.id);
		pthread_mutex_unlock(jobs_lock(tc->s));
		/* one behind a running one at most */
		int won = 0;
		if (active <= (int)sp->max_concurrent_runs)
			won = claim(tc, name, r.id, "trigger", (uint64_t)batches);
		if (won > 0) {
			char trigger[NAMES_MAX + 16];
			snprintf(trigger, sizeof(trigger), "monitor:%s", sp->trigger_monitor);
			int rc = job_run_begin(tc->s, name, trigger, false, &id, &err);
			if (rc)
				jobs_notify(tc->s, name, "triggered run not started: %s", err.msg);
			else
				tc->started++;
		}
		if (won >= 0)
			save_marks(tc->s, name, -1, batches);
	}
	job_spec_free(sp);
	job_rec_free(&r);
	return 0;
}

int jobs_tick(struct store *s, int64_t now_ms)
{
	struct tick_ctx tc = { s, now_ms / 1000, 0, 0, false };
	if (!cluster_leads(s, CLUSTER_SCHEDULER, &tc.fence))
		return 0;
	job_list(s, tick_one, &tc);
	return tc.started;
}

/* The leader keeps the remote store's log short (docs/scale-out.md,
 * "Checkpoints"): here, off the FUSE workers. */
static void checkpoint_tick(struct store *s)
{
	struct mlfs_err err = { 0 };
	if (store_is_remote(s) && cluster_leads(s, CLUSTER_SCHEDULER, NULL) &&
	    store_checkpoint_auto(s, STORE_CHECKPOINT_EVERY, &err) < 0)
		store_notify(s, "store checkpoint: %s", err.msg);
}

void *jobs_scheduler_main(void *arg)
{
	struct store *s = arg;
	while (!jobs_stopping(s)) {
		jobs_tick(s, clock_now_ms());
		checkpoint_tick(s);
		sweep_tick(s);
		jobs_sleep(s, TICK_S);
	}
	return NULL;
}
