/* forest.c - train a random forest: labels and features from a frame,
 * trees across the pool's threads, importances and the out-of-bag score.
 *
 * Tree t draws everything (bootstrap sample, features at each node) from its
 * own random stream seeded by (seed, t), and threads take whole trees, so
 * the model does not depend on the thread count.  Growing one tree is
 * tree.c's job, binning binning.c's, prediction predict.c's; the model
 * itself (lifetime, parameters, class names) is model.c's. */
#include "forest_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- labels ---- */

struct name_ix {
	const char *s;
	size_t len;
	uint32_t ix;
};

static int cmp_name(const void *a, const void *b)
{
	const struct name_ix *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	if (c)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

/* M's list of K classes, the names NULL for the caller to set; -EINVAL
 * past 65,535 classes, HINT ending the message. */
static int classes_new(struct forest *m, size_t k, const char *hint,
		       struct mlfs_err *err)
{
	if (k > 65535)
		return mlfs_fail(err, -EINVAL,
				 "label '%s' has %zu distinct values: too many classes%s",
				 m->label, k, hint);
	m->classes = calloc(k + 1, sizeof(*m->classes));
	if (!m->classes)
		mlfs_oom();
	m->k = (uint32_t)k;
	return 0;
}

/* Classes from a categorical label: sorted text; CLS gets indices. */
static int classes_from_text(struct forest *m, const struct frame *f,
			     size_t lc, int32_t *cls, struct mlfs_err *err)
{
	size_t ncats = frame_col_ncats(f, lc), n = frame_nrows(f);
	const int32_t *codes = frame_col_codes(f, lc);
	struct name_ix *v = calloc(ncats + 1, sizeof(*v));
	int32_t *map = malloc((ncats + 1) * sizeof(*map));
	uint8_t *used = calloc(ncats + 1, 1);
	int rc = 0;

	if (!v || !map || !used) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (codes[i] < 0) {
			rc = mlfs_fail(err, -EINVAL,
				       "label '%s' is empty on data row %zu",
				       m->label, i + 1);
			goto out;
		}
		used[codes[i]] = 1;
	}
	size_t k = 0;
	for (size_t c = 0; c < ncats; c++) {
		if (!used[c])
			continue;
		v[k].s = frame_col_category(f, lc, (int32_t)c, &v[k].len);
		if (memchr(v[k].s, '\0', v[k].len)) {
			rc = mlfs_fail(err, -EINVAL,
				       "label '%s': a class name holds a NUL byte",
				       m->label);
			goto out;
		}
		v[k].ix = (uint32_t)c;
		k++;
	}
	if ((rc = classes_new(m, k, "", err)))
		goto out;
	qsort(v, k, sizeof(*v), cmp_name);
	for (size_t c = 0; c < k; c++) {
		if (!(m->classes[c] = strndup(v[c].s, v[c].len)))
			mlfs_oom();
		map[v[c].ix] = (int32_t)c;
	}
	for (size_t i = 0; i < n; i++)
		cls[i] = map[codes[i]];
out:
	free(v);
	free(map);
	free(used);
	return rc;
}

static int cmp_double_asc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int classes_from_numbers(struct forest *m, const struct frame *f,
				size_t lc, int32_t *cls, struct mlfs_err *err)
{
	size_t n = frame_nrows(f);
	const double *x = frame_col_numbers(f, lc);
	double *v = malloc((n + 1) * sizeof(*v));
	size_t k = 0;
	int rc = 0;

	if (!v)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i])) {
			rc = mlfs_fail(err, -EINVAL,
				       "label '%s' is empty on data row %zu",
				       m->label, i + 1);
			goto out;
		}
		v[i] = x[i];
	}
	qsort(v, n, sizeof(*v), cmp_double_asc);
	for (size_t i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	if ((rc = classes_new(m, k, " (use task=regression)", err)))
		goto out;
	for (size_t c = 0; c < k; c++) {
		char tmp[40];
		forest_number_class_name(m->label_type, v[c], tmp);
		m->classes[c] = mlfs_strdup(tmp);
	}
	for (size_t i = 0; i < n; i++) {
		size_t lo = 0, hi = k - 1;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (v[mid] < x[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		cls[i] = (int32_t)lo;
	}
out:
	free(v);
	return rc;
}

/* ---- features ---- */

/* Feature J from frame column COL: name, kind, and for a categorical one
 * the sorted dictionary with CATMAP (frame code -> model category). */
static int feature_from_column(struct feature *ft, const struct frame *f,
			       size_t col, int32_t **catmap)
{
	ft->name = strdup(frame_col_name(f, col));
	if (!ft->name)
		return -ENOMEM;
	ft->kind = frame_col_kind(f, col);
	ft->type = frame_col_type(f, col);
	*catmap = NULL;
	if (ft->kind != FRAME_CATEGORICAL)
		return 0;
	size_t nc = frame_col_ncats(f, col);
	if (nc > UINT32_MAX - 1)
		return -E2BIG;
	struct name_ix *v = calloc(nc + 1, sizeof(*v));
	int32_t *map = malloc((nc + 1) * sizeof(*map));
	ft->cats = calloc(nc + 1, sizeof(*ft->cats));
	ft->catlen = calloc(nc + 1, sizeof(*ft->catlen));
	if (!v || !map || !ft->cats || !ft->catlen) {
		free(v);
		free(map);
		return -ENOMEM;
	}
	for (size_t c = 0; c < nc; c++) {
		v[c].s = frame_col_category(f, col, (int32_t)c, &v[c].len);
		v[c].ix = (uint32_t)c;
	}
	qsort(v, nc, sizeof(*v), cmp_name);
	for (size_t c = 0; c < nc; c++) {
		/* Keep every byte: a category may hold a NUL. */
		ft->cats[c] = malloc(v[c].len + 1);
		if (ft->cats[c]) {
			memcpy(ft->cats[c], v[c].s, v[c].len);
			ft->cats[c][v[c].len] = '\0';
		}
		if (!ft->cats[c]) {
			free(v);
			free(map);
			return -ENOMEM;
		}
		ft->catlen[c] = (uint32_t)v[c].len;
		ft->ncats = (uint32_t)c + 1;
		map[v[c].ix] = (int32_t)c;
	}
	free(v);
	*catmap = map;
	return 0;
}

/* ---- growing the forest ---- */

struct fit_job {
	struct forest *m;
	struct tree_ctx ctx;
	const struct forest_params *p;
	uint32_t nrows, draws;
	double *imp;		/* ntrees x nfeat */
	uint8_t *inbag;		/* ntrees x bitset, when oob */
	size_t inbag_stride;
	atomic_uint next;
	atomic_int rc;
	const struct forest_watch *watch;	/* or NULL */
	atomic_uint done;
};

/* After tree T: tell the watcher, and stop if asked to. */
static bool tree_done(struct fit_job *job)
{
	const struct forest_watch *w = job->watch;
	if (!w)
		return true;
	uint32_t done = atomic_fetch_add(&job->done, 1) + 1;
	if (w->on_tree)
		w->on_tree(w->ctx, done, job->m->ntrees);
	if (w->cancel && *w->cancel) {
		atomic_store(&job->rc, -ECANCELED);
		return false;
	}
	return true;
}

static void fit_worker(void *arg, size_t slot)
{
	struct fit_job *job = arg;
	if (atomic_load(&job->next) >= job->m->ntrees)
		return;		/* the slots before took every tree (nested: serial) */
	struct tree_builder *tb = tree_builder_new(&job->ctx);
	uint32_t *counts = malloc(((size_t)job->nrows + 1) * sizeof(*counts));

	if (!tb || !counts) {
		atomic_store(&job->rc, -ENOMEM);
		goto out;
	}
	for (;;) {
		uint32_t t = atomic_fetch_add(&job->next, 1);
		if (t >= job->m->ntrees || atomic_load(&job->rc))
			break;
		struct rng r;
		memset(counts, 0, (size_t)job->nrows * sizeof(*counts));
		forest_tree_rng(job->p->seed, t, &r);
		forest_bootstrap(&r, job->nrows, job->draws, job->p->bootstrap,
				 counts);
		if (job->inbag) {
			uint8_t *bits = job->inbag + t * job->inbag_stride;
			for (uint32_t i = 0; i < job->nrows; i++)
				if (counts[i])
					bits[i >> 3] |= (uint8_t)(1u << (i & 7));
		}
		int rc = tree_build(tb, counts, &r, &job->m->trees[t],
				    job->imp + (size_t)t * job->m->nfeat);
		if (rc) {
			atomic_store(&job->rc, rc);
			break;
		}
		if (!tree_done(job))
			break;
	}
out:
	free(counts);
	tree_builder_free(tb);
}

struct oob_job {
	const struct forest *m;
	const struct predict_map *pm;
	const uint8_t *inbag;
	size_t inbag_stride;
	const int32_t *cls;
	const double *y;
	double *pred;		/* regression: mean OOB prediction, NaN if none */
	uint8_t *has;		/* row had an OOB prediction */
	uint8_t *correct;	/* classification */
	atomic_uint next;
	atomic_int rc;
};

#define OOB_BLOCK 4096u

static void oob_worker(void *arg, size_t slot)
{
	struct oob_job *job = arg;
	const struct forest *m = job->m;
	size_t nout = m->classify ? m->k : 1;
	if ((size_t)atomic_load(&job->next) * OOB_BLOCK >= job->pm->nrows)
		return;		/* the slots before took every block */
	double *acc = malloc(nout * sizeof(double));
	uint8_t *x = malloc(m->nfeat + 1);

	if (!x || !acc) {
		free(x);
		free(acc);
		atomic_store(&job->rc, -ENOMEM);
		return;
	}
	for (;;) {
		size_t start = (size_t)atomic_fetch_add(&job->next, 1) * OOB_BLOCK;
		if (start >= job->pm->nrows)
			break;
		size_t end = start + OOB_BLOCK < job->pm->nrows
			     ? start + OOB_BLOCK : job->pm->nrows;
		for (size_t i = start; i < end; i++) {
			uint32_t used = 0;
			predict_map_row(job->pm, i, x);
			memset(acc, 0, nout * sizeof(double));
			for (uint32_t t = 0; t < m->ntrees; t++) {
				const uint8_t *bits = job->inbag + t * job->inbag_stride;
				if ((bits[i >> 3] >> (i & 7)) & 1)
					continue;
				tree_accumulate(m, &m->trees[t], x, acc);
				used++;
			}
			job->has[i] = used > 0;
			if (!used)
				continue;
			if (m->classify)
				job->correct[i] = forest_argmax(acc, nout) ==
						  (size_t)job->cls[i];
			else
				job->pred[i] = acc[0] / used;
		}
	}
	free(x);
	free(acc);
}

static int compute_oob(struct forest *m, const struct frame *f,
		       const struct fit_job *fj, const int32_t *cls,
		       const double *y, unsigned nthreads, struct mlfs_err *err)
{
	struct predict_map pm;
	struct oob_job job = {
		.m = m, .pm = &pm, .inbag = fj->inbag,
		.inbag_stride = fj->inbag_stride, .cls = cls, .y = y,
	};
	size_t n = frame_nrows(f);
	int rc = predict_map_build(m, f, &pm, err);
	if (rc)
		return rc;
	job.has = calloc(n + 1, 1);
	job.correct = calloc(n + 1, 1);
	job.pred = calloc(n + 1, sizeof(double));
	if (!job.has || !job.correct || !job.pred) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	atomic_init(&job.next, 0);
	atomic_init(&job.rc, 0);
	par_for(par_default(), forest_slots(nthreads, (n + OOB_BLOCK - 1) / OOB_BLOCK),
		oob_worker, &job);
	if (atomic_load(&job.rc)) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	size_t used = 0, ok = 0;
	double mean = 0, ss_res = 0, ss_tot = 0;
	for (size_t i = 0; i < n; i++) {
		if (!job.has[i])
			continue;
		used++;
		ok += job.correct[i];
		if (!m->classify)
			mean += y[i];
	}
	m->has_oob = true;
	if (!used) {
		m->oob_score = NAN;
		goto out;
	}
	if (m->classify) {
		m->oob_score = (double)ok / (double)used;
		goto out;
	}
	mean /= (double)used;
	for (size_t i = 0; i < n; i++) {
		if (!job.has[i])
			continue;
		ss_res += (y[i] - job.pred[i]) * (y[i] - job.pred[i]);
		ss_tot += (y[i] - mean) * (y[i] - mean);
	}
	m->oob_score = ss_tot > 0 ? 1 - ss_res / ss_tot : (ss_res == 0 ? 1 : 0);
out:
	free(job.has);
	free(job.correct);
	free(job.pred);
	predict_map_free(&pm);
	return rc;
}

static uint32_t resolve_mtry(const struct forest_params *p, bool classify,
			     uint32_t nf)
{
	double v;
	enum forest_max_features mf = p->max_features;
	if (mf == FOREST_MF_DEFAULT)
		mf = classify ? FOREST_MF_SQRT : FOREST_MF_ALL;
	switch (mf) {
	case FOREST_MF_SQRT: v = floor(sqrt((double)nf)); break;
	case FOREST_MF_LOG2: v = floor(log2((double)nf)); break;
	case FOREST_MF_FRACTION: v = floor(p->max_features_value * nf); break;
	case FOREST_MF_COUNT: v = p->max_features_value; break;
	default: v = nf; break;
	}
	if (v < 1)
		v = 1;
	if (v > nf)
		v = nf;
	return (uint32_t)v;
}

int forest_fit(const struct frame *f, const char *label,
	       const struct forest_params *p, struct forest **out,
	       struct mlfs_err *err)
{
	return forest_fit_watched(f, label, p, NULL, out, err);
}

/* Everything one fit holds until the model is made: freed by fit_free. */
struct fit {
	struct forest *m;
	struct binned b;
	struct fit_job job;
	int *featcol;
	int32_t **catmap;
	int32_t *cls;
	double *y, *class_w;
	uint64_t *class_n;
	size_t n;
	uint32_t nfeat;		/* entries of catmap */
	int lc;
	enum forest_criterion crit;
	unsigned nthreads;
};

static void fit_free(struct fit *s)
{
	binning_free(&s->b);
	free(s->job.imp);
	free(s->job.inbag);
	for (uint32_t j = 0; s->catmap && j < s->nfeat; j++)
		free(s->catmap[j]);
	free(s->catmap);
	free(s->featcol);
	free(s->cls);
	free(s->y);
	free(s->class_w);
	free(s->class_n);
	forest_free(s->m);
}

/* The frame and parameters can be trained on at all. */
static int fit_check(const struct frame *f, const char *label,
		     const struct forest_params *p, int *lc, struct mlfs_err *err)
{
	size_t n = frame_nrows(f), ncols = frame_ncols(f);
	int rc = frame_check(f, err);
	if (rc)
		return rc;
	if ((*lc = frame_col_index(f, label)) < 0)
		return mlfs_fail(err, -EINVAL, "no label column '%s'", label);
	if (n == 0)
		return mlfs_fail(err, -EINVAL, "no rows to train on");
	if (n > UINT32_MAX - 1)
		return mlfs_fail(err, -E2BIG, "too many rows");
	if (ncols < 2)
		return mlfs_fail(err, -EINVAL, "no feature columns besides the label");
	if (ncols - 1 > 65535)
		return mlfs_fail(err, -E2BIG, "too many feature columns");
	if (p->max_bins < 2 || p->max_bins > MAX_BINS || !p->n_estimators)
		return mlfs_fail(err, -EINVAL, "bad parameters");
	return 0;
}

/* The empty model: task and criterion from the label and P. */
static int fit_model(struct fit *s, const struct frame *f, const char *label,
		     const struct forest_params *p, struct mlfs_err *err)
{
	struct forest *m = s->m = calloc(1, sizeof(*s->m));
	if (!m || !(m->label = strdup(label)))
		mlfs_oom();
	m->params = *p;
	m->params.n_jobs = 0;
	m->train_rows = s->n;
	m->label_type = frame_col_type(f, (size_t)s->lc);
	bool text_label = frame_col_kind(f, (size_t)s->lc) == FRAME_CATEGORICAL;
	enum col_type lt = m->label_type;
	switch (p->task) {
	case FOREST_TASK_CLASSIFY: m->classify = true; break;
	case FOREST_TASK_REGRESS: m->classify = false; break;
	default:
		m->classify = text_label || lt == COL_INT || lt == COL_BOOL;
	}
	if (!m->classify && text_label)
		return mlfs_fail(err, -EINVAL,
				 "label '%s' holds text: regression needs numbers", label);
	s->crit = p->criterion;
	if (s->crit == FOREST_CRIT_DEFAULT)
		s->crit = m->classify ? FOREST_CRIT_GINI : FOREST_CRIT_SQUARED_ERROR;
	if (m->classify != (s->crit != FOREST_CRIT_SQUARED_ERROR))
		return mlfs_fail(err, -EINVAL, "criterion %s does not fit a %s",
				 s->crit == FOREST_CRIT_SQUARED_ERROR ? "squared_error"
				 : "gini/entropy",
				 m->classify ? "classifier" : "regressor");
	return 0;
}

/* Class indices and weights, or the regression targets. */
static int fit_labels(struct fit *s, const struct frame *f, const char *label,
		      const struct forest_params *p, struct mlfs_err *err)
{
	struct forest *m = s->m;
	size_t n = s->n;
	int rc;
	if (!m->classify) {
		const double *x = frame_col_numbers(f, (size_t)s->lc);
		if (!(s->y = malloc(n * sizeof(*s->y))))
			mlfs_oom();
		for (size_t i = 0; i < n; i++) {
			if (!isfinite(x[i]))
				return mlfs_fail(err, -EINVAL,
						 "label '%s' is empty or not finite on data row %zu",
						 label, i + 1);
			s->y[i] = x[i];
		}
		return 0;
	}
	if (!(s->cls = malloc(n * sizeof(*s->cls))))
		mlfs_oom();
	rc = frame_col_kind(f, (size_t)s->lc) == FRAME_CATEGORICAL
		? classes_from_text(m, f, (size_t)s->lc, s->cls, err)
		: classes_from_numbers(m, f, (size_t)s->lc, s->cls, err);
	if (rc)
		return rc;
	if (m->k < 2)
		return mlfs_fail(err, -EINVAL,
				 "label '%s' has a single class: nothing to learn", label);
	s->class_w = malloc(m->k * sizeof(*s->class_w));
	s->class_n = calloc(m->k, sizeof(*s->class_n));
	if (!s->class_w || !s->class_n)
		mlfs_oom();
	for (size_t i = 0; i < n; i++)
		s->class_n[s->cls[i]]++;
	for (uint32_t c = 0; c < m->k; c++)
		s->class_w[c] = p->class_weight_balanced
			? (double)n / ((double)m->k * (double)s->class_n[c]) : 1.0;
	return 0;
}

/* Features: every other column, in frame order; then their bins. */
static int fit_features(struct fit *s, const struct frame *f,
			const struct forest_params *p, struct mlfs_err *err)
{
	struct forest *m = s->m;
	size_t ncols = frame_ncols(f);
	m->nfeat = (uint32_t)(ncols - 1);
	m->feats = calloc(m->nfeat, sizeof(*m->feats));
	s->featcol = malloc(m->nfeat * sizeof(*s->featcol));
	s->catmap = calloc(m->nfeat, sizeof(*s->catmap));
	s->nfeat = m->nfeat;
	m->importances = calloc(m->nfeat, sizeof(double));
	if (!m->feats || !s->featcol || !s->catmap || !m->importances)
		mlfs_oom();
	for (size_t c = 0, j = 0; c < ncols; c++) {
		if ((int)c == s->lc)
			continue;
		s->featcol[j] = (int)c;
		if (feature_from_column(&m->feats[j], f, c, &s->catmap[j]))
			mlfs_oom();
		j++;
	}
	return binning_build(m, f, s->featcol, s->catmap, p->max_bins, s->nthreads,
			     &s->b, err);
}

/* The growing job: parameters resolved against the data. */
static int fit_job_setup(struct fit *s, const struct forest_params *p,
			 const struct forest_watch *watch, struct mlfs_err *err)
{
	struct forest *m = s->m;
	struct fit_job *job = &s->job;
	size_t n = s->n;
	job->m = m;
	job->p = p;
	job->nrows = (uint32_t)n;
	job->draws = (uint32_t)n;
	if (p->max_samples_frac > 0) {
		double d = round(p->max_samples_frac * (double)n);
		job->draws = d < 1 ? 1 : (uint32_t)d;
	} else if (p->max_samples) {
		if (p->max_samples > n)
			return mlfs_fail(err, -EINVAL,
					 "max_samples %" PRIu32 " is more than the %zu rows",
					 p->max_samples, n);
		job->draws = p->max_samples;
	}
	job->ctx = (struct tree_ctx){
		.b = &s->b, .classify = m->classify, .k = m->k, .cls = s->cls, .y = s->y,
		.class_w = s->class_w, .crit = s->crit,
		.max_depth = p->max_depth ? p->max_depth : UINT32_MAX,
		.min_split = p->min_samples_split_frac > 0
			? (uint32_t)ceil(p->min_samples_split_frac * (double)n)
			: p->min_samples_split,
		.min_leaf = p->min_samples_leaf_frac > 0
			? (uint32_t)ceil(p->min_samples_leaf_frac * (double)n)
			: p->min_samples_leaf,
		.min_impurity_decrease = p->min_impurity_decrease,
		.mtry = resolve_mtry(p, m->classify, m->nfeat),
	};
	if (job->ctx.min_split < 2)
		job->ctx.min_split = 2;
	if (job->ctx.min_leaf < 1)
		job->ctx.min_leaf = 1;
	m->ntrees = p->n_estimators;
	m->trees = calloc(m->ntrees, sizeof(*m->trees));
	job->imp = calloc((size_t)m->ntrees * m->nfeat, sizeof(double));
	if (!m->trees || !job->imp)
		mlfs_oom();
	if (p->oob_score) {
		job->inbag_stride = (n + 7) / 8;
		if (!(job->inbag = calloc(m->ntrees, job->inbag_stride)))
			mlfs_oom();
	}
	atomic_init(&job->next, 0);
	atomic_init(&job->rc, 0);
	atomic_init(&job->done, 0);
	job->watch = watch;
	return 0;
}

/* After the trees: the bins go with the model (prediction bins rows the
 * same way), and the importances - each tree's normalised, averaged over
 * trees that split (as scikit-learn), normalised again. */
static void fit_finish(struct fit *s)
{
	struct forest *m = s->m;
	for (uint32_t j = 0; j < m->nfeat; j++) {
		m->feats[j].nbins = s->b.catbin[j] ? 0 : s->b.nbins[j];
		m->feats[j].ub = s->b.ub[j];
		m->feats[j].catbin = s->b.catbin[j];
		s->b.ub[j] = NULL;
		s->b.catbin[j] = NULL;
	}
	binning_free(&s->b);
	uint32_t used = 0;
	for (uint32_t t = 0; t < m->ntrees; t++) {
		const double *it = s->job.imp + (size_t)t * m->nfeat;
		double sum = 0;
		if (m->trees[t].nnodes <= 1)
			continue;
		for (uint32_t j = 0; j < m->nfeat; j++)
			sum += it[j];
		used++;
		if (sum > 0)
			for (uint32_t j = 0; j < m->nfeat; j++)
				m->importances[j] += it[j] / sum;
	}
	double total = 0;
	for (uint32_t j = 0; j < m->nfeat; j++) {
		m->importances[j] /= used ? used : 1;
		total += m->importances[j];
	}
	if (total > 0)
		for (uint32_t j = 0; j < m->nfeat; j++)
			m->importances[j] /= total;
}

int forest_fit_watched(const struct frame *f, const char *label,
		       const struct forest_params *p,
		       const struct forest_watch *watch, struct forest **out,
		       struct mlfs_err *err)
{
	struct fit s = { .n = frame_nrows(f), .nthreads = p->n_jobs };
	int rc;

	*out = NULL;
	if ((rc = fit_check(f, label, p, &s.lc, err)))
		return rc;
	if ((rc = fit_model(&s, f, label, p, err)) ||
	    (rc = fit_labels(&s, f, label, p, err)) ||
	    (rc = fit_features(&s, f, p, err)) ||
	    (rc = fit_job_setup(&s, p, watch, err)))
		goto out;
	struct forest *m = s.m;
	par_for(par_default(), forest_slots(s.nthreads, m->ntrees), fit_worker, &s.job);
	if ((rc = atomic_load(&s.job.rc))) {
		rc = mlfs_fail(err, rc, rc == -ENOMEM ? "out of memory growing trees"
				: rc == -ECANCELED ? "stopped" : "tree too large");
		goto out;
	}
	fit_finish(&s);
	if ((rc = forest_layout_build(m))) {
		rc = mlfs_fail(err, rc, "out of memory");
		goto out;
	}
	if (p->oob_score &&
	    (rc = compute_oob(m, f, &s.job, s.cls, s.y, s.nthreads, err)))
		goto out;
	*out = m;
	s.m = NULL;
out:
	fit_free(&s);
	return rc;
}
