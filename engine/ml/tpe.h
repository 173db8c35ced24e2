/* tpe.h - hyperparameter suggestions: random search and the
 * Tree-structured Parzen Estimator (Bergstra et al. 2011) with Optuna's
 * defaults - 10 random start-up trials, 24 expected-improvement
 * candidates, gamma(n) = min(ceil(0.1 n), 25), a prior component of weight
 * 1 in every Parzen estimator, each dimension sampled independently (the
 * univariate TPE).  Deterministic: a suggestion depends only on the seed,
 * the trial's number and the finished trials given. */
#ifndef MLFS_TPE_H
#define MLFS_TPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "train_spec.h"

#define TPE_STARTUP 10
#define TPE_CANDIDATES 24

/* A finished trial: its point (one value per dimension, in the space's
 * internal scale: log for loguniform, the choice's index for choice) and
 * its loss (smaller is better; the caller negates a metric to maximize). */
struct tpe_trial {
	const double *x;
	double loss;
};

/* Suggest the point of trial number TRIAL (0-based) over the NDIM
 * dimensions of SPACE into X (internal scale), by ALGO, given the NDONE
 * finished trials DONE.  No allocation beyond a few small arrays. */
void tpe_suggest(const struct search_dim *space, size_t ndim,
		 enum tune_algo algo, uint64_t seed, uint32_t trial,
		 const struct tpe_trial *done, size_t ndone, double *x);

/* The parameter text of dimension D at internal value X: the choice, the
 * quantised or integer value, or a decimal with a point (so that the
 * forest reads fractions as fractions). */
void tpe_value_text(const struct search_dim *d, double x, char *out, size_t n);

#endif
