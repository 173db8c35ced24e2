/* schedule.c - the daemon's refresh of every monitor once per
 * granularity: a thread that wakes every few seconds, refreshes each
 * monitor whose last refresh is a granularity old (at start: every one
 * that is due, so a refresh missed while unmounted happens at mount) and
 * says what it did through a log callback.  The refresh itself runs on
 * this thread, never on a FUSE worker, and only on the host that leads
 * the cluster's scheduler role (cluster.h): one host refreshes. */
#include "monitor_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cluster.h"

#define TICK_S 5

struct monitor_scheduler {
	struct store *s;
	monitor_log_fn log;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;		/* guarded by lock */
};

struct tick_ctx {
	struct store *s;
	int64_t now_ms;
	monitor_log_fn log;
	void *ctx;
	int refreshed;
	struct monitor_scheduler *ms;	/* NULL from tests */
};

static bool stopping(struct monitor_scheduler *ms)
{
	if (!ms)
		return false;
	pthread_mutex_lock(&ms->lock);
	bool stop = ms->stop;
	pthread_mutex_unlock(&ms->lock);
	return stop;
}

static int tick_one(void *arg, const char *name)
{
	struct tick_ctx *tc = arg;
	struct mon_record r;
	struct mlfs_err err = { 0 };
	if (stopping(tc->ms) || !cluster_leads(tc->s, CLUSTER_SCHEDULER, NULL))
		return 1;
	if (mon_record_load(tc->s, NULL, name, &r))
		return 0;
	bool due = r.spec.len && r.gran_s > 0 && tc->now_ms - r.last_ms >= r.gran_s * 1000;
	mon_record_free(&r);
	if (!due)
		return 0;
	int rc = monitor_refresh(tc->s, name, false, &err);
	tc->refreshed++;
	if (tc->log) {
		struct buf msg = { 0 };
		if (rc)
			buf_printf(&msg, "scheduled refresh failed: %s", err.msg);
		else
			buf_puts(&msg, "scheduled refresh done");
		tc->log(tc->ctx, name, msg.data);
		buf_free(&msg);
	}
	return 0;
}

int monitor_scheduler_tick(struct store *s, int64_t now_ms, monitor_log_fn log,
			   void *ctx)
{
	struct tick_ctx tc = { s, now_ms, log, ctx, 0, NULL };
	monitor_list(s, tick_one, &tc);
	return tc.refreshed;
}

static void *scheduler_main(void *arg)
{
	struct monitor_scheduler *ms = arg;
	for (;;) {
		struct tick_ctx tc = { ms->s, clock_now_ms(), ms->log, ms->ctx, 0, ms };
		monitor_list(ms->s, tick_one, &tc);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += TICK_S;
		pthread_mutex_lock(&ms->lock);
		while (!ms->stop && pthread_cond_timedwait(&ms->wake, &ms->lock, &until) != ETIMEDOUT)
			;
		bool stop = ms->stop;
		pthread_mutex_unlock(&ms->lock);
		if (stop)
			return NULL;
	}
}

int monitor_scheduler_start(struct store *s, monitor_log_fn log, void *ctx,
			    struct monitor_scheduler **out)
{
	struct monitor_scheduler *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	ms->s = s;
	ms->log = log;
	ms->ctx = ctx;
	pthread_mutex_init(&ms->lock, NULL);
	pthread_cond_init(&ms->wake, NULL);
	if (pthread_create(&ms->thread, NULL, scheduler_main, ms)) {
		pthread_mutex_destroy(&ms->lock);
		pthread_cond_destroy(&ms->wake);
		free(ms);
		return -EAGAIN;
	}
	*out = ms;
	return 0;
}

void monitor_scheduler_stop(struct monitor_scheduler *ms)
{
	if (!ms)
		return;
	pthread_mutex_lock(&ms->lock);
	ms->stop = true;
	pthread_cond_signal(&ms->wake);
	pthread_mutex_unlock(&ms->lock);
	pthread_join(ms->thread, NULL);
	pthread_mutex_destroy(&ms->lock);
	pthread_cond_destroy(&ms->wake);
	free(ms);
}
