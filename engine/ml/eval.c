/* eval.c - classification and regression metrics on arrays.
 *
 * Straightforward definitions in double precision; AUC sorts the scores
 * once (O(n log n)) and credits ties by half.  No model, no frame: callers
 * hand in labels as class indices and scores as doubles. */
#include "eval.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int need_rows(size_t n, struct mlfs_err *err)
{
	return n ? 0 : mlfs_fail(err, -EINVAL, "no rows to score");
}

int eval_accuracy(const int32_t *y, const int32_t *pred, size_t n,
		     double *out, struct mlfs_err *err)
{
	int rc = need_rows(n, err);
	if (rc)
		return rc;
	size_t ok = 0;
	for (size_t i = 0; i < n; i++)
		ok += y[i] == pred[i];
	*out = (double)ok / (double)n;
	return 0;
}

int eval_confusion(const int32_t *y, const int32_t *pred, size_t n,
		      size_t k, uint64_t *out, struct mlfs_err *err)
{
	memset(out, 0, k * k * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		if (y[i] < 0 || (size_t)y[i] >= k || pred[i] < 0 ||
		    (size_t)pred[i] >= k)
			return mlfs_fail(err, -EINVAL,
					 "row %zu: class out of range", i);
		out[(size_t)y[i] * k + (size_t)pred[i]]++;
	}
	return 0;
}

static double safe_div(double a, double b)
{
	return b > 0 ? a / b : 0.0;
}

static void prf_of(const uint64_t *cm, size_t k, size_t c, double *p,
		   double *r, double *f)
{
	double tp = (double)cm[c * k + c], pred = 0, truth = 0;
	for (size_t j = 0; j < k; j++) {
		pred += (double)cm[j * k + c];
		truth += (double)cm[c * k + j];
	}
	*p = safe_div(tp, pred);
	*r = safe_div(tp, truth);
	*f = safe_div(2 * *p * *r, *p + *r);
}

int eval_prf(const int32_t *y, const int32_t *pred, size_t n, size_t k,
		int32_t pos, double *precision, double *recall, double *f1,
		struct mlfs_err *err)
{
	int rc;
	if ((rc = need_rows(n, err)))
		return rc;
	if (pos < 0 || (size_t)pos >= k)
		return mlfs_fail(err, -EINVAL, "positive class out of range");
	uint64_t *cm = malloc(k * k * sizeof(*cm));
	if (!cm)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	if (!(rc = eval_confusion(y, pred, n, k, cm, err)))
		prf_of(cm, k, (size_t)pos, precision, recall, f1);
	free(cm);
	return rc;
}

int eval_prf_avg(const int32_t *y, const int32_t *pred, size_t n, size_t k,
		    enum eval_average avg, double *precision, double *recall,
		    double *f1, struct mlfs_err *err)
{
	int rc;
	if ((rc = need_rows(n, err)))
		return rc;
	uint64_t *cm = malloc(k * k * sizeof(*cm));
	if (!cm)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	if ((rc = eval_confusion(y, pred, n, k, cm, err)))
		goto out;
	double sp = 0, sr = 0, sf = 0, sw = 0;
	for (size_t c = 0; c < k; c++) {
		double p, r, f, w, support = 0;
		for (size_t j = 0; j < k; j++)
			support += (double)cm[c * k + j];
		/* scikit-learn's macro average runs over the labels seen in
		 * y_true or y_pred. */
		double predicted = 0;
		for (size_t j = 0; j < k; j++)
			predicted += (double)cm[j * k + c];
		if (support == 0 && predicted == 0)
			continue;
		prf_of(cm, k, c, &p, &r, &f);
		w = avg == EVAL_WEIGHTED ? support : 1.0;
		sp += w * p;
		sr += w * r;
		sf += w * f;
		sw += w;
	}
	*precision = safe_div(sp, sw);
	*recall = safe_div(sr, sw);
	*f1 = safe_div(sf, sw);
out:
	free(cm);
	return rc;
}

struct scored {
	double s;
	int pos;
};

static int cmp_scored(const void *a, const void *b)
{
	double x = ((const struct scored *)a)->s, y = ((const struct scored *)b)->s;
	return (x > y) - (x < y);
}

/* AUC of scores in V[0..n) labelled pos/neg (sorts V). */
static int auc_sorted(struct scored *v, size_t n, double *out,
		      struct mlfs_err *err)
{
	double npos = 0, nneg = 0, rank_sum = 0;
	qsort(v, n, sizeof(*v), cmp_scored);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		double cpos = 0;
		while (j < n && v[j].s == v[i].s) {
			cpos += v[j].pos;
			j++;
		}
		/* Ranks i+1..j share the average rank. */
		double avg_rank = ((double)(i + 1) + (double)j) / 2.0;
		rank_sum += cpos * avg_rank;
		npos += cpos;
		nneg += (double)(j - i) - cpos;
		i = j;
	}
	if (npos == 0 || nneg == 0)
		return mlfs_fail(err, -EDOM,
				 "ROC AUC needs both classes in the labels");
	*out = (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg);
	return 0;
}

int eval_roc_auc(const int32_t *y, const double *score, size_t n,
		    int32_t pos, double *out, struct mlfs_err *err)
{
	int rc;
	if ((rc = need_rows(n, err)))
		return rc;
	struct scored *v = malloc(n * sizeof(*v));
	if (!v)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (isnan(score[i])) {
			free(v);
			return mlfs_fail(err, -EINVAL, "row %zu: score is NaN", i);
		}
		v[i] = (struct scored){ score[i], y[i] == pos };
	}
	rc = auc_sorted(v, n, out, err);
	free(v);
	return rc;
}

int eval_roc_auc_ovr(const int32_t *y, const double *proba, size_t n,
			size_t k, double *out, struct mlfs_err *err)
{
	int rc;
	if ((rc = need_rows(n, err)))
		return rc;
	if (k < 2)
		return mlfs_fail(err, -EDOM, "ROC AUC needs two classes");
	if (k == 2) {
		double *s = malloc(n * sizeof(*s));
		if (!s)
			return mlfs_fail(err, -ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
			s[i] = proba[i * 2 + 1];
		rc = eval_roc_auc(y, s, n, 1, out, err);
		free(s);
		return rc;
	}
	struct scored *v = malloc(n * sizeof(*v));
	if (!v)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	double sum = 0;
	size_t used = 0;
	for (size_t c = 0; c < k; c++) {
		size_t npos = 0;
		for (size_t i = 0; i < n; i++) {
			v[i] = (struct scored){ proba[i * k + c], y[i] == (int32_t)c };
			npos += v[i].pos;
		}
		if (npos == 0 || npos == n)
			continue;	/* class absent (or alone): undefined */
		double a;
		if ((rc = auc_sorted(v, n, &a, err)))
			goto out;
		sum += a;
		used++;
	}
	if (!used)
		rc = mlfs_fail(err, -EDOM, "ROC AUC needs two classes in the labels");
	else
		*out = sum / (double)used;
out:
	free(v);
	return rc;
}

int eval_log_loss(const int32_t *y, const double *proba, size_t n,
		     size_t k, double *out, struct mlfs_err *err)
{
	const double eps = 1e-15;
	int rc;
	if ((rc = need_rows(n, err)))
		return rc;
	double total = 0;
	for (size_t i = 0; i < n; i++) {
		if (y[i] < 0 || (size_t)y[i] >= k)
			return mlfs_fail(err, -EINVAL, "row %zu: class out of range", i);
		double rowsum = 0, p = 0;
		for (size_t c = 0; c < k; c++) {
			double q = proba[i * k + c];
			q = q < eps ? eps : q > 1 - eps ? 1 - eps : q;
			rowsum += q;
			if ((int32_t)c == y[i])
				p = q;
		}
		total -= log(p / rowsum);
	}
	*out = total / (double)n;
	return 0;
}

/* The mean over N rows of the squared (SQUARED) or absolute error. */
static int mean_error(const double *y, const double *pred, size_t n,
		      bool squared, double *out, struct mlfs_err *err)
{
	int rc;
	if ((rc = need_rows(n, err)))
		return rc;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += squared ? (y[i] - pred[i]) * (y[i] - pred[i]) : fabs(y[i] - pred[i]);
	*out = s / (double)n;
	return 0;
}

int eval_rmse(const double *y, const double *pred, size_t n, double *out,
		 struct mlfs_err *err)
{
	int rc = mean_error(y, pred, n, true, out, err);
	if (!rc)
		*out = sqrt(*out);
	return rc;
}

int eval_mae(const double *y, const double *pred, size_t n, double *out,
		struct mlfs_err *err)
{
	return mean_error(y, pred, n, false, out, err);
}

int eval_r2(const double *y, const double *pred, size_t n, double *out,
	       struct mlfs_err *err)
{
	int rc;
	if ((rc = need_rows(n, err)))
		return rc;
	double mean = 0, ss_res = 0, ss_tot = 0;
	for (size_t i = 0; i < n; i++)
		mean += y[i];
	mean /= (double)n;
	for (size_t i = 0; i < n; i++) {
		ss_res += (y[i] - pred[i]) * (y[i] - pred[i]);
		ss_tot += (y[i] - mean) * (y[i] - mean);
	}
	if (ss_tot == 0)
		*out = ss_res == 0 ? 1.0 : 0.0;
	else
		*out = 1.0 - ss_res / ss_tot;
	return 0;
}

int eval_classification(const int32_t *y, const double *proba, size_t n,
			   size_t k, struct eval_report *out,
			   struct mlfs_err *err)
{
	int rc;
	if ((rc = need_rows(n, err)))
		return rc;
	if (k < 1)
		return mlfs_fail(err, -EINVAL, "no classes");
	int32_t *pred = malloc(n * sizeof(*pred));
	if (!pred)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t best = 0;
		for (size_t c = 1; c < k; c++)
			if (proba[i * k + c] > proba[i * k + best])
				best = c;
		pred[i] = (int32_t)best;
	}
	memset(out, 0, sizeof(*out));
	out->classification = true;
	out->k = k;
	if ((rc = eval_accuracy(y, pred, n, &out->accuracy, err)))
		goto out;
	if (k == 2 && (rc = eval_prf(y, pred, n, k, 1, &out->precision,
					&out->recall, &out->f1, err)))
		goto out;
	if ((rc = eval_prf_avg(y, pred, n, k, EVAL_MACRO,
				  &out->precision_macro, &out->recall_macro,
				  &out->f1_macro, err)))
		goto out;
	if ((rc = eval_prf_avg(y, pred, n, k, EVAL_WEIGHTED,
				  &out->precision_weighted,
				  &out->recall_weighted, &out->f1_weighted, err)))
		goto out;
	if (eval_roc_auc_ovr(y, proba, n, k, &out->roc_auc, NULL))
		out->roc_auc = NAN;
	rc = eval_log_loss(y, proba, n, k, &out->log_loss, err);
out:
	free(pred);
	return rc;
}

int eval_regression(const double *y, const double *pred, size_t n,
		       struct eval_report *out, struct mlfs_err *err)
{
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = eval_rmse(y, pred, n, &out->rmse, err)) ||
	    (rc = eval_mae(y, pred, n, &out->mae, err)) ||
	    (rc = eval_r2(y, pred, n, &out->r2, err)))
		return rc;
	return 0;
}

static int line(struct buf *out, const char *name, double v)
{
	int rc = buf_puts(out, name);
	if (!rc)
		rc = buf_putc(out, ' ');
	if (!rc)
		rc = buf_put_double(out, v);
	if (!rc)
		rc = buf_putc(out, '\n');
	return rc;
}

int eval_report_format(const struct eval_report *r, struct buf *out)
{
	int rc = 0;
	if (!r->classification) {
		if (!rc) rc = line(out, "rmse", r->rmse);
		if (!rc) rc = line(out, "mae", r->mae);
		if (!rc) rc = line(out, "r2", r->r2);
		return rc;
	}
	rc = line(out, "accuracy", r->accuracy);
	if (r->k == 2) {
		if (!rc) rc = line(out, "precision", r->precision);
		if (!rc) rc = line(out, "recall", r->recall);
		if (!rc) rc = line(out, "f1", r->f1);
	} else {
		if (!rc) rc = line(out, "precision_macro", r->precision_macro);
		if (!rc) rc = line(out, "recall_macro", r->recall_macro);
		if (!rc) rc = line(out, "f1_macro", r->f1_macro);
		if (!rc) rc = line(out, "precision_weighted", r->precision_weighted);
		if (!rc) rc = line(out, "recall_weighted", r->recall_weighted);
		if (!rc) rc = line(out, "f1_weighted", r->f1_weighted);
	}
	if (!rc) rc = line(out, "roc_auc", r->roc_auc);
	if (!rc) rc = line(out, "log_loss", r->log_loss);
	return rc;
}
