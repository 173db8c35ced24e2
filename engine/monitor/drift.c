/* drift.c - the drift statistics of drift.h on sorted arrays and count
 * vectors.  Every numeric statistic is one merge walk over two sorted
 * samples (or binary searches into them), so a column costs a sort plus
 * linear work (the sort is base/sort.c's).  No allocation. */
#include "drift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ---- PSI ---- */

/* Elements of sorted X[0..N) below V. */
static size_t count_below(const double *x, size_t n, double v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static double floored_share(size_t count, size_t n)
{
	double s = (double)count / (double)n;
	return s > 0 ? s : 0.0001;
}

double drift_psi(const double *base, size_t nbase, const double *cur,
		 size_t ncur, int nbins)
{
	if (!nbase || !ncur || nbins < 2)
		return NAN;
	double psi = 0;
	size_t below_b = 0, below_c = 0;
	double last_edge = -INFINITY;
	for (int k = 1; k <= nbins; k++) {
		size_t end_b = nbase, end_c = ncur;
		if (k < nbins) {
			double edge = base[(size_t)((double)k * (double)nbase / nbins)];
			if (!(edge > last_edge))
				continue;	/* a repeated quantile: no bin */
			last_edge = edge;
			end_b = count_below(base, nbase, edge);
			end_c = count_below(cur, ncur, edge);
		}
		double b = floored_share(end_b - below_b, nbase);
		double c = floored_share(end_c - below_c, ncur);
		psi += (b - c) * log(b / c);
		below_b = end_b;
		below_c = end_c;
	}
	return psi;
}

/* ---- Kolmogorov-Smirnov ---- */

double drift_kolmogorov_q(double lambda)
{
	if (lambda < 1e-8)
		return 1.0;
	double sum = 0, sign = 1;
	for (int k = 1; k <= 200; k++) {
		double term = exp(-2.0 * k * k * lambda * lambda);
		sum += sign * term;
		if (term < 1e-17 * sum)
			break;
		sign = -sign;
	}
	double q = 2 * sum;
	return q < 0 ? 0 : q > 1 ? 1 : q;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* P(D >= d) for sizes M, N by counting lattice paths that stay strictly
 * inside |i/M - j/N| < d (Hodges' inside method), each cell holding the
 * share of paths through it so that nothing overflows. */
static double ks_exact_p(size_t m, size_t n, double d)
{
	uint64_t g = gcd_u64(m, n);
	double lcm = (double)(m / g) * (double)n;
	double h = round(d * lcm);
	if (h <= 0)
		return 1.0;
	double *col = calloc(n + 1, sizeof(*col));
	if (!col)
		mlfs_oom();
	double mg = (double)(m / g), ng = (double)(n / g);
	for (size_t i = 0; i <= m; i++) {
		for (size_t j = 0; j <= n; j++) {
			if (fabs((double)i * ng - (double)j * mg) >= h) {
				col[j] = 0;
				continue;
			}
			if (i == 0 && j == 0) {
				col[j] = 1;
				continue;
			}
			double from_left = i ? col[j] * (double)i : 0;
			double from_below = j ? col[j - 1] * (double)j : 0;
			col[j] = (from_left + from_below) / (double)(i + j);
		}
	}
	double inside = col[n];
	free(col);
	double p = 1.0 - inside;
	return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* D by a merge walk: |F1 - F2| counts at the states between two distinct
 * values, every copy of the smaller one taken from both sides.  The
 * first loop has no branch that depends on the data: it takes one value
 * at a time, knows a state by the next value being larger, and compares
 * the exact numerator |i ncur - j nbase| (a whole number below 2^53
 * while nbase ncur <= 2^48), rounding the difference as scipy does only
 * where the numerator reaches the best so far.  At those sizes numerators
 * 1 apart are 2^-48 apart as fractions, more than the rounding of
 * i / nbase - j / ncur can move them (3 x 2^-53), so the rounded maximum
 * is the exact maximum's rounding (the largest of them when several
 * states share it).  Each step waits for the previous one's loads, so
 * the loop walks from both ends at once (T: taken from the top, the
 * state nbase - ti, ncur - tj) until they meet.  The second loop
 * joins them, or makes the whole walk beyond that size. */
static double ks_statistic(const double *base, size_t nbase, const double *cur,
			   size_t ncur)
{
	size_t i = 0, j = 0, ti = 0, tj = 0;
	double d = 0, fb = (double)nbase, fc = (double)ncur;
	if (fb * fc <= 0x1p48) {
		double best = -1, tbest = -1, td = 0;
		while (i + ti + 1 < nbase && j + tj + 1 < ncur) {
			double a = base[i], b = cur[j], v = a < b ? a : b;
			i += a <= b;
			j += b <= a;
			double next = base[i] < cur[j] ? base[i] : cur[j];
			double e = fabs((double)i * fc - (double)j * fb);
			if ((next > v) & (e >= best)) {
				double r = fabs((double)i / fb - (double)j / fc);
				d = e > best || r > d ? r : d;
				best = e;
			}
			double ta = base[nbase - 1 - ti], tb = cur[ncur - 1 - tj];
			double tv = ta > tb ? ta : tb;
			ti += ta >= tb;
			tj += tb >= ta;
			double below = base[nbase - 1 - ti] > cur[ncur - 1 - tj] ?
				       base[nbase - 1 - ti] : cur[ncur - 1 - tj];
			double ia = (double)(nbase - ti), ja = (double)(ncur - tj);
			e = fabs(ia * fc - ja * fb);
			if ((below < tv) & (e >= tbest)) {
				double r = fabs(ia / fb - ja / fc);
				td = e > tbest || r > td ? r : td;
				tbest = e;
			}
		}
		if (tbest > best || (tbest == best && td > d))
			d = td;
	}
	/* On from (i, j) to where the walk from the top stopped. */
	size_t iend = nbase - ti, jend = ncur - tj;
	while (i < nbase && j < ncur && (i < iend || j < jend)) {
		double v = base[i] < cur[j] ? base[i] : cur[j];
		while (i < nbase && base[i] <= v)
			i++;
		while (j < ncur && cur[j] <= v)
			j++;
		double diff = fabs((double)i / fb - (double)j / fc);
		if (diff > d)
			d = diff;
	}
	return d;
}

double drift_ks(const double *base, size_t nbase, const double *cur,
		size_t ncur, double *p)
{
	if (!nbase || !ncur) {
		*p = NAN;
		return NAN;
	}
	double d = ks_statistic(base, nbase, cur, ncur);
	*p = drift_ks_pvalue(d, nbase, ncur);
	return d;
}

double drift_ks_pvalue(double d, uint64_t nbase, uint64_t ncur)
{
	if (!nbase || !ncur || isnan(d))
		return NAN;
	if ((double)nbase * (double)ncur <= 1e6)
		return ks_exact_p((size_t)nbase, (size_t)ncur, d);
	double en = (double)nbase * (double)ncur / (double)(nbase + ncur);
	double s = sqrt(en);
	return drift_kolmogorov_q((s + 0.12 + 0.11 / s) * d);
}

/* ---- Wasserstein ---- */

/* Two passes, as numpy's std: the mean, then the squared deviations,
 * each summed in four lanes that do not wait for one another. */
static double std_of(const double *x, size_t n)
{
	double s[4] = { 0 }, q[4] = { 0 };
	size_t i;
	for (i = 0; i + 4 <= n; i += 4)
		for (int l = 0; l < 4; l++)
			s[l] += x[i + l];
	for (; i < n; i++)
		s[0] += x[i];
	double mean = ((s[0] + s[1]) + (s[2] + s[3])) / (double)n;
	for (i = 0; i + 4 <= n; i += 4)
		for (int l = 0; l < 4; l++)
			q[l] += (x[i + l] - mean) * (x[i + l] - mean);
	for (; i < n; i++)
		q[0] += (x[i] - mean) * (x[i] - mean);
	return sqrt(((q[0] + q[1]) + (q[2] + q[3])) / (double)n);
}

double drift_wasserstein(const double *base, size_t nbase, const double *cur,
			 size_t ncur, int normalise)
{
	if (!nbase || !ncur)
		return NAN;
	/* The same integral taken along the other axis: W1 is the integral
	 * over u in [0, 1] of |Fb^-1(u) - Fc^-1(u)|, and the quantile
	 * functions are steps, base[i] on [i/nbase, (i+1)/nbase) and cur[j]
	 * on [j/ncur, (j+1)/ncur).  The walk goes from one step's end to the
	 * next in units of 1/(nbase ncur), where the ends are whole numbers:
	 * which side moves depends on the sizes only, never on the data, so
	 * no load waits for a comparison of values (with equal sizes it is
	 * the mean of |base[i] - cur[i]|). */
	double fb = (double)nbase, fc = (double)ncur, prev = 0, area = 0;
	size_t i = 0, j = 0;
	while (i < nbase && j < ncur) {
		double end_b = (double)(i + 1) * fc, end_c = (double)(j + 1) * fb;
		double end = end_b < end_c ? end_b : end_c;
		area += fabs(base[i] - cur[j]) * (end - prev);
		prev = end;
		i += end_b <= end_c;
		j += end_c <= end_b;
	}
	area /= fb * fc;
	if (!normalise)
		return area;
	double sd = std_of(base, nbase);
	return area / (sd > 0.001 ? sd : 0.001);
}

/* ---- categorical ---- */

/* Lower regularised gamma by its series, upper by Lentz's continued
 * fraction (Numerical Recipes' gser/gcf), whichever converges. */
double drift_gamma_q(double a, double x)
{
	if (x <= 0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	double gln = lgamma(a);
	if (x < a + 1) {
		double ap = a, sum = 1.0 / a, del = sum;
		for (int n = 0; n < 10000; n++) {
			ap += 1;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * 1e-16)
				break;
		}
		return 1.0 - sum * exp(-x + a * log(x) - gln);
	}
	double b = x + 1 - a, c = 1.0 / 1e-300, d = 1.0 / b, h = d;
	for (int i = 1; i < 10000; i++) {
		double an = -i * (i - a);
		b += 2;
		d = an * d + b;
		if (fabs(d) < 1e-300)
			d = 1e-300;
		c = b + an / c;
		if (fabs(c) < 1e-300)
			c = 1e-300;
		d = 1.0 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-16)
			break;
	}
	return exp(-x + a * log(x) - gln) * h;
}

static uint64_t total_of(const uint64_t *c, size_t k)
{
	uint64_t t = 0;
	for (size_t i = 0; i < k; i++)
		t += c[i];
	return t;
}

double drift_chi2(const uint64_t *base, const uint64_t *cur, size_t k,
		  double *p)
{
	uint64_t nb = total_of(base, k), nc = total_of(cur, k);
	if (k < 2 || !nb || !nc) {
		*p = NAN;
		return NAN;
	}
	double scale = (double)nc / (double)nb, stat = 0;
	for (size_t i = 0; i < k; i++) {
		double expected = (double)base[i] * scale;
		double diff = (double)cur[i] - expected;
		if (expected > 0)
			stat += diff * diff / expected;
		else if (cur[i])
			stat = INFINITY;	/* a category the baseline never had */
	}
	*p = drift_gamma_q((double)(k - 1) / 2.0, stat / 2.0);
	return stat;
}

double drift_js(const uint64_t *base, const uint64_t *cur, size_t k)
{
	uint64_t nb = total_of(base, k), nc = total_of(cur, k);
	if (!nb || !nc)
		return NAN;
	double div = 0;
	for (size_t i = 0; i < k; i++) {
		double p = (double)base[i] / (double)nb, q = (double)cur[i] / (double)nc;
		double m = (p + q) / 2;
		if (p > 0)
			div += p * log2(p / m);
		if (q > 0)
			div += q * log2(q / m);
	}
	div /= 2;
	return sqrt(div > 0 ? div : 0);
}
