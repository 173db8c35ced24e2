/* forest.h - random forests: train on a frame, predict, save and load.
 *
 * Classifier (binary and multiclass, labels of any type) and regressor, with
 * scikit-learn's parameter names and defaults.  Numeric features are binned
 * once per training (up to 255 quantile bins); categorical features split
 * natively on category subsets; missing values follow a direction learned
 * at every split.  Training and batch prediction use threads; the model is
 * bit-for-bit the same whatever the thread count.
 *
 * A model is immutable after forest_fit()/forest_load(): any number of
 * threads may predict with it at once. */
#ifndef MLFS_FOREST_H
#define MLFS_FOREST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "frame.h"

enum forest_task {
	FOREST_TASK_AUTO = 0,	/* from the label: text, bool, int -> classify;
				 * float, date, timestamp -> regress */
	FOREST_TASK_CLASSIFY,
	FOREST_TASK_REGRESS,
};

enum forest_criterion {
	FOREST_CRIT_DEFAULT = 0,	/* gini, or squared_error for regression */
	FOREST_CRIT_GINI,
	FOREST_CRIT_ENTROPY,		/* also "log_loss" */
	FOREST_CRIT_SQUARED_ERROR,
};

enum forest_max_features {
	FOREST_MF_DEFAULT = 0,	/* sqrt for classifiers, all for regressors
				 * (scikit-learn 1.2) */
	FOREST_MF_SQRT,
	FOREST_MF_LOG2,
	FOREST_MF_ALL,
	FOREST_MF_FRACTION,	/* max(1, floor(fraction * features)) */
	FOREST_MF_COUNT,	/* min(count, features) */
};

/* Training parameters.  forest_params_default() fills scikit-learn's
 * defaults; forest_params_set() changes one by name from text.  Count-or-
 * fraction parameters hold a count when the *_frac field is 0. */
struct forest_params {
	enum forest_task task;
	uint32_t n_estimators;		/* 100 */
	uint32_t max_depth;		/* 0: unlimited (None) */
	uint32_t min_samples_split;	/* 2 */
	double min_samples_split_frac;	/* (0,1]: ceil(frac * rows) */
	uint32_t min_samples_leaf;	/* 1 */
	double min_samples_leaf_frac;	/* (0,0.5]: ceil(frac * rows) */
	double min_impurity_decrease;	/* 0 */
	enum forest_max_features max_features;
	double max_features_value;	/* the fraction or the count */
	bool bootstrap;			/* true */
	uint32_t max_samples;		/* 0: all rows (None) */
	double max_samples_frac;	/* (0,1] of the rows */
	enum forest_criterion criterion;
	bool class_weight_balanced;	/* false: None */
	uint64_t seed;			/* random_state; 0 by default */
	bool oob_score;			/* false */
	uint32_t max_bins;		/* 255: histogram bins per feature, 2..255 */
	uint32_t n_jobs;		/* threads; 0: online CPUs.  Not saved: it
					 * never changes the model. */
};

void forest_params_default(struct forest_params *p);
/* Set parameter NAME from VALUE: n_estimators, max_depth (int or "none"),
 * min_samples_split, min_samples_leaf (int, or a fraction written with a
 * '.'), min_impurity_decrease, max_features (sqrt, log2, all/none, an int,
 * or a fraction), bootstrap, max_samples (none, int, fraction), criterion
 * (gini, entropy, log_loss, squared_error), class_weight (none, balanced),
 * seed (also random_state), oob_score, max_bins, n_jobs (also threads),
 * task (auto, classification, regression).  -EINVAL with a message for an
 * unknown name or a bad or out-of-range value; P is unchanged then. */
int forest_params_set(struct forest_params *p, const char *name,
		      const char *value, struct mlfs_err *err);
/* Append "name value" lines for every parameter, defaults included. */
int forest_params_format(const struct forest_params *p, struct buf *out);

struct forest;

/* Train on frame F: column LABEL is the target, every other column a
 * feature (numeric or categorical).  Rows with a null label are an error
 * (-EINVAL with the row), as are an empty frame, a frame with no feature,
 * a classification label with one class, a criterion that does not fit the
 * task.  On success *OUT is a new model (forest_free()). */
int forest_fit(const struct frame *f, const char *label,
	       const struct forest_params *p, struct forest **out,
	       struct mlfs_err *err);
void forest_free(struct forest *m);

/* Watching a training from outside (the platform's progress file and
 * KILLED): ON_TREE is called from a worker thread after each finished
 * tree with the count done so far; a non-zero *CANCEL stops the fit
 * between trees with -ECANCELED.  Any field may be NULL.  Watching never
 * changes the model. */
struct forest_watch {
	void (*on_tree)(void *ctx, uint32_t done, uint32_t total);
	void *ctx;
	const volatile int *cancel;
};
int forest_fit_watched(const struct frame *f, const char *label,
		       const struct forest_params *p,
		       const struct forest_watch *watch, struct forest **out,
		       struct mlfs_err *err);

/* Model properties.  Strings are valid as long as M is. */
bool forest_is_classifier(const struct forest *m);
const char *forest_label(const struct forest *m);
/* Classes in model order (sorted: numbers by value, text by bytes). */
size_t forest_nclasses(const struct forest *m);
const char *forest_class_name(const struct forest *m, size_t k);
/* Values per predicted row: classes for a classifier, 1 for a regressor. */
size_t forest_nout(const struct forest *m);
size_t forest_nfeatures(const struct forest *m);
const char *forest_feature_name(const struct forest *m, size_t j);
enum frame_kind forest_feature_kind(const struct forest *m, size_t j);
enum col_type forest_feature_type(const struct forest *m, size_t j);
/* Impurity-based importances, one per feature, summing to 1 (all 0 when
 * no tree split).  Valid as long as M is. */
const double *forest_importances(const struct forest *m);
/* The out-of-bag score (accuracy, or R^2 for regression); -ENODATA when
 * the model was trained without oob_score. */
int forest_oob_score(const struct forest *m, double *out);
/* The parameters the model was trained with (n_jobs is 0). */
const struct forest_params *forest_params(const struct forest *m);

struct forest_stats {
	size_t trees;
	size_t nodes;		/* all trees, splits and leaves */
	size_t leaves;
	size_t max_depth;	/* deepest leaf, the root at depth 0 */
	size_t mem_bytes;	/* heap held by the model */
	uint64_t train_rows;
};
void forest_stats(const struct forest *m, struct forest_stats *out);

/* Predict every row of F.  Columns are found by name: a feature with no
 * column is missing in every row, extra columns are ignored.  A category
 * the model never saw is a missing value.  A text value in a column the
 * model knows as numeric is -EINVAL ("column 'x', row N: 'abc' is not a
 * number"); numbers in a categorical feature's column are matched as text.
 * OUT gets nrows * forest_nout(M) doubles, row-major: class probabilities
 * (the mean over trees of the leaves' class fractions) or the regression
 * value.  N_THREADS 0: online CPUs.  Results do not depend on N_THREADS. */
int forest_predict(const struct forest *m, const struct frame *f,
		   unsigned n_threads, double *out, struct mlfs_err *err);
/* One row given as model features: X[j] is feature j's number, or for a
 * categorical feature the index of its category (forest_category_find()),
 * NaN = missing.  OUT gets forest_nout(M) doubles.  No allocation. */
void forest_predict_row(const struct forest *m, const double *x, double *out);
/* NROWS rows as forest_predict_row's X, row-major (nrows x features);
 * OUT gets nrows * forest_nout(M) doubles, the same as row by row.  In
 * the calling thread, through forest_predict's chunked walk of the trees
 * (a scoring request shares its rows among threads itself). */
void forest_predict_rows(const struct forest *m, const double *x,
			 size_t nrows, double *out);
/* Category C of categorical feature J (NUL-terminated, valid as long as
 * M is), or NULL when there is none. */
const char *forest_category_name(const struct forest *m, size_t j, size_t c);
/* Index of category S[0..LEN) of categorical feature J, or -ENOENT. */
int forest_category_find(const struct forest *m, size_t j, const char *s,
			 size_t len);
/* Index of the largest of the K probabilities (lowest on ties). */
size_t forest_argmax(const double *proba, size_t k);

/* The labels of column LABEL of F as the model's class indices in CLS (N
 * rows) for a classifier, or as numbers in Y for a regressor (pass the
 * array the model needs; the other may be NULL).  -EINVAL for a null, a
 * class the model does not know, or a missing column. */
int forest_encode_labels(const struct forest *m, const struct frame *f,
			 const char *label, int32_t *cls, double *y,
			 struct mlfs_err *err);

/* Serialization: a versioned msgpack document (docs/store-format.md, "Random forest models").
 * forest_save appends the model to OUT.  forest_load checks everything it
 * reads: a truncated, corrupted or foreign input is -EINVAL (or -ENOTSUP
 * for a newer format version) with a message, never a crash.  DATA is not
 * kept. */
int forest_save(const struct forest *m, struct buf *out, struct mlfs_err *err);
int forest_load(const void *data, size_t len, struct forest **out,
		struct mlfs_err *err);
/* File helpers: write atomically (temporary file + rename); read whole. */
int forest_save_file(const struct forest *m, const char *path,
		     struct mlfs_err *err);
int forest_load_file(const char *path, struct forest **out,
		     struct mlfs_err *err);

#endif
