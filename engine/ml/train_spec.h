/* train_spec.h - train.yaml and tune.yaml (DESIGN.md section 5) as typed
 * specs, and their check against the store before anything starts.
 *
 *   labels: customer_labels          a table under /tables
 *   label: churn
 *   features:                        feature lookups (optional)
 *     - {table: customer_features, lookup_key: customer_id,
 *        columns: [a, b], timestamp_lookup_key: event_time}
 *   exclude: [customer_id]
 *   model: random_forest
 *   params: {n_estimators: 100, max_depth: 10, ...}   forest.h's names
 *   split: {test_size: 0.2, seed: 42}                 or  test: TABLE
 *   register: MODEL                  a new version on success
 *   tags: {team: growth}
 * tune.yaml adds search_space (hyperopt's choice, uniform, quniform,
 * loguniform, randint), algo (random | tpe), max_evals, parallelism,
 * metric, goal (maximize | minimize) and seed.
 *
 * Every error is -EINVAL (or -EFBIG past SPEC_MAX_BYTES) with "line L,
 * column C: reason". */
#ifndef MLFS_TRAIN_SPEC_H
#define MLFS_TRAIN_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "forest/forest.h"
#include "store.h"
#include "trainset.h"

enum search_kind {
	SEARCH_CHOICE,
	SEARCH_UNIFORM,
	SEARCH_QUNIFORM,
	SEARCH_LOGUNIFORM,	/* hyperopt: exp(uniform(lo, hi)) */
	SEARCH_RANDINT,		/* integers in [lo, hi) */
};

struct search_dim {
	char *param;			/* a forest parameter name */
	enum search_kind kind;
	char **choices;			/* SEARCH_CHOICE: the values as text */
	size_t nchoices;
	double lo, hi, q;
};

enum tune_algo {
	TUNE_TPE,
	TUNE_RANDOM,
};

struct train_spec {
	char *labels, *label;
	struct trainset_lookup *lookups;
	size_t nlookups;
	char **exclude;
	size_t nexclude;
	struct forest_params params;	/* defaults + the spec's params */
	char **param_names;		/* the params the spec named */
	size_t nparams;
	double test_size;		/* 0 when TEST is set */
	uint64_t split_seed;
	char *test;			/* a second labels table, or NULL */
	char *register_model;		/* or NULL */
	char **tag_keys, **tag_values;
	size_t ntags;

	/* tune.yaml only */
	bool tune;
	struct search_dim *space;
	size_t nspace;
	enum tune_algo algo;
	uint32_t max_evals, parallelism;
	char *metric;			/* NULL: accuracy, or rmse for regression */
	bool maximize;
	bool goal_set;
	uint64_t seed;

	struct train_spec_mem *mem;	/* everything above is owned here */
};

enum {
	TRAIN_SPEC_TUNE = 1,	/* tune.yaml, else train.yaml */
	TRAIN_SPEC_SO_FAR = 2,	/* the text written so far: a missing
				 * required key is no error (more may come) */
};

/* Parse TEXT with FLAGS.  The shape and the parameter values are checked
 * here; names against the store by train_spec_check.  *OUT: free with
 * train_spec_free(). */
int train_spec_parse(const char *text, size_t len, unsigned flags,
		     struct train_spec **out, struct mlfs_err *err);
/* How much of TEXT (written so far) no later text can change: every
 * whole top-level entry but the last (in block YAML, a new top-level key
 * ends the entries before it).  Parse that much with TRAIN_SPEC_SO_FAR to
 * reject in write() what is already wrong. */
size_t train_spec_settled(const char *text, size_t len);

/* Check SP against the store (what it names: after a TRAIN_SPEC_SO_FAR
 * parse labels or label may be missing): the labels table and label
 * column, every
 * feature table, column and lookup key, timestamp lookups, excluded
 * columns, the test table.  HAS_REGISTRY: whether register: can be
 * honoured (else "register: no model registry yet").  Errors carry the
 * line and column of the offending YAML. */
int train_spec_check(struct store *s, const struct train_spec *sp,
		     bool has_registry, struct mlfs_err *err);
void train_spec_free(struct train_spec *sp);

/* The metric a tuning ranks by, and whether larger is better, for a
 * classifier (CLASSIFY) or a regressor. */
const char *train_spec_metric(const struct train_spec *sp, bool classify,
			      bool *maximize);

#endif
