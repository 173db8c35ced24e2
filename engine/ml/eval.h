/* eval.h - how good a model's predictions are.
 *
 * Classification: accuracy, precision, recall, f1 (binary for the positive
 * class; macro and weighted averages for multiclass), ROC AUC (binary;
 * one-vs-rest macro for multiclass), log loss, confusion matrix.
 * Regression: rmse, mae, r2.  Definitions follow scikit-learn's, including
 * its conventions for degenerate cases (a precision with no predicted
 * positives is 0).  Classes are indices 0..k-1; probabilities are row-major
 * n x k.  Pure functions: thread-safe. */
#ifndef MLFS_EVAL_H
#define MLFS_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* Fraction of rows with Y[i] == PRED[i].  -EINVAL when N == 0. */
int eval_accuracy(const int32_t *y, const int32_t *pred, size_t n,
		     double *out, struct mlfs_err *err);
/* OUT[t * K + p] counts rows of true class t predicted as p.  Every label
 * must be in 0..K-1 (-EINVAL). */
int eval_confusion(const int32_t *y, const int32_t *pred, size_t n,
		      size_t k, uint64_t *out, struct mlfs_err *err);

/* Precision, recall and f1 of class POS (one-vs-rest). */
int eval_prf(const int32_t *y, const int32_t *pred, size_t n, size_t k,
		int32_t pos, double *precision, double *recall, double *f1,
		struct mlfs_err *err);

enum eval_average {
	EVAL_MACRO,		/* unweighted mean over classes */
	EVAL_WEIGHTED,	/* mean weighted by each class's true count */
};
/* Averaged precision, recall and f1 over the K classes. */
int eval_prf_avg(const int32_t *y, const int32_t *pred, size_t n, size_t k,
		    enum eval_average avg, double *precision, double *recall,
		    double *f1, struct mlfs_err *err);

/* Binary ROC AUC of SCORE for "Y[i] == POS" (ties get half credit, the
 * Mann-Whitney statistic).  -EDOM when only one class is present. */
int eval_roc_auc(const int32_t *y, const double *score, size_t n,
		    int32_t pos, double *out, struct mlfs_err *err);
/* Macro one-vs-rest AUC over the classes present in Y (PROBA n x k); for
 * K == 2 the binary AUC of column 1. */
int eval_roc_auc_ovr(const int32_t *y, const double *proba, size_t n,
			size_t k, double *out, struct mlfs_err *err);
/* Mean negative log of the probability given to the true class, each
 * probability clipped to [1e-15, 1 - 1e-15] and rows renormalised as
 * scikit-learn 1.2 does. */
int eval_log_loss(const int32_t *y, const double *proba, size_t n,
		     size_t k, double *out, struct mlfs_err *err);

int eval_rmse(const double *y, const double *pred, size_t n, double *out,
		 struct mlfs_err *err);
int eval_mae(const double *y, const double *pred, size_t n, double *out,
		struct mlfs_err *err);
/* 1 - SSres/SStot; with constant Y: 1 when perfect, else 0 (scikit-learn). */
int eval_r2(const double *y, const double *pred, size_t n, double *out,
	       struct mlfs_err *err);

/* All the metrics of a task at once, for reports. */
struct eval_report {
	bool classification;
	size_t k;		/* classes */
	double accuracy;
	double precision, recall, f1;		/* binary: of class 1 */
	double precision_macro, recall_macro, f1_macro;
	double precision_weighted, recall_weighted, f1_weighted;
	double roc_auc;		/* NaN when undefined (one class) */
	double log_loss;
	double rmse, mae, r2;
};

/* PRED is the argmax of each PROBA row (lowest class on ties). */
int eval_classification(const int32_t *y, const double *proba, size_t n,
			   size_t k, struct eval_report *out,
			   struct mlfs_err *err);
int eval_regression(const double *y, const double *pred, size_t n,
		       struct eval_report *out, struct mlfs_err *err);
/* Append "name value" lines: binary classification gives accuracy
 * precision recall f1 roc_auc log_loss; multiclass gives accuracy,
 * {precision,recall,f1}_{macro,weighted}, roc_auc, log_loss; regression
 * rmse mae r2.  Values in shortest round-trip form. */
int eval_report_format(const struct eval_report *r, struct buf *out);

#endif
