/* model.c - a trained forest apart from how it was made: its lifetime
 * (forest_free), its parameters (defaults, parsing, the params text), the
 * text of class names and numbers, and what it can be asked (properties,
 * stats).  Training is forest.c's job, prediction predict.c's, the file
 * format serialize.c's; each of them depends on this file, not on another. */
#include "forest_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- parameters ---- */

void forest_params_default(struct forest_params *p)
{
	memset(p, 0, sizeof(*p));
	p->task = FOREST_TASK_AUTO;
	p->n_estimators = 100;
	p->max_depth = 0;
	p->min_samples_split = 2;
	p->min_samples_leaf = 1;
	p->max_features = FOREST_MF_DEFAULT;
	p->bootstrap = true;
	p->criterion = FOREST_CRIT_DEFAULT;
	p->seed = 0;
	p->max_bins = MAX_BINS;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	int64_t v;
	if (!value_parse_int(s, strlen(s), &v) || v < 0)
		return false;
	*out = (uint64_t)v;
	return true;
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;
	if (!parse_u64(s, &v) || v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool parse_dbl(const char *s, double *out)
{
	return value_parse_float(s, strlen(s), out) && isfinite(*out);
}

static bool parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "1")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "0")) {
		*out = false;
		return true;
	}
	return value_parse_bool(s, strlen(s), out);
}

static bool is_none(const char *s)
{
	return !strcasecmp(s, "none") || !strcasecmp(s, "null");
}

static bool looks_fraction(const char *s)
{
	return strpbrk(s, ".eE") != NULL;
}

/* Count (>= LO) or a fraction in (0, FMAX]. */
static bool parse_count_or_frac(const char *s, uint32_t lo, double fmax,
				uint32_t *count, double *frac)
{
	double d;
	if (looks_fraction(s)) {
		if (!parse_dbl(s, &d) || !(d > 0) || d > fmax)
			return false;
		*frac = d;
		*count = 0;
		return true;
	}
	if (!parse_u32(s, lo, UINT32_MAX, count))
		return false;
	*frac = 0;
	return true;
}

int forest_params_set(struct forest_params *p, const char *name,
		      const char *value, struct mlfs_err *err)
{
	struct forest_params q = *p;
	const char *v = value ? value : "";
	bool ok = true;

	if (!strcmp(name, "n_estimators")) {
		ok = parse_u32(v, 1, 100000, &q.n_estimators);
	} else if (!strcmp(name, "max_depth")) {
		if (is_none(v))
			q.max_depth = 0;
		else
			ok = parse_u32(v, 1, 100000, &q.max_depth);
	} else if (!strcmp(name, "min_samples_split")) {
		ok = parse_count_or_frac(v, 2, 1.0, &q.min_samples_split,
					 &q.min_samples_split_frac);
	} else if (!strcmp(name, "min_samples_leaf")) {
		ok = parse_count_or_frac(v, 1, 0.5, &q.min_samples_leaf,
					 &q.min_samples_leaf_frac);
	} else if (!strcmp(name, "min_impurity_decrease")) {
		ok = parse_dbl(v, &q.min_impurity_decrease) &&
		     q.min_impurity_decrease >= 0;
	} else if (!strcmp(name, "max_features")) {
		if (!strcmp(v, "sqrt") || !strcmp(v, "auto")) {
			q.max_features = FOREST_MF_SQRT;
		} else if (!strcmp(v, "log2")) {
			q.max_features = FOREST_MF_LOG2;
		} else if (!strcmp(v, "all") || is_none(v)) {
			q.max_features = FOREST_MF_ALL;
		} else if (looks_fraction(v)) {
			q.max_features = FOREST_MF_FRACTION;
			ok = parse_dbl(v, &q.max_features_value) &&
			     q.max_features_value > 0 && q.max_features_value <= 1;
		} else {
			uint32_t c;
			q.max_features = FOREST_MF_COUNT;
			ok = parse_u32(v, 1, 65535, &c);
			q.max_features_value = c;
		}
	} else if (!strcmp(name, "bootstrap")) {
		ok = parse_bool(v, &q.bootstrap);
	} else if (!strcmp(name, "max_samples")) {
		if (is_none(v)) {
			q.max_samples = 0;
			q.max_samples_frac = 0;
		} else {
			ok = parse_count_or_frac(v, 1, 1.0, &q.max_samples,
						 &q.max_samples_frac);
		}
	} else if (!strcmp(name, "criterion")) {
		if (!strcmp(v, "gini"))
			q.criterion = FOREST_CRIT_GINI;
		else if (!strcmp(v, "entropy") || !strcmp(v, "log_loss"))
			q.criterion = FOREST_CRIT_ENTROPY;
		else if (!strcmp(v, "squared_error") || !strcmp(v, "mse"))
			q.criterion = FOREST_CRIT_SQUARED_ERROR;
		else
			ok = false;
	} else if (!strcmp(name, "class_weight")) {
		if (is_none(v))
			q.class_weight_balanced = false;
		else if (!strcmp(v, "balanced"))
			q.class_weight_balanced = true;
		else
			ok = false;
	} else if (!strcmp(name, "seed") || !strcmp(name, "random_state")) {
		if (is_none(v))
			q.seed = 0;
		else
			ok = parse_u64(v, &q.seed);
	} else if (!strcmp(name, "oob_score")) {
		ok = parse_bool(v, &q.oob_score);
	} else if (!strcmp(name, "max_bins")) {
		ok = parse_u32(v, 2, MAX_BINS, &q.max_bins);
	} else if (!strcmp(name, "n_jobs") || !strcmp(name, "threads")) {
		if (!strcmp(v, "-1"))
			q.n_jobs = 0;
		else
			ok = parse_u32(v, 0, 256, &q.n_jobs);
	} else if (!strcmp(name, "task")) {
		if (!strcmp(v, "auto"))
			q.task = FOREST_TASK_AUTO;
		else if (!strcmp(v, "classification") || !strcmp(v, "classifier"))
			q.task = FOREST_TASK_CLASSIFY;
		else if (!strcmp(v, "regression") || !strcmp(v, "regressor"))
			q.task = FOREST_TASK_REGRESS;
		else
			ok = false;
	} else {
		return mlfs_fail(err, -EINVAL, "unknown parameter '%s'", name);
	}
	if (!ok)
		return mlfs_fail(err, -EINVAL, "parameter %s: bad value '%s'",
				 name, v);
	*p = q;
	return 0;
}

static int put_kv(struct buf *out, const char *k, const char *v)
{
	return buf_printf(out, "%s %s\n", k, v);
}

static int put_num(struct buf *out, const char *k, uint32_t count, double frac)
{
	char tmp[40];
	if (frac > 0)
		buf_fmt_double(tmp, frac);
	else
		snprintf(tmp, sizeof(tmp), "%" PRIu32, count);
	return put_kv(out, k, tmp);
}

int forest_params_format(const struct forest_params *p, struct buf *out)
{
	static const char *const crit[] = { "default", "gini", "entropy",
					    "squared_error" };
	static const char *const task[] = { "auto", "classification",
					    "regression" };
	char tmp[40];
	int rc = 0;

	rc |= put_kv(out, "task", task[p->task]);
	rc |= put_num(out, "n_estimators", p->n_estimators, 0);
	rc |= put_kv(out, "criterion", crit[p->criterion]);
	if (p->max_depth)
		rc |= put_num(out, "max_depth", p->max_depth, 0);
	else
		rc |= put_kv(out, "max_depth", "None");
	rc |= put_num(out, "min_samples_split", p->min_samples_split,
		      p->min_samples_split_frac);
	rc |= put_num(out, "min_samples_leaf", p->min_samples_leaf,
		      p->min_samples_leaf_frac);
	buf_fmt_double(tmp, p->min_impurity_decrease);
	rc |= put_kv(out, "min_impurity_decrease", tmp);
	switch (p->max_features) {
	case FOREST_MF_DEFAULT: rc |= put_kv(out, "max_features", "default"); break;
	case FOREST_MF_SQRT: rc |= put_kv(out, "max_features", "sqrt"); break;
	case FOREST_MF_LOG2: rc |= put_kv(out, "max_features", "log2"); break;
	case FOREST_MF_ALL: rc |= put_kv(out, "max_features", "all"); break;
	case FOREST_MF_FRACTION:
		rc |= put_num(out, "max_features", 0, p->max_features_value);
		break;
	case FOREST_MF_COUNT:
		rc |= put_num(out, "max_features", (uint32_t)p->max_features_value, 0);
		break;
	}
	rc |= put_kv(out, "bootstrap", p->bootstrap ? "true" : "false");
	if (p->max_samples || p->max_samples_frac > 0)
		rc |= put_num(out, "max_samples", p->max_samples, p->max_samples_frac);
	else
		rc |= put_kv(out, "max_samples", "None");
	rc |= put_kv(out, "class_weight",
		     p->class_weight_balanced ? "balanced" : "None");
	snprintf(tmp, sizeof(tmp), "%" PRIu64, p->seed);
	rc |= put_kv(out, "seed", tmp);
	rc |= put_kv(out, "oob_score", p->oob_score ? "true" : "false");
	rc |= put_num(out, "max_bins", p->max_bins, 0);
	return rc ? -ENOMEM : 0;
}

/* ---- lifetime and the text of numbers ---- */

int forest_fmt_number(char *out, double v)
{
	if (isfinite(v) && fabs(v) < 1e15 && v == (double)(int64_t)v)
		return sprintf(out, "%" PRId64, (int64_t)v);
	return buf_fmt_double(out, v);
}

void forest_free(struct forest *m)
{
	if (!m)
		return;
	free(m->label);
	if (m->classes)
		for (uint32_t c = 0; c < m->k; c++)
			free(m->classes[c]);
	free(m->classes);
	if (m->feats) {
		for (uint32_t j = 0; j < m->nfeat; j++) {
			struct feature *ft = &m->feats[j];
			free(ft->name);
			if (ft->cats)
				for (uint32_t c = 0; c < ft->ncats; c++)
					free(ft->cats[c]);
			free(ft->cats);
			free(ft->catlen);
			free(ft->catbin);
			free(ft->ub);
		}
	}
	free(m->feats);
	if (m->trees)
		for (uint32_t t = 0; t < m->ntrees; t++)
			tree_release(&m->trees[t]);
	free(m->trees);
	forest_layout_free(m->layout);
	free(m->importances);
	free(m);
}

void forest_number_class_name(enum col_type t, double v, char *out)
{
	if (t == COL_BOOL && (v == 0 || v == 1))
		strcpy(out, v ? "true" : "false");
	else
		forest_fmt_number(out, v);
}

/* ---- properties ---- */

bool forest_is_classifier(const struct forest *m) { return m->classify; }
const char *forest_label(const struct forest *m) { return m->label; }
size_t forest_nclasses(const struct forest *m) { return m->k; }
size_t forest_nout(const struct forest *m) { return m->classify ? m->k : 1; }
size_t forest_nfeatures(const struct forest *m) { return m->nfeat; }
const double *forest_importances(const struct forest *m) { return m->importances; }
const struct forest_params *forest_params(const struct forest *m) { return &m->params; }

const char *forest_class_name(const struct forest *m, size_t k)
{
	return k < m->k ? m->classes[k] : NULL;
}

const char *forest_category_name(const struct forest *m, size_t j, size_t c)
{
	if (j >= m->nfeat || m->feats[j].kind != FRAME_CATEGORICAL || c >= m->feats[j].ncats)
		return NULL;
	return m->feats[j].cats[c];
}

const char *forest_feature_name(const struct forest *m, size_t j)
{
	return j < m->nfeat ? m->feats[j].name : NULL;
}

enum frame_kind forest_feature_kind(const struct forest *m, size_t j)
{
	return m->feats[j].kind;
}

enum col_type forest_feature_type(const struct forest *m, size_t j)
{
	return m->feats[j].type;
}

int forest_oob_score(const struct forest *m, double *out)
{
	if (!m->has_oob)
		return -ENODATA;
	*out = m->oob_score;
	return 0;
}

void forest_stats(const struct forest *m, struct forest_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->trees = m->ntrees;
	out->train_rows = m->train_rows;
	out->mem_bytes = sizeof(*m) + m->ntrees * sizeof(struct tree) +
			 m->nfeat * (sizeof(struct feature) + sizeof(double));
	for (uint32_t t = 0; t < m->ntrees; t++) {
		const struct tree *tr = &m->trees[t];
		out->nodes += tr->nnodes;
		for (uint32_t i = 0; i < tr->nnodes; i++)
			out->leaves += (tr->nodes[i].flags & NODE_LEAF) != 0;
		if (tr->depth > out->max_depth)
			out->max_depth = tr->depth;
		out->mem_bytes += tr->nnodes * sizeof(struct fnode) +
				  tr->nleafv * sizeof(float) +
				  tr->nvals * sizeof(double) +
				  tr->ncats * sizeof(uint32_t);
	}
	for (uint32_t j = 0; j < m->nfeat; j++) {
		out->mem_bytes += strlen(m->feats[j].name) + 1 +
				  m->feats[j].nbins * sizeof(double) +
				  m->feats[j].ncats;
		for (uint32_t c = 0; c < m->feats[j].ncats; c++)
			out->mem_bytes += m->feats[j].catlen[c] + 1 + sizeof(char *) + 4;
	}
	for (uint32_t c = 0; c < m->k; c++)
		out->mem_bytes += strlen(m->classes[c]) + 1 + sizeof(char *);
	if (m->layout)
		out->mem_bytes += sizeof(*m->layout) + m->layout->bytes;
}
