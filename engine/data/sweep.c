/* sweep.c - the elected scheduler's sweep of dead writers' leftovers in a
 * remote store (sweep.h): which writers are dead, with the grace period,
 * and the one line that says what went.  What to remove is the owning
 * modules' (table_sweep_dead, columnar_sweep_dead, blob_sweep_dead,
 * store_sweep_dead, and above: trainset_form_sweep_dead, jobs_sweep_dead,
 * train_sweep_dead).
 *
 * A writer named by a leftover moves:
 *   unknown -> suspect (SINCE = now)  a sweep finds its session absent
 *   suspect -> unknown                its session is live again, or no
 *                                     leftover names it any more
 *   suspect -> dead                   a sweep SINCE + grace or later finds
 *                                     its session still absent: its
 *                                     leftovers go in that sweep */
#include "sweep.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "buf.h"
#include "clock.h"
#include "cluster.h"
#include "columnar.h"
#include "table.h"

struct suspect {
	char name[STORE_WRITER_MAX];
	int64_t since_ns;	/* the first sweep that found it absent */
	bool seen;		/* named by a leftover in this sweep */
	bool dead;		/* its leftovers go in this sweep */
};

struct sweeper {
	pthread_mutex_t lock;	/* one sweep at a time; guards the rest */
	struct suspect *v;
	size_t n, cap;
	int interval_s;		/* 0: SWEEP_EVERY_S */
	int64_t last_ns;	/* monotonic time of the last sweep */
	bool led;		/* led the scheduler role at the last tick */
	sweep_fn runs;		/* sweep_set_runs */
	sweep_fn trainings;	/* sweep_set_trainings */
	sweep_fn forms;		/* sweep_set_forms */
};

static const char sweeper_key;

#define SWEEP_TRIES 8	/* of each module's sweep, against conflicts */

static void *sweeper_new(void)
{
	struct sweeper *sw = calloc(1, sizeof(*sw));
	if (!sw)
		mlfs_oom();
	pthread_mutex_init(&sw->lock, NULL);
	return sw;
}

static void sweeper_free(void *p)
{
	struct sweeper *sw = p;
	pthread_mutex_destroy(&sw->lock);
	free(sw->v);
	free(sw);
}

static struct sweeper *sweeper_of(struct store *s)
{
	return store_state(s, &sweeper_key, sweeper_new, sweeper_free);
}

/* One sweep: the live sessions, read once, and the clock. */
struct round {
	struct sweeper *sw;
	const char *self;	/* this store's writer name: never dead */
	char **live;
	size_t nlive, cap;
	int64_t now_ns, grace_ns;
};

static int add_live(void *ctx, const char *name)
{
	struct round *r = ctx;
	if (r->nlive == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 8;
		if (!(r->live = realloc(r->live, r->cap * sizeof(*r->live))))
			mlfs_oom();
	}
	r->live[r->nlive++] = mlfs_strdup(name);
	return 0;
}

static bool is_live(const struct round *r, const char *name)
{
	for (size_t i = 0; i < r->nlive; i++)
		if (!strcmp(r->live[i], name))
			return true;
	return false;
}

static struct suspect *suspect_find(struct sweeper *sw, const char *name)
{
	for (size_t i = 0; i < sw->n; i++)
		if (!strcmp(sw->v[i].name, name))
			return &sw->v[i];
	return NULL;
}

/* The sweep's verdict on the writer NAME of a leftover (the modules'
 * GONE): dead only when suspected for the grace period. */
static bool writer_gone(void *ctx, const char *name)
{
	struct round *r = ctx;
	struct sweeper *sw = r->sw;
	if (!strcmp(name, r->self) || is_live(r, name) || strlen(name) >= STORE_WRITER_MAX)
		return false;
	struct suspect *x = suspect_find(sw, name);
	if (!x) {
		if (sw->n == sw->cap) {
			sw->cap = sw->cap ? 2 * sw->cap : 8;
			if (!(sw->v = realloc(sw->v, sw->cap * sizeof(*sw->v))))
				mlfs_oom();
		}
		x = &sw->v[sw->n++];
		memset(x, 0, sizeof(*x));
		strcpy(x->name, name);
		x->since_ns = r->now_ns;
	}
	x->seen = true;
	if (r->now_ns - x->since_ns >= r->grace_ns)
		x->dead = true;
	return x->dead;
}

/* After a sweep: forget the suspects no leftover named; the dead ones'
 * names into NAMES.  Returns how many were dead. */
static size_t suspects_settle(struct sweeper *sw, struct buf *names)
{
	size_t kept = 0, dead = 0;
	for (size_t i = 0; i < sw->n; i++) {
		struct suspect *x = &sw->v[i];
		if (x->dead) {
			buf_printf(names, "%s%s", dead++ ? ", " : "", x->name);
			continue;	/* what it left went: a name seen again starts over */
		}
		if (!x->seen)
			continue;
		x->seen = false;
		sw->v[kept++] = *x;
	}
	sw->n = kept;
	return dead;
}

static int sweep_locked(struct store *s, struct sweeper *sw, int64_t now_ns,
			struct sweep_counts *c, struct mlfs_err *err)
{
	struct round r = { .sw = sw, .self = store_writer_name(s), .now_ns = now_ns,
			   .grace_ns = (int64_t)SWEEP_GRACE_TTLS * cluster_ttl(s) * 1000000000 };
	/* each module's sweep, tried again on a catch-up when another host
	 * changed what it read (its own appends' writer records) */
	const struct {
		sweep_fn fn;
		size_t *n;
	} steps[] = {
		{ table_sweep_dead, &c->tables }, { columnar_sweep_dead, &c->builds },
		{ blob_sweep_dead, &c->blobs }, { store_sweep_dead, &c->objects },
		{ sw->forms, &c->forms }, { sw->runs, &c->runs },
		{ sw->trainings, &c->trainings },
	};
	struct buf names = { 0 };
	int rc = cluster_live(s, add_live, &r, err);
	for (size_t i = 0; !rc && i < sizeof(steps) / sizeof(steps[0]); i++)
		for (int tries = 0; steps[i].fn && tries < SWEEP_TRIES; tries++) {
			store_txn_begin(s);
			if ((rc = store_refresh(s, err)) ||
			    (rc = steps[i].fn(s, writer_gone, &r, steps[i].n, err)) != -EAGAIN)
				break;
		}
	if (suspects_settle(sw, &names) && (c->tables || c->builds || c->forms || c->blobs ||
					    c->objects || c->runs || c->trainings))
		store_notify(s, "swept what dead sessions left (%s): %zu staged table writes, "
			     "%zu columnar builds, %zu staged artifact writes, %zu batch objects, "
			     "%zu job runs interrupted, %zu trainings interrupted", names.data,
			     c->tables, c->builds + c->forms, c->blobs, c->objects, c->runs,
			     c->trainings);
	for (size_t i = 0; i < r.nlive; i++)
		free(r.live[i]);
	free(r.live);
	buf_free(&names);
	return rc;
}

int sweep_dead(struct store *s, int64_t now_ns, struct sweep_counts *out,
	       struct mlfs_err *err)
{
	struct sweep_counts c = { 0 };
	int rc = 0;
	if (store_is_remote(s) && cluster_leads(s, CLUSTER_SCHEDULER, NULL)) {
		struct sweeper *sw = sweeper_of(s);
		pthread_mutex_lock(&sw->lock);
		rc = sweep_locked(s, sw, now_ns, &c, err);
		sw->last_ns = now_ns;
		pthread_mutex_unlock(&sw->lock);
	}
	if (out)
		*out = c;
	return rc;
}

void sweep_tick(struct store *s)
{
	if (!store_is_remote(s))
		return;
	struct sweeper *sw = sweeper_of(s);
	bool leads = cluster_leads(s, CLUSTER_SCHEDULER, NULL);
	int64_t now = clock_mono_ns();
	pthread_mutex_lock(&sw->lock);
	int64_t every = (int64_t)(sw->interval_s > 0 ? sw->interval_s : SWEEP_EVERY_S) * 1000000000;
	bool due = leads && (!sw->led || now - sw->last_ns >= every);
	sw->led = leads;
	pthread_mutex_unlock(&sw->lock);
	struct mlfs_err err = { 0 };
	if (due && sweep_dead(s, now, NULL, &err))
		store_notify(s, "sweeping dead sessions' leftovers: %s", err.msg);
}

/* Set an upper layer's sweep: member OFF of S's sweeper. */
static void set_fn(struct store *s, size_t off, sweep_fn fn)
{
	struct sweeper *sw = sweeper_of(s);
	pthread_mutex_lock(&sw->lock);
	*(sweep_fn *)((char *)sw + off) = fn;
	pthread_mutex_unlock(&sw->lock);
}

void sweep_set_runs(struct store *s, sweep_fn fn)
{
	set_fn(s, offsetof(struct sweeper, runs), fn);
}

void sweep_set_trainings(struct store *s, sweep_fn fn)
{
	set_fn(s, offsetof(struct sweeper, trainings), fn);
}

void sweep_set_forms(struct store *s, sweep_fn fn)
{
	set_fn(s, offsetof(struct sweeper, forms), fn);
}

void sweep_set_interval(struct store *s, int seconds)
{
	struct sweeper *sw = sweeper_of(s);
	pthread_mutex_lock(&sw->lock);
	sw->interval_s = seconds;
	pthread_mutex_unlock(&sw->lock);
}
