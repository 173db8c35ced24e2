/* test_drift.c - drift statistics against values worked out by hand on
 * small arrays, against scipy 1.10 (ks_2samp, wasserstein_distance,
 * chisquare, jensenshannon, gammaincc, kolmogorov) on the same arrays -
 * tests/unit/reference/drift_scipy.py regenerates those figures with the
 * same generator - and against slow references for the sort, KS and
 * Wasserstein. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drift.h"
#include "sort.h"

#define near(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

/* The generator of drift_scipy.py: xorshift64* and Box-Muller. */
struct gen {
	uint64_t s;
};

static double uniform(struct gen *g)
{
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	uint64_t r = g->s * 0x2545F4914F6CDD1Dull;
	return ((double)(r >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double *normal_sample(uint64_t seed, size_t n, double mean, double sd)
{
	struct gen g = { seed };
	double *x = malloc(n * sizeof(*x));
	for (size_t i = 0; i < n; i++) {
		double u1 = uniform(&g), u2 = uniform(&g);
		x[i] = mean + sd * (sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
	}
	return x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void radix_sort_matches_qsort(void **state)
{
	double *x = normal_sample(9, 100000, 0, 1e6), *y = malloc(100000 * sizeof(*y));
	x[0] = -0.0, x[1] = 0.0, x[2] = -INFINITY, x[3] = INFINITY, x[4] = 1e-310;
	memcpy(y, x, 100000 * sizeof(*y));
	sort_doubles(x, 100000);
	qsort(y, 100000, sizeof(*y), cmp_double);
	for (size_t i = 0; i < 100000; i++)
		assert_true(x[i] == y[i]);
	free(x);
	free(y);
}

/* Keys that differ in no byte, in one (an odd number of scatters: the
 * result comes back from the scratch buffer) and in two, on a sample
 * large enough for the scratch to be asked for in huge pages. */
static void radix_sort_few_bytes(void **state)
{
	const size_t n = 300000;
	const int spread[] = { 1, 256, 65536 };
	double *x = malloc(n * sizeof(*x)), *y = malloc(n * sizeof(*y));
	struct gen g = { 11 };
	for (int s = 0; s < 3; s++) {
		for (size_t i = 0; i < n; i++)
			x[i] = 1.0 + (double)(uint64_t)(uniform(&g) * spread[s]) * 0x1p-52;
		memcpy(y, x, n * sizeof(*y));
		sort_doubles(x, n);
		qsort(y, n, sizeof(*y), cmp_double);
		for (size_t i = 0; i < n; i++)
			assert_true(x[i] == y[i]);
	}
	free(x);
	free(y);
}

/* Pairs sorted by key as a stable qsort of (key, index) sorts them: keys
 * of both signs, repeated, spread over one byte, three bytes and all
 * eight (an odd and an even number of scatters), and all equal. */
struct pair {
	int64_t k;
	uint32_t v;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->k != y->k)
		return (x->k > y->k) - (x->k < y->k);
	return (x->v > y->v) - (x->v < y->v);	/* stable: by position */
}

static void radix_sort_pairs(void **state)
{
	const size_t n = 50000;
	const int64_t spread[] = { 200, 1000000, INT64_MAX, 0 };
	int64_t *k = malloc(n * sizeof(*k));
	uint32_t *v = malloc(n * sizeof(*v));
	struct pair *p = malloc(n * sizeof(*p));
	struct gen g = { 5 };
	for (int s = 0; s < 4; s++) {
		for (size_t i = 0; i < n; i++) {
			double u = uniform(&g);
			k[i] = spread[s] == INT64_MAX ? (int64_t)((u - 0.5) * 9.2e18) :
			       (int64_t)(u * (double)spread[s]) - spread[s] / 2 - 7;
			v[i] = (uint32_t)i;
			p[i] = (struct pair){ k[i], (uint32_t)i };
		}
		sort_i64_pairs(k, v, n);
		qsort(p, n, sizeof(*p), cmp_pair);
		for (size_t i = 0; i < n; i++) {
			assert_true(k[i] == p[i].k);
			assert_int_equal(v[i], p[i].v);
		}
	}
	free(k);
	free(v);
	free(p);
}

static void ks_small_by_hand(void **state)
{
	/* ECDFs step at each value; the widest gap is 4/9 at 3.25..6.0. */
	double a[] = { 0.5, 1.5, 2.0, 3.25, 4.0, 7.5, 9.0 };
	double b[] = { 1.0, 2.5, 2.5, 6.0, 8.5, 10.0, 11.0, 12.5, 14.0 };
	double p;
	double d = drift_ks(a, 7, b, 9, &p);
	near(d, 4.0 / 9.0, 1e-15);
	near(p, 0.32377622377622384, 1e-12);	/* scipy: exact */
	/* Identical samples: D 0, p 1. */
	d = drift_ks(a, 7, a, 7, &p);
	assert_true(d == 0 && p == 1);
}

static void wasserstein_small_by_hand(void **state)
{
	double a[] = { 0, 1, 3 }, b[] = { 5, 6, 8 };
	/* A shift by 5: the distance is 5; normalised by std(a) = sqrt(14/9). */
	near(drift_wasserstein(a, 3, b, 3, 0), 5.0, 1e-12);
	near(drift_wasserstein(a, 3, b, 3, 1), 5.0 / sqrt(14.0 / 9.0), 1e-12);
	double c[] = { 0.5, 1.5, 2.0, 3.25, 4.0, 7.5, 9.0 };
	double d[] = { 1.0, 2.5, 2.5, 6.0, 8.5, 10.0, 11.0, 12.5, 14.0 };
	near(drift_wasserstein(c, 7, d, 9, 0), 3.591269841269842, 1e-12);	/* scipy */
	near(drift_wasserstein(c, 7, d, 9, 1), 3.591269841269842 / 2.9350972587577653, 1e-12);
}

static void against_scipy(void **state)
{
	/* drift_scipy.py "mid": 800 vs 1000 rows, exact KS. */
	double *a = normal_sample(1, 800, 0.0, 1.0), *b = normal_sample(2, 1000, 0.2, 1.1);
	near(a[0], -0.7577863290384502, 1e-15);	/* the same generator */
	sort_doubles(a, 800);
	sort_doubles(b, 1000);
	double p;
	near(drift_ks(a, 800, b, 1000, &p), 0.071, 1e-12);
	near(p, 0.021591950627670952, 1e-9);
	near(drift_wasserstein(a, 800, b, 1000, 0), 0.17998425775008406, 1e-12);
	near(drift_wasserstein(a, 800, b, 1000, 1), 0.1859027034968061, 1e-12);
	free(a);
	free(b);
	/* "big": 20,000 vs 30,000 rows; scipy's kstwo.sf against Stephens'
	 * approximation of the same limit: p within 2% (relative). */
	a = normal_sample(3, 20000, 0.0, 1.0);
	b = normal_sample(4, 30000, 0.02, 1.0);
	sort_doubles(a, 20000);
	sort_doubles(b, 30000);
	near(drift_ks(a, 20000, b, 30000, &p), 0.007966666666666677, 1e-12);
	near(p, 0.4292882112045292, 0.02 * 0.4292882112045292);
	near(drift_wasserstein(a, 20000, b, 30000, 1), 0.01142446351980986, 1e-12);
	free(a);
	free(b);
}

/* Elements of X[0..N) at most V (scipy's searchsorted side='right'). */
static size_t count_at_most(const double *x, size_t n, double v)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += x[i] <= v;
	return c;
}

/* The slow, obvious forms: D as scipy computes it, the largest
 * |F1(v) - F2(v)| over every value v of either sample, and W1 as the sum
 * of |F1 - F2| times the gap between consecutive values of the union. */
static void slow_ks_w(const double *a, size_t na, const double *b, size_t nb,
		      double *d, double *w)
{
	double *u = malloc((na + nb) * sizeof(*u));
	memcpy(u, a, na * sizeof(*u));
	memcpy(u + na, b, nb * sizeof(*u));
	qsort(u, na + nb, sizeof(*u), cmp_double);
	*d = 0;
	*w = 0;
	for (size_t k = 0; k < na + nb; k++) {
		double diff = fabs((double)count_at_most(a, na, u[k]) / (double)na -
				   (double)count_at_most(b, nb, u[k]) / (double)nb);
		if (diff > *d)
			*d = diff;
		if (k + 1 < na + nb)
			*w += diff * (u[k + 1] - u[k]);
	}
	free(u);
}

/* Samples with and without ties, overlapping, apart and one inside the
 * other, of sizes 1 to 300: D equal to the last bit, W1 to 1e-12. */
static void ks_and_wasserstein_against_slow_reference(void **state)
{
	struct gen g = { 5 };
	double a[300], b[300];
	for (int t = 0; t < 1500; t++) {
		size_t na = 1 + (size_t)(uniform(&g) * (t % 9 ? 300 : 3));
		size_t nb = t % 4 ? 1 + (size_t)(uniform(&g) * 300) : na;
		double shift = t % 3 ? uniform(&g) : (uniform(&g) - 0.5) * 8;
		double scale = t % 5 ? 1 : 0.1, grid = t % 2 ? 0 : 4;
		for (size_t i = 0; i < na + nb; i++) {
			double v = uniform(&g) + uniform(&g) + uniform(&g);
			v = i < na ? v : v * scale + shift;
			if (grid)
				v = floor(v * grid);	/* ties within and across */
			if (i < na)
				a[i] = v;
			else
				b[i - na] = v;
		}
		sort_doubles(a, na);
		sort_doubles(b, nb);
		double d, w, p;
		slow_ks_w(a, na, b, nb, &d, &w);
		assert_true(drift_ks(a, na, b, nb, &p) == d);
		near(drift_wasserstein(a, na, b, nb, 0), w, 1e-12 * (1 + w));
	}
}

static void psi_by_hand(void **state)
{
	double base[100], cur[20];
	for (int i = 0; i < 100; i++)
		base[i] = i;
	/* Bins at the quartiles 25, 50, 75: current shares .5, 0, .25, .25. */
	for (int i = 0; i < 10; i++)
		cur[i] = i;
	for (int i = 0; i < 5; i++)
		cur[10 + i] = 60 + i, cur[15 + i] = 80 + i;
	double want = (0.25 - 0.5) * log(0.25 / 0.5) + (0.25 - 0.0001) * log(0.25 / 0.0001);
	near(drift_psi(base, 100, cur, 20, 4), want, 1e-12);
	near(drift_psi(base, 100, base, 100, 10), 0.0, 1e-15);
	/* All-equal baseline: one bin, PSI 0 against itself. */
	double flat[5] = { 2, 2, 2, 2, 2 };
	near(drift_psi(flat, 5, flat, 5, 10), 0.0, 1e-15);
	assert_true(isnan(drift_psi(base, 0, cur, 20, 4)));
}

static void categorical_by_hand(void **state)
{
	const uint64_t base[] = { 50, 30, 20 }, cur[] = { 40, 45, 15 };
	double p;
	/* (40-50)^2/50 + (45-30)^2/30 + (15-20)^2/20 = 2 + 7.5 + 1.25 */
	near(drift_chi2(base, cur, 3, &p), 10.75, 1e-12);
	near(p, 0.004630918733533247, 1e-12);	/* scipy chisquare */
	near(drift_js(base, cur, 3), 0.13226630843228868, 1e-12);	/* scipy jensenshannon */
	near(drift_js(base, base, 3), 0.0, 1e-12);
	const uint64_t disjoint_a[] = { 10, 0 }, disjoint_b[] = { 0, 10 };
	near(drift_js(disjoint_a, disjoint_b, 2), 1.0, 1e-12);
	const uint64_t nb[] = { 10, 10, 0 }, nc[] = { 10, 10, 1 };
	assert_true(isinf(drift_chi2(nb, nc, 3, &p)) && p == 0);
}

static void special_functions(void **state)
{
	near(drift_gamma_q(2.5, 3.0), 0.30621891841327875, 1e-13);
	near(drift_gamma_q(0.5, 0.1), 0.6547208460185768, 1e-13);
	near(drift_gamma_q(10, 25), 0.0002214766382487835, 1e-16);
	near(drift_kolmogorov_q(0.5), 0.9639452436648751, 1e-13);
	near(drift_kolmogorov_q(1.0), 0.26999967167735456, 1e-13);
	near(drift_kolmogorov_q(1.36), 0.049485876755377876, 1e-13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(radix_sort_matches_qsort),
		cmocka_unit_test(radix_sort_few_bytes),
		cmocka_unit_test(radix_sort_pairs),
		cmocka_unit_test(ks_small_by_hand),
		cmocka_unit_test(wasserstein_small_by_hand),
		cmocka_unit_test(against_scipy),
		cmocka_unit_test(ks_and_wasserstein_against_slow_reference),
		cmocka_unit_test(psi_by_hand),
		cmocka_unit_test(categorical_by_hand),
		cmocka_unit_test(special_functions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
