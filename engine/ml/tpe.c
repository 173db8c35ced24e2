/* tpe.c - random search and the univariate TPE of tpe.h.  For each
 * dimension the finished trials split into the best gamma(n) ("below")
 * and the rest ("above"); each side becomes a Parzen estimator - truncated
 * Gaussians at the observed points plus a wide prior, or smoothed category
 * frequencies - and of 24 candidates drawn from "below" the one with the
 * largest log l(x) - log g(x) wins. */
#include "tpe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define PRIOR_WEIGHT 1.0

/* ---- random numbers: splitmix64, one stream per (seed, trial, dim) ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_uniform(struct rng *r)
{
	return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double rng_normal(struct rng *r)
{
	double u1 = rng_uniform(r), u2 = rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static struct rng stream(uint64_t seed, uint32_t trial, size_t dim)
{
	struct rng r = { seed * 0x9e3779b97f4a7c15ull ^ ((uint64_t)trial << 20) ^ dim };
	rng_next(&r);
	return r;
}

/* ---- the internal scale ---- */

static void bounds(const struct search_dim *d, double *lo, double *hi)
{
	switch (d->kind) {
	case SEARCH_CHOICE:
		*lo = 0, *hi = (double)d->nchoices;
		break;
	case SEARCH_RANDINT:
		*lo = d->lo - 0.5, *hi = d->hi - 0.5;
		break;
	default:
		*lo = d->lo, *hi = d->hi;
	}
}

/* Snap a continuous draw to a value the dimension can take. */
static double snap(const struct search_dim *d, double x)
{
	double lo, hi;
	bounds(d, &lo, &hi);
	if (x < lo)
		x = lo;
	if (x > hi)
		x = hi;
	switch (d->kind) {
	case SEARCH_CHOICE: {
		double k = floor(x);
		return k >= (double)d->nchoices ? (double)d->nchoices - 1 : k;
	}
	case SEARCH_RANDINT: {
		double v = round(x);
		return v > d->hi - 1 ? d->hi - 1 : v < d->lo ? d->lo : v;
	}
	case SEARCH_QUNIFORM:
		return round(x / d->q) * d->q;
	default:
		return x;
	}
}

void tpe_value_text(const struct search_dim *d, double x, char *out, size_t n)
{
	switch (d->kind) {
	case SEARCH_CHOICE:
		snprintf(out, n, "%s", d->choices[(size_t)x]);
		return;
	case SEARCH_RANDINT:
		snprintf(out, n, "%.0f", x);
		return;
	case SEARCH_QUNIFORM:
		if (d->q == floor(d->q)) {
			snprintf(out, n, "%.0f", x);
			return;
		}
		break;
	case SEARCH_LOGUNIFORM:
		x = exp(x);
		break;
	default:
		break;
	}
	snprintf(out, n, "%.17g", x);
	if (!strpbrk(out, ".eEn"))
		strncat(out, ".0", n - strlen(out) - 1);
}

/* ---- Parzen estimators ---- */

struct mixture {
	size_t n;
	double *mu, *sigma, *w;		/* w sums to 1 */
	double lo, hi;
};

static double normal_cdf(double z)
{
	return 0.5 * erfc(-z / sqrt(2.0));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Optuna's weights: equal below 25 points, else the oldest ramp up. */
static double point_weight(size_t i, size_t n)
{
	if (n < 25 || i >= n - 25)
		return 1.0;
	return 1.0 / (double)n + (1.0 - 1.0 / (double)n) * (double)i / (double)(n - 25);
}

/* Observations OBS[0..N) (in trial order) plus the prior. */
static void mixture_make(struct mixture *m, const double *obs, size_t n,
			 double lo, double hi)
{
	size_t k = n + 1;
	m->n = k, m->lo = lo, m->hi = hi;
	m->mu = malloc(3 * k * sizeof(double));
	if (!m->mu)
		mlfs_oom();
	m->sigma = m->mu + k;
	m->w = m->sigma + k;
	double *sorted = malloc(k * sizeof(double));
	if (!sorted)
		mlfs_oom();
	double total = PRIOR_WEIGHT;
	for (size_t i = 0; i < n; i++) {
		m->mu[i] = obs[i];
		m->w[i] = point_weight(i, n);
		total += m->w[i];
	}
	m->mu[n] = (lo + hi) / 2, m->w[n] = PRIOR_WEIGHT;
	memcpy(sorted, m->mu, k * sizeof(double));
	qsort(sorted, k, sizeof(double), cmp_double);
	double range = hi - lo, smin = range / fmin(100.0, 1.0 + (double)k);
	for (size_t i = 0; i < n; i++) {
		/* The wider gap to a neighbour among all centres (and ends). */
		size_t j = 0;
		while (sorted[j] != m->mu[i])
			j++;
		double left = j ? sorted[j - 1] : lo, right = j + 1 < k ? sorted[j + 1] : hi;
		double s = fmax(m->mu[i] - left, right - m->mu[i]);
		m->sigma[i] = fmin(fmax(s, smin), range);
	}
	m->sigma[n] = range;
	for (size_t i = 0; i < k; i++)
		m->w[i] /= total;
	free(sorted);
}

static double mixture_log_density(const struct mixture *m, double x)
{
	double p = 0;
	for (size_t i = 0; i < m->n; i++) {
		double s = m->sigma[i], z = (x - m->mu[i]) / s;
		double mass = normal_cdf((m->hi - m->mu[i]) / s) - normal_cdf((m->lo - m->mu[i]) / s);
		p += m->w[i] * exp(-0.5 * z * z) / (s * 2.5066282746310002 * fmax(mass, 1e-12));
	}
	return log(fmax(p, 1e-300));
}

static double mixture_sample(const struct mixture *m, struct rng *r)
{
	double u = rng_uniform(r), acc = 0;
	size_t i = 0;
	for (; i + 1 < m->n; i++) {
		acc += m->w[i];
		if (u < acc)
			break;
	}
	for (int tries = 0; tries < 100; tries++) {
		double x = m->mu[i] + m->sigma[i] * rng_normal(r);
		if (x >= m->lo && x <= m->hi)
			return x;
	}
	return fmin(fmax(m->mu[i], m->lo), m->hi);
}

/* ---- one dimension ---- */

static double suggest_numeric(const struct search_dim *d, const double *below,
			      size_t nb, const double *above, size_t na, struct rng *r)
{
	double lo, hi;
	bounds(d, &lo, &hi);
	struct mixture l, g;
	mixture_make(&l, below, nb, lo, hi);
	mixture_make(&g, above, na, lo, hi);
	double best = 0, best_score = -INFINITY;
	for (int c = 0; c < TPE_CANDIDATES; c++) {
		double x = snap(d, mixture_sample(&l, r));
		double score = mixture_log_density(&l, x) - mixture_log_density(&g, x);
		if (score > best_score)
			best_score = score, best = x;
	}
	free(l.mu);
	free(g.mu);
	return best;
}

static double suggest_choice(const struct search_dim *d, const double *below,
			     size_t nb, const double *above, size_t na, struct rng *r)
{
	size_t k = d->nchoices;
	double *pb = calloc(2 * k, sizeof(double)), *pa;
	if (!pb)
		mlfs_oom();
	pa = pb + k;
	for (size_t c = 0; c < k; c++)
		pb[c] = pa[c] = PRIOR_WEIGHT / (double)k;
	for (size_t i = 0; i < nb; i++)
		pb[(size_t)below[i]] += point_weight(i, nb);
	for (size_t i = 0; i < na; i++)
		pa[(size_t)above[i]] += point_weight(i, na);
	double sb = 0, sa = 0;
	for (size_t c = 0; c < k; c++)
		sb += pb[c], sa += pa[c];
	double best = 0, best_score = -INFINITY;
	for (int n = 0; n < TPE_CANDIDATES; n++) {
		double u = rng_uniform(r) * sb, acc = 0;
		size_t c = 0;
		for (; c + 1 < k; c++) {
			acc += pb[c];
			if (u < acc)
				break;
		}
		double score = log(pb[c] / sb) - log(pa[c] / sa);
		if (score > best_score)
			best_score = score, best = (double)c;
	}
	free(pb);
	return best;
}

struct ranked {
	size_t index;
	double loss;
};

static int cmp_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->loss != y->loss)
		return x->loss < y->loss ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

void tpe_suggest(const struct search_dim *space, size_t ndim,
		 enum tune_algo algo, uint64_t seed, uint32_t trial,
		 const struct tpe_trial *done, size_t ndone, double *x)
{
	if (algo == TUNE_RANDOM || ndone < TPE_STARTUP) {
		for (size_t j = 0; j < ndim; j++) {
			struct rng r = stream(seed, trial, j);
			double lo, hi;
			bounds(&space[j], &lo, &hi);
			x[j] = snap(&space[j], lo + (hi - lo) * rng_uniform(&r));
		}
		return;
	}
	/* Below: the best gamma(n) trials; both sides kept in trial order. */
	struct ranked *rank = malloc(ndone * sizeof(*rank));
	bool *is_below = calloc(ndone, sizeof(*is_below));
	double *below = malloc(ndone * sizeof(double)), *above = malloc(ndone * sizeof(double));
	if (!rank || !is_below || !below || !above)
		mlfs_oom();
	for (size_t i = 0; i < ndone; i++)
		rank[i] = (struct ranked){ i, done[i].loss };
	qsort(rank, ndone, sizeof(*rank), cmp_ranked);
	size_t nbelow = (size_t)ceil(0.1 * (double)ndone);
	if (nbelow > 25)
		nbelow = 25;
	for (size_t i = 0; i < nbelow; i++)
		is_below[rank[i].index] = true;
	for (size_t j = 0; j < ndim; j++) {
		size_t nb = 0, na = 0;
		for (size_t i = 0; i < ndone; i++) {
			if (is_below[i])
				below[nb++] = done[i].x[j];
			else
				above[na++] = done[i].x[j];
		}
		struct rng r = stream(seed, trial, j);
		x[j] = space[j].kind == SEARCH_CHOICE
			? suggest_choice(&space[j], below, nb, above, na, &r)
			: suggest_numeric(&space[j], below, nb, above, na, &r);
	}
	free(rank);
	free(is_below);
	free(below);
	free(above);
}
