/* sweep.h - the elected scheduler's sweep of what dead writers left in a
 * remote store while other hosts live (docs/scale-out.md, "Leftovers of
 * a dead host"): their staged rows (table_sweep_dead), columnar builds
 * (columnar_sweep_dead), staged artifact bytes and fresh files
 * (blob_sweep_dead) and stray batch objects (store_sweep_dead), and the
 * upper layers' job runs, trainings and feature table forms
 * (sweep_set_runs, sweep_set_trainings, sweep_set_forms).  A writer is dead when its session (cluster.h,
 * named as its writes are: names_session) is absent from the live
 * sessions in two sweeps at least SWEEP_GRACE_TTLS session TTLs apart:
 * a host cut off from etcd may still write for about a TTL after its
 * session's key is gone.  The embedded store has nothing to sweep (one
 * process owns it: its leftovers go at mount). */
#ifndef MLFS_SWEEP_H
#define MLFS_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define SWEEP_EVERY_S 30	/* between two sweeps, by default */
#define SWEEP_GRACE_TTLS 2	/* absent this many TTLs before dead */

/* What one sweep removed. */
struct sweep_counts {
	size_t tables;		/* writers' staged rows */
	size_t builds;		/* columnar builds in flight */
	size_t blobs;		/* staged artifact contents and fresh files */
	size_t objects;		/* stray batch objects */
	size_t runs;		/* job runs ended FAILED "interrupted" */
	size_t trainings;	/* trainings ended FAILED "interrupted" */
	size_t forms;		/* feature tables' columnar form builds */
};

/* A module's sweep: remove (or end) what the owners GONE says are gone
 * left; *N how many.  -EAGAIN: another host changed what it read. */
typedef int (*sweep_fn)(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
			size_t *n, struct mlfs_err *err);

/* Sweep S now as of monotonic time NOW_NS: note which writers named by
 * the leftovers are absent, remove what the dead ones left (one commit
 * per kind), and say it in a line to store_notify (/log).  Only on a
 * remote store whose host leads the scheduler role (cluster_leads);
 * else 0 and nothing.  *OUT (may be NULL) what went. */
int sweep_dead(struct store *s, int64_t now_ns, struct sweep_counts *out,
	       struct mlfs_err *err);
/* For the scheduler thread (engine/jobs/schedule.c), every few seconds:
 * sweep_dead when this host became the leader since the last call or
 * the interval passed since the last sweep.  Errors go to store_notify. */
void sweep_tick(struct store *s);
/* The sweep of S's job runs (engine/jobs, a layer above: jobs_start sets
 * jobs_sweep_dead), counted in RUNS; none until set. */
void sweep_set_runs(struct store *s, sweep_fn fn);
/* The sweep of S's trainings (engine/ml, a layer above: the mount sets
 * train_sweep_dead), counted in TRAININGS; none until set. */
void sweep_set_trainings(struct store *s, sweep_fn fn);
/* The sweep of S's feature tables' form builds (engine/features: the
 * mount sets trainset_form_sweep_dead), counted in FORMS; none until set. */
void sweep_set_forms(struct store *s, sweep_fn fn);
/* Seconds between sweeps of S (0: SWEEP_EVERY_S); the mount sets it. */
void sweep_set_interval(struct store *s, int seconds);

#endif
