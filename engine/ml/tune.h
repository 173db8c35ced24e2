/* tune.h - a hyperparameter search from a tune.yaml spec: max_evals
 * trials, each a child run RUN-001, RUN-002, ... of the same experiment
 * with a parent link to RUN, trained by train.h on one shared training
 * set; the parent logs the best trial's params, best_METRIC and the tags
 * best_run and trials.  Trials run PARALLELISM at a time in rounds: each
 * round is suggested from the trials finished before it, so the search is
 * the same whatever the timing (deterministic for a seed). */
#ifndef MLFS_TUNE_H
#define MLFS_TUNE_H

#include "err.h"
#include "store.h"
#include "train.h"
#include "train_spec.h"

/* Run the search of SP in EXP/RUN (train_begin'd with "tune") and end the
 * parent FINISHED, FAILED (no trial succeeded, or the data cannot be
 * loaded) or KILLED (WATCH's cancel: running trials end KILLED too).
 * Progress: "trial K/N, best METRIC=V (RUN-00K)". */
int tune_run(struct store *s, const char *exp, const char *run,
	     const struct train_spec *sp, const struct train_watch *watch,
	     struct mlfs_err *err);

/* The name of trial T (0-based) of RUN: "RUN-001" ... */
void tune_trial_name(const char *run, uint32_t t, char *out, size_t n);

#endif
