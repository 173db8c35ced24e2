/* window.c - the results of one window: its rows split into groups (the
 * whole data and each slice value, each across versions and per model
 * version), and per group and watched column a profile.csv line, the
 * drift.csv lines against the baseline and the window before, and per
 * group a performance.csv line when labels exist.  Groups x columns are
 * shared out on the process pool (par.h) by index; each task writes its
 * own lines, joined in task order, so the output does not depend on the
 * thread count. */
#include "monitor_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "drift.h"
#include "par.h"
#include "sort.h"
#include "types.h"

void mon_fmt_time(char *out, int64_t seconds)
{
	fmt_timestamp(out, seconds * 1000000);
}

/* ---- groups ---- */

struct group {
	const char *skey, *sval;	/* "" for the whole data */
	const char *model;		/* "" across versions */
	char version[24];
	size_t *rows;
	size_t n;
};

struct groups {
	struct group *v;
	size_t n, cap;
	char **owned;			/* model names split off "MODEL@N" */
	size_t nowned;
};

static void groups_free(struct groups *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].rows);
	for (size_t i = 0; i < g->nowned; i++)
		free(g->owned[i]);
	free(g->owned);
	free(g->v);
}

static struct group *group_add(struct groups *g)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 16;
		if (!(g->v = realloc(g->v, g->cap * sizeof(*g->v))))
			mlfs_oom();
	}
	struct group *gr = &g->v[g->n++];
	memset(gr, 0, sizeof(*gr));
	gr->skey = gr->sval = gr->model = "";
	return gr;
}

struct ver_order {
	uint32_t idx;
	const char *text;
};

static int cmp_version(const void *a, const void *b)
{
	const char *x = ((const struct ver_order *)a)->text, *y = ((const struct ver_order *)b)->text;
	const char *ax = strrchr(x, '@'), *ay = strrchr(y, '@');
	size_t lx = ax ? (size_t)(ax - x) : strlen(x), ly = ay ? (size_t)(ay - y) : strlen(y);
	int c = memcmp(x, y, lx < ly ? lx : ly);
	if (c || lx != ly)
		return c ? c : lx < ly ? -1 : 1;
	unsigned long long vx = ax ? strtoull(ax + 1, NULL, 10) : 0, vy = ay ? strtoull(ay + 1, NULL, 10) : 0;
	return vx < vy ? -1 : vx > vy;
}

static int cmp_text(const void *a, const void *b)
{
	return strcmp(((const struct ver_order *)a)->text, ((const struct ver_order *)b)->text);
}

/* The distinct values of IDX[0..n) (UINT32_MAX skipped) in W's strings,
 * ordered by CMP.  *OUT: free(). */
static size_t distinct(const struct wdata *w, const uint32_t *idx, const size_t *rows,
		       size_t n, int (*cmp)(const void *, const void *),
		       struct ver_order **out)
{
	size_t nstr = strmap_count(w->strs), k = 0;
	uint8_t *seen = calloc(nstr + 1, 1);
	struct ver_order *v = malloc((nstr + 1) * sizeof(*v));
	if (!seen || !v)
		mlfs_oom();
	for (size_t r = 0; r < n; r++) {
		uint32_t i = idx[rows ? rows[r] : r];
		if (i != UINT32_MAX && !seen[i]) {
			seen[i] = 1;
			v[k++] = (struct ver_order){ i, strmap_str(w->strs, i, NULL) };
		}
	}
	free(seen);
	qsort(v, k, sizeof(*v), cmp);
	*out = v;
	return k;
}

/* Per slice rows S[0..ns): the group across versions (served rows) and
 * one per version. */
static void add_version_groups(struct groups *g, const struct wdata *w,
			       const char *skey, const char *sval,
			       const size_t *s, size_t ns)
{
	struct ver_order *vers;
	size_t nv = distinct(w, w->version, s, ns, cmp_version, &vers);
	struct group *all = group_add(g);
	all->skey = skey;
	all->sval = sval;
	if (!(all->rows = malloc((ns + 1) * sizeof(size_t))))
		mlfs_oom();
	for (size_t r = 0; r < ns; r++)
		if (!w->shadow[s[r]])
			all->rows[all->n++] = s[r];
	for (size_t k = 0; k < nv; k++) {
		struct group *gr = group_add(g);
		const char *text = vers[k].text, *at = strrchr(text, '@');
		gr->skey = skey;
		gr->sval = sval;
		if (!(g->owned = realloc(g->owned, (g->nowned + 1) * sizeof(char *))))
			mlfs_oom();
		/* "MODEL@N", or a bare "N" (batch scoring's model_version) */
		char *model = strndup(text, at ? (size_t)(at - text) : 0);
		if (!model)
			mlfs_oom();
		g->owned[g->nowned++] = model;
		gr->model = model;
		snprintf(gr->version, sizeof(gr->version), "%s", at ? at + 1 : text);
		if (!(gr->rows = malloc((ns + 1) * sizeof(size_t))))
			mlfs_oom();
		for (size_t r = 0; r < ns; r++)
			if (w->version[s[r]] == vers[k].idx)
				gr->rows[gr->n++] = s[r];
	}
	free(vers);
}

static void make_groups(const struct wdata *w, const struct mon_layout *lay,
			struct groups *g)
{
	size_t *all = malloc((w->n + 1) * sizeof(size_t));
	if (!all)
		mlfs_oom();
	for (size_t i = 0; i < w->n; i++)
		all[i] = i;
	add_version_groups(g, w, "", "", all, w->n);
	for (size_t j = 0; j < lay->nslices; j++) {
		struct ver_order *vals;
		size_t nv = distinct(w, w->slice[j], NULL, w->n, cmp_text, &vals);
		for (size_t k = 0; k < nv; k++) {
			size_t ns = 0;
			for (size_t i = 0; i < w->n; i++)
				if (w->slice[j][i] == vals[k].idx)
					all[ns++] = i;
			char *sval = strdup(vals[k].text);	/* the groups outlive W */
			if (!sval || !(g->owned = realloc(g->owned, (g->nowned + 1) * sizeof(char *))))
				mlfs_oom();
			g->owned[g->nowned++] = sval;
			add_version_groups(g, w, lay->slices[j], sval, all, ns);
		}
		free(vals);
	}
	free(all);
}

/* The index of the group of G matching X's slice and version, or
 * SIZE_MAX. */
static size_t find_group(const struct groups *g, const struct group *x)
{
	for (size_t i = 0; i < g->n; i++) {
		const struct group *y = &g->v[i];
		if (!strcmp(y->skey, x->skey) && !strcmp(y->sval, x->sval) &&
		    !strcmp(y->model, x->model) && !strcmp(y->version, x->version))
			return i;
	}
	return SIZE_MAX;
}

/* ---- a column's values in a group ---- */

struct values {
	bool numeric;
	double *x;		/* numeric: sorted, non-null */
	size_t n, nulls;
	struct strmap *cats;	/* categorical: category -> index */
	uint64_t *counts;
};

static void values_free(struct values *v)
{
	free(v->x);
	strmap_free(v->cats);
	free(v->counts);
	memset(v, 0, sizeof(*v));
}

/* A window's groups (their rows dropped) and, per group and column, the
 * values gathered and sorted: what the next window's consecutive drift
 * compares with, so no window is sorted twice in a refresh. */
struct wsum {
	struct groups g;
	size_t ncols;
	struct values *v;	/* [g.n * ncols] */
};

void wsum_free(struct wsum *sum)
{
	if (!sum)
		return;
	for (size_t i = 0; i < sum->g.n * sum->ncols; i++)
		values_free(&sum->v[i]);
	free(sum->v);
	groups_free(&sum->g);
	free(sum);
}

static struct wsum *wsum_new(const struct wdata *w, const struct mon_layout *lay)
{
	struct wsum *sum = calloc(1, sizeof(*sum));
	if (!sum)
		mlfs_oom();
	make_groups(w, lay, &sum->g);
	sum->ncols = lay->ncols;
	sum->v = calloc(sum->g.n * sum->ncols + 1, sizeof(*sum->v));
	if (!sum->v)
		mlfs_oom();
	return sum;
}

/* The rows of every group go once the values are gathered. */
static void wsum_drop_rows(struct wsum *sum)
{
	for (size_t i = 0; i < sum->g.n; i++) {
		free(sum->g.v[i].rows);
		sum->g.v[i].rows = NULL;
	}
}

static void count_cat(struct values *v, const char *p, size_t len)
{
	size_t i = strmap_intern(v->cats, p, len);
	if (i >= v->n) {
		if (!(v->counts = realloc(v->counts, (i + 1) * sizeof(uint64_t))))
			mlfs_oom();
		for (size_t k = v->n; k <= i; k++)
			v->counts[k] = 0;
		v->n = i + 1;
	}
	v->counts[i]++;
}

static void gather(const struct wdata *w, const struct wcol *c, const struct group *g,
		   bool numeric, struct values *v)
{
	memset(v, 0, sizeof(*v));
	v->numeric = numeric;
	if (numeric) {
		if (!(v->x = malloc((g->n + 1) * sizeof(double))))
			mlfs_oom();
		for (size_t r = 0; r < g->n; r++) {
			size_t i = g->rows[r];
			if (wcol_kind(c, i) == CELL_NUM)
				v->x[v->n++] = c->num[i];
			else
				v->nulls++;
		}
		sort_doubles(v->x, v->n);
		return;
	}
	v->cats = strmap_new();
	for (size_t r = 0; r < g->n; r++) {
		size_t i = g->rows[r], len;
		char tmp[40];
		if (wcol_kind(c, i) == CELL_STR) {
			const char *p = strmap_str(w->strs, c->str[i], &len);
			count_cat(v, p, len);
		} else if (wcol_kind(c, i) == CELL_NUM) {
			int n = buf_fmt_double(tmp, c->num[i]);
			count_cat(v, tmp, (size_t)n);
		} else {
			v->nulls++;
		}
	}
}

static uint64_t cat_total(const struct values *v)
{
	uint64_t t = 0;
	for (size_t i = 0; i < v->n; i++)
		t += v->counts[i];
	return t;
}

/* The value at quantile Q of sorted X (numpy's linear interpolation). */
static double quantile(const double *x, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)pos;
	if (lo + 1 >= n)
		return x[n - 1];
	return x[lo] + (x[lo + 1] - x[lo]) * (pos - (double)lo);
}

/* ---- output helpers ---- */

static void put_num(struct buf *b, double v)
{
	if (isfinite(v))
		buf_put_double(b, v);
	else if (isinf(v))
		buf_puts(b, v > 0 ? "inf" : "-inf");
}

struct ctx {
	const struct monitor_spec *sp;
	const struct mon_layout *lay;
	const struct baseline *base;
	const struct labels *lab;
	const struct wdata *w;
	const struct wsum *prev;	/* the window before, or NULL */
	struct wsum *sum;		/* this window's, filled by the tasks */
	char ws[40], we[40];
	/* column types, decided once per window */
	bool *numeric;
	const struct profile_col **bcol;
};

/* "ws,we,skey,sval,model,version," */
static void put_head(struct buf *b, const struct ctx *cx, const struct group *g)
{
	buf_puts(b, cx->ws);
	buf_putc(b, ',');
	buf_puts(b, cx->we);
	buf_putc(b, ',');
	csv_put_field(b, g->skey, strlen(g->skey));
	buf_putc(b, ',');
	csv_put_field(b, g->sval, strlen(g->sval));
	buf_putc(b, ',');
	csv_put_field(b, g->model, strlen(g->model));
	buf_putc(b, ',');
	buf_puts(b, g->version);
	buf_putc(b, ',');
}

static const char *level_of(const struct monitor_spec *sp, int m, double v)
{
	if (isnan(v))
		return "LOW";
	if (monitor_metric_is_pvalue(m))
		return v <= sp->high[m] ? "HIGH" : v <= sp->medium[m] ? "MEDIUM" : "LOW";
	return v >= sp->high[m] ? "HIGH" : v >= sp->medium[m] ? "MEDIUM" : "LOW";
}

struct task_out {
	struct buf prof, drift, levels;
};

/* A drift.csv line of test M's value V (and, for KS and chi-square, a
 * line of the STATISTIC before it, at the p-value's level). */
static void emit(struct task_out *o, const struct ctx *cx, const struct group *g,
		 const char *col, int m, double v, double statistic, const char *type,
		 bool alerting)
{
	if (!cx->sp->metric_on[m] || isnan(v))
		return;
	const char *level = level_of(cx->sp, m, v);
	if (monitor_metric_is_pvalue(m)) {
		put_head(&o->drift, cx, g);
		csv_put_field(&o->drift, col, strlen(col));
		buf_puts(&o->drift, m == MONITOR_KS ? ",ks_statistic," : ",chi2_statistic,");
		put_num(&o->drift, statistic);
		buf_printf(&o->drift, ",%s,%s\n", level, type);
	}
	put_head(&o->drift, cx, g);
	csv_put_field(&o->drift, col, strlen(col));
	buf_printf(&o->drift, ",%s,", monitor_metric_name(m));
	put_num(&o->drift, v);
	buf_printf(&o->drift, ",%s,%s\n", level, type);
	if (alerting && strcmp(level, "LOW")) {
		csv_put_field(&o->levels, g->skey, strlen(g->skey));
		buf_putc(&o->levels, ',');
		csv_put_field(&o->levels, g->sval, strlen(g->sval));
		buf_putc(&o->levels, ',');
		csv_put_field(&o->levels, g->model, strlen(g->model));
		buf_printf(&o->levels, ",%s,", g->version);
		csv_put_field(&o->levels, col, strlen(col));
		buf_printf(&o->levels, ",%s\t%s\t", monitor_metric_name(m), level);
		put_num(&o->levels, v);
		buf_putc(&o->levels, '\n');
	}
}

/* Numeric drift of CUR against sorted BASE (NB points standing for
 * BROWS rows with standard deviation BSD). */
static void numeric_drift(struct task_out *o, const struct ctx *cx, const struct group *g,
			  const char *col, const double *base, size_t nb, uint64_t brows,
			  double bsd, const struct values *cur, const char *type, bool alerting)
{
	if (!nb || !cur->n)
		return;
	double p;
	double psi = drift_psi(base, nb, cur->x, cur->n, cx->sp->psi_bins);
	double d = drift_ks(base, nb, cur->x, cur->n, &p);
	p = drift_ks_pvalue(d, brows, cur->n);
	double wd = drift_wasserstein(base, nb, cur->x, cur->n, 0) / (bsd > 0.001 ? bsd : 0.001);
	emit(o, cx, g, col, MONITOR_PSI, psi, NAN, type, alerting);
	emit(o, cx, g, col, MONITOR_KS, p, d, type, alerting);
	emit(o, cx, g, col, MONITOR_WASSERSTEIN, wd, NAN, type, alerting);
}

/* Categorical drift of CUR against counts by name (NAMES[i], COUNTS[i]). */
static void categorical_drift(struct task_out *o, const struct ctx *cx, const struct group *g,
			      const char *col, char *const *names, const uint64_t *counts,
			      size_t k, const struct values *cur, const char *type, bool alerting)
{
	if (!k || !cur->n)
		return;
	struct strmap *all = strmap_new();
	for (size_t i = 0; i < k; i++)
		strmap_intern(all, names[i], strlen(names[i]));
	for (size_t i = 0; i < cur->n; i++) {
		size_t len;
		const char *p = strmap_str(cur->cats, i, &len);
		strmap_intern(all, p, len);
	}
	size_t n = strmap_count(all);
	uint64_t *b = calloc(n + 1, sizeof(uint64_t)), *c = calloc(n + 1, sizeof(uint64_t));
	if (!b || !c)
		mlfs_oom();
	for (size_t i = 0; i < k; i++)
		b[strmap_find(all, names[i], strlen(names[i]))] += counts[i];
	for (size_t i = 0; i < cur->n; i++) {
		size_t len;
		const char *p = strmap_str(cur->cats, i, &len);
		c[strmap_find(all, p, len)] += cur->counts[i];
	}
	double pv;
	double chi2 = drift_chi2(b, c, n, &pv);
	emit(o, cx, g, col, MONITOR_CHI2, pv, chi2, type, alerting);
	emit(o, cx, g, col, MONITOR_JS, drift_js(b, c, n), NAN, type, alerting);
	free(b);
	free(c);
	strmap_free(all);
}

static void profile_line(struct task_out *o, const struct ctx *cx, const struct group *g,
			 const char *col, const struct values *v)
{
	put_head(&o->prof, cx, g);
	csv_put_field(&o->prof, col, strlen(col));
	if (!v->numeric) {
		uint64_t n = cat_total(v);
		buf_printf(&o->prof, ",categorical,%llu,%zu,,,,,,,,%zu\n",
			   (unsigned long long)n, v->nulls, v->n);
		return;
	}
	buf_printf(&o->prof, ",numeric,%zu,%zu,", v->n, v->nulls);
	if (!v->n) {
		buf_puts(&o->prof, ",,,,,,,0\n");
		return;
	}
	double mean = 0, m2 = 0;
	size_t distinct_n = 0;
	for (size_t i = 0; i < v->n; i++) {
		double delta = v->x[i] - mean;
		mean += delta / (double)(i + 1);
		m2 += delta * (v->x[i] - mean);
		distinct_n += i == 0 || v->x[i] != v->x[i - 1];
	}
	double q[] = { sqrt(m2 / (double)v->n), v->x[0], quantile(v->x, v->n, 0.25),
		       quantile(v->x, v->n, 0.5), quantile(v->x, v->n, 0.75), v->x[v->n - 1] };
	put_num(&o->prof, mean);
	for (size_t i = 0; i < 6; i++) {
		buf_putc(&o->prof, ',');
		put_num(&o->prof, q[i]);
	}
	buf_printf(&o->prof, ",%zu\n", distinct_n);
}

/* Task T: group T / ncols, column T % ncols. */
static void run_task(struct ctx *cx, size_t t, struct task_out *o)
{
	size_t nc = cx->lay->ncols;
	const struct group *g = &cx->sum->g.v[t / nc];
	size_t c = t % nc;
	const char *col = cx->lay->cols[c];
	const struct profile_col *bc = cx->bcol[c];
	struct values v;
	if (!g->n)
		return;
	if (*g->skey)
		for (size_t i = 0; i < cx->base->nslices; i++)
			if (!strcmp(cx->base->slices[i].key, g->skey) &&
			    !strcmp(cx->base->slices[i].value, g->sval)) {
				bc = profile_find(cx->base->slices[i].prof, col);
				break;
			}
	gather(cx->w, &cx->w->cols[c], g, cx->numeric[c], &v);
	profile_line(o, cx, g, col, &v);
	bool have_base = cx->base->prof != NULL;
	if (bc && v.numeric && bc->kind == PROFILE_NUMERIC)
		numeric_drift(o, cx, g, col, bc->sample, bc->nsample, bc->count, bc->std, &v, "baseline", true);
	else if (bc && !v.numeric && bc->kind == PROFILE_CATEGORICAL)
		categorical_drift(o, cx, g, col, bc->cats, bc->cat_counts, bc->ncats, &v, "baseline", true);
	size_t pi = cx->prev ? find_group(&cx->prev->g, g) : SIZE_MAX;
	const struct values *pv = pi != SIZE_MAX ? &cx->prev->v[pi * nc + c] : NULL;
	if (pv && pv->numeric == v.numeric && pv->n) {
		if (v.numeric) {
			double mean = 0, m2 = 0;
			for (size_t i = 0; i < pv->n; i++) {
				double delta = pv->x[i] - mean;
				mean += delta / (double)(i + 1);
				m2 += delta * (pv->x[i] - mean);
			}
			numeric_drift(o, cx, g, col, pv->x, pv->n, pv->n, sqrt(m2 / (double)pv->n), &v,
				      "consecutive", !have_base);
		} else {
			char **names = malloc((pv->n + 1) * sizeof(char *));
			if (!names)
				mlfs_oom();
			for (size_t i = 0; i < pv->n; i++)
				names[i] = (char *)strmap_str(pv->cats, i, NULL);
			categorical_drift(o, cx, g, col, names, pv->counts, pv->n, &v, "consecutive", !have_base);
			free(names);
		}
	}
	cx->sum->v[t] = v;	/* the next window compares with it */
}

struct tasks {
	struct ctx *cx;
	struct task_out *out;
};

static void task_item(void *arg, size_t t)
{
	struct tasks *p = arg;
	run_task(p->cx, t, &p->out[t]);
}

/* ---- performance ---- */

struct pair {
	double score;
	bool pos;
};

static int cmp_pair(const void *a, const void *b)
{
	double x = ((const struct pair *)a)->score, y = ((const struct pair *)b)->score;
	return x < y ? -1 : x > y;
}

/* Mann-Whitney AUC with ties averaged. */
static double auc(struct pair *p, size_t n)
{
	size_t npos = 0;
	double ranks = 0;
	qsort(p, n, sizeof(*p), cmp_pair);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && p[j].score == p[i].score)
			j++;
		double rank = ((double)i + (double)j + 1) / 2;
		for (size_t k = i; k < j; k++)
			if (p[k].pos) {
				npos++;
				ranks += rank;
			}
		i = j;
	}
	size_t nneg = n - npos;
	if (!npos || !nneg)
		return NAN;
	return (ranks - (double)npos * ((double)npos + 1) / 2) / ((double)npos * (double)nneg);
}

static const char *cell_text(const struct wdata *w, const struct wcol *c, size_t i, char tmp[40])
{
	if (wcol_kind(c, i) == CELL_STR)
		return strmap_str(w->strs, c->str[i], NULL);
	if (wcol_kind(c, i) == CELL_NUM) {
		buf_fmt_double(tmp, c->num[i]);
		return tmp;
	}
	return NULL;
}

static bool regression(const struct ctx *cx)
{
	if (cx->sp->problem != MONITOR_PROBLEM_AUTO)
		return cx->sp->problem == MONITOR_PROBLEM_REGRESSION;
	if (cx->base->problem != MONITOR_PROBLEM_AUTO)
		return cx->base->problem == MONITOR_PROBLEM_REGRESSION;
	const struct wdata *w = cx->w;
	for (size_t i = 0; i < w->n; i++)
		if (!isnan(w->prob[i]) || wcol_kind(&w->pred, i) == CELL_STR)
			return false;
	return true;
}

/* accuracy, precision, recall, f1_score, roc_auc of N rows: predicted and
 * true class indexes in CLS, the positive class's probability. */
static void classification_metrics(struct buf *out, const struct strmap *cls,
				   const size_t *pred, const size_t *truth,
				   const double *prob, size_t n)
{
	size_t k = strmap_count(cls), hit = 0;
	struct ver_order *order = malloc((k + 1) * sizeof(*order));
	double *tp = calloc(k + 1, sizeof(double)), *pp = calloc(k + 1, sizeof(double)),
	       *ap = calloc(k + 1, sizeof(double));
	if (!order || !tp || !pp || !ap)
		mlfs_oom();
	for (size_t c = 0; c < k; c++)
		order[c] = (struct ver_order){ (uint32_t)c, strmap_str(cls, c, NULL) };
	qsort(order, k, sizeof(*order), cmp_text);
	for (size_t i = 0; i < n; i++) {
		hit += pred[i] == truth[i];
		pp[pred[i]]++;
		ap[truth[i]]++;
		if (pred[i] == truth[i])
			tp[pred[i]]++;
	}
	double prec = 0, rec = 0, f1 = 0, a = NAN;
	size_t from = k == 2 ? 1 : 0, to = k;	/* binary: the positive class */
	for (size_t r = from; r < to; r++) {
		size_t c = order[r].idx;
		double pr = pp[c] ? tp[c] / pp[c] : 0, re = ap[c] ? tp[c] / ap[c] : 0;
		prec += pr;
		rec += re;
		f1 += pr + re > 0 ? 2 * pr * re / (pr + re) : 0;
	}
	prec /= (double)(to - from);
	rec /= (double)(to - from);
	f1 /= (double)(to - from);
	if (k == 2) {
		struct pair *ps = malloc(n * sizeof(*ps));
		size_t np = 0, positive = order[1].idx;
		if (!ps)
			mlfs_oom();
		for (size_t i = 0; i < n; i++)
			if (!isnan(prob[i]))
				ps[np++] = (struct pair){ prob[i], truth[i] == positive };
		if (np == n)
			a = auc(ps, np);
		free(ps);
	}
	put_num(out, (double)hit / (double)n);
	buf_putc(out, ',');
	put_num(out, prec);
	buf_putc(out, ',');
	put_num(out, rec);
	buf_putc(out, ',');
	put_num(out, f1);
	buf_putc(out, ',');
	put_num(out, a);
	buf_puts(out, ",,,");
	free(order);
	free(tp);
	free(pp);
	free(ap);
}

static void performance(const struct ctx *cx, const struct group *g, struct buf *out)
{
	const struct wdata *w = cx->w;
	const struct labels *lab = cx->lab;
	bool reg = regression(cx);
	size_t n = 0;
	double se = 0, ae = 0, sum = 0, sumsq = 0;
	struct strmap *cls = strmap_new();
	size_t *pred = malloc((g->n + 1) * sizeof(size_t)), *truth = malloc((g->n + 1) * sizeof(size_t));
	double *prob = malloc((g->n + 1) * sizeof(double));
	if (!pred || !truth || !prob)
		mlfs_oom();
	for (size_t r = 0; r < g->n; r++) {
		size_t i = g->rows[r], kl;
		char tmp[40];
		if (w->key[i] == UINT32_MAX)
			continue;
		const char *key = strmap_str(w->strs, w->key[i], &kl);
		size_t li = strmap_find(lab->keys, key, kl);
		const char *pt = cell_text(w, &w->pred, i, tmp);
		if (li == SIZE_MAX || !pt)
			continue;
		size_t ll;
		const char *lt = strmap_str(lab->texts, lab->label[li], &ll);
		if (reg) {
			double y, yhat = wcol_kind(&w->pred, i) == CELL_NUM ? w->pred.num[i] : strtod(pt, NULL);
			if (!value_parse_float(lt, ll, &y))
				continue;
			se += (y - yhat) * (y - yhat);
			ae += fabs(y - yhat);
			sum += y;
			sumsq += y * y;
		} else {
			/* a label 1.0 and a prediction 1 are the same class */
			double y;
			char lbuf[40];
			if (wcol_kind(&w->pred, i) == CELL_NUM && value_parse_float(lt, ll, &y)) {
				buf_fmt_double(lbuf, y);
				lt = lbuf;
				ll = strlen(lbuf);
			}
			truth[n] = strmap_intern(cls, lt, ll);
			pred[n] = strmap_intern(cls, pt, strlen(pt));
			prob[n] = w->prob[i];
		}
		n++;
	}
	if (n) {
		put_head(out, cx, g);
		buf_printf(out, "%zu,", n);
		if (reg) {
			double mean = sum / (double)n, sst = sumsq - (double)n * mean * mean;
			buf_puts(out, ",,,,,");
			put_num(out, sqrt(se / (double)n));
			buf_putc(out, ',');
			put_num(out, ae / (double)n);
			buf_putc(out, ',');
			put_num(out, sst > 0 ? 1 - se / sst : NAN);
		} else {
			classification_metrics(out, cls, pred, truth, prob, n);
		}
		buf_putc(out, '\n');
	}
	strmap_free(cls);
	free(pred);
	free(truth);
	free(prob);
}

/* ---- the window ---- */

/* Numeric when the baseline says so, else when every value is a number. */
static bool column_numeric(const struct wdata *w, size_t c, const struct profile_col *bc)
{
	if (bc)
		return bc->kind == PROFILE_NUMERIC;
	bool any = false;
	for (size_t i = 0; i < w->n; i++) {
		if (wcol_kind(&w->cols[c], i) == CELL_STR)
			return false;
		any |= wcol_kind(&w->cols[c], i) == CELL_NUM;
	}
	return any;
}

/* Numeric when the baseline says so, else when every value is a number;
 * the baseline's column for each watched column into BCOL. */
static bool *column_kinds(const struct mon_layout *lay, const struct baseline *base,
			  const struct wdata *w, const struct profile_col **bcol)
{
	bool *numeric = calloc(lay->ncols + 1, sizeof(bool));
	if (!numeric)
		mlfs_oom();
	for (size_t c = 0; c < lay->ncols; c++) {
		bcol[c] = base->prof ? profile_find(base->prof, lay->cols[c]) : NULL;
		numeric[c] = column_numeric(w, c, bcol[c]);
	}
	return numeric;
}

struct wsum *window_summarize(const struct mon_layout *lay, const struct baseline *base,
			      const struct wdata *w)
{
	struct wsum *sum = wsum_new(w, lay);
	const struct profile_col **bcol = calloc(lay->ncols + 1, sizeof(*bcol));
	if (!bcol)
		mlfs_oom();
	bool *numeric = column_kinds(lay, base, w, bcol);
	for (size_t gi = 0; gi < sum->g.n; gi++)
		for (size_t c = 0; c < lay->ncols; c++)
			if (sum->g.v[gi].n)
				gather(w, &w->cols[c], &sum->g.v[gi], numeric[c], &sum->v[gi * lay->ncols + c]);
	wsum_drop_rows(sum);
	free(numeric);
	free(bcol);
	return sum;
}

struct wsum *window_compute(const struct monitor_spec *sp, const struct mon_layout *lay,
			    const struct baseline *base, const struct labels *lab,
			    int64_t start, const struct wdata *w,
			    const struct wsum *prev, struct buf *prof,
			    struct buf *drift, struct buf *perf, struct buf *levels)
{
	struct ctx cx = { sp, lay, base, lab, w, prev, NULL, "", "", NULL, NULL };
	mon_fmt_time(cx.ws, start);
	mon_fmt_time(cx.we, start + sp->granularity_s);
	cx.sum = wsum_new(w, lay);
	cx.bcol = calloc(lay->ncols + 1, sizeof(*cx.bcol));
	if (!cx.bcol)
		mlfs_oom();
	cx.numeric = column_kinds(lay, base, w, cx.bcol);

	size_t ntasks = cx.sum->g.n * lay->ncols;
	struct tasks p = { &cx, calloc(ntasks + 1, sizeof(*p.out)) };
	if (!p.out)
		mlfs_oom();
	par_for(par_default(), ntasks, task_item, &p);
	for (size_t t = 0; t < ntasks; t++) {
		buf_append(prof, p.out[t].prof.data, p.out[t].prof.len);
		buf_append(drift, p.out[t].drift.data, p.out[t].drift.len);
		buf_append(levels, p.out[t].levels.data, p.out[t].levels.len);
		buf_free(&p.out[t].prof);
		buf_free(&p.out[t].drift);
		buf_free(&p.out[t].levels);
	}
	free(p.out);
	if (lab)
		for (size_t i = 0; i < cx.sum->g.n; i++)
			if (cx.sum->g.v[i].n)
				performance(&cx, &cx.sum->g.v[i], perf);
	free(cx.numeric);
	free(cx.bcol);
	wsum_drop_rows(cx.sum);
	return cx.sum;
}
