/* train.h - training a run from a train.yaml spec: the training set from
 * the feature store, the split, the forest, the evaluation, and what a
 * finished run holds (params, metrics, tags, model/ and training_set.csv
 * in the TRAIN_DIR folder of its artifacts).  Synchronous: the caller runs it on a job runner's
 * thread, never on a FUSE worker.
 *
 * A run under the platform's control carries the tag mlfs.training
 * ("train" or "tune") from the moment its spec is accepted; it ends
 * FINISHED, FAILED (the reason in the tag mlfs.error) or KILLED.  On a
 * remote store its record names the session training it (run_info's
 * owner), for the leader's sweep of a dead host's trainings. */
#ifndef MLFS_TRAIN_H
#define MLFS_TRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "store.h"
#include "train_spec.h"

/* The folder of a run's artifacts tree where a training keeps model/,
 * training_set.csv and its spec: a name users cannot make (it starts
 * with '.'), so the platform's files never mix with theirs. */
#define TRAIN_DIR ".mlfs"

/* What the caller watches and controls.  Any field may be NULL/0. */
struct train_watch {
	/* The phase: "loading training set", "binning", "tree K/N",
	 * "evaluating", "saving".  Called from the training's threads. */
	void (*on_progress)(void *ctx, const char *text);
	/* A search made child run RUN (a trial) of the watched run, before
	 * logging anything in it (may be NULL).  From the search's thread. */
	void (*on_child)(void *ctx, const char *run);
	void *ctx;
	const volatile int *cancel;	/* non-zero: stop, the run ends KILLED */
	unsigned n_threads;		/* 0: every core */
};

/* What a finished training measured, for tuning. */
struct train_result {
	bool classify;
	size_t nmetrics;
	char names[8][16];
	double values[8];
};

/* The value of metric NAME in R, or NAN. */
double train_result_metric(const struct train_result *r, const char *name);

/* Mark EXP/RUN as trained by the platform (KIND "train" or "tune") and
 * keep SPEC (the YAML text) as TRAIN_DIR/KIND.yaml in its artifacts.  -EBUSY when
 * the run is not RUNNING or was already trained. */
int train_begin(struct store *s, const char *exp, const char *run,
		const char *kind, const char *spec, size_t len,
		struct mlfs_err *err);

/* Train EXP/RUN from SP with PARAMS (NULL: SP's own) and end the run:
 * FINISHED, FAILED with the reason (also in ERR, and in the tag
 * mlfs.error) or KILLED.  Returns 0, -ECANCELED when stopped, or the
 * failure.  RESULT (may be NULL) gets the metrics. */
int train_run(struct store *s, const char *exp, const char *run,
	      const struct train_spec *sp, const struct forest_params *params,
	      const struct train_watch *watch, struct train_result *result,
	      struct mlfs_err *err);

/* End a run under the platform's control with status TEXT ("FINISHED",
 * "FAILED", "KILLED") and, for FAILED, the reason WHY - unless the run
 * was already ended (a user's KILLED stays KILLED). */
int train_end(struct store *s, const char *exp, const char *run,
	      const char *status, const char *why);

/* After a restart: every run under the platform's control still RUNNING
 * ends FAILED "interrupted: the daemon stopped".  Returns how many. */
int train_recover(struct store *s, struct mlfs_err *err);

/* The leader's sweep (sweep.h's sweep_fn, set by sweep_set_trainings):
 * the trainings RUNNING whose owner (the session that marked them) GONE
 * says is gone end as train_recover ends them; *N how many.  -EAGAIN:
 * another host changed what it read. */
int train_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
		     size_t *n, struct mlfs_err *err);

/* The spec a run took (KIND "train" or "tune"), -ENOENT when none. */
int train_spec_text(struct store *s, const char *exp, const char *run,
		    const char *kind, struct buf *out);

/* Why the run failed (the tag mlfs.error) into OUT: -ENOENT when it has
 * not failed. */
int train_error_text(struct store *s, const char *exp, const char *run,
		     struct buf *out);

/* What a training under way is doing (its phase, as train_watch's
 * on_progress says it), kept in memory per store for its run's progress
 * file, whoever runs it (a write of train.yaml, a job's task).  TEXT NULL
 * forgets it.  Thread-safe. */
void train_progress_set(struct store *s, const char *exp, const char *run,
			const char *text);
/* -ENOENT when no training of EXP/RUN said anything. */
int train_progress_get(struct store *s, const char *exp, const char *run,
		       struct buf *out);

#endif
