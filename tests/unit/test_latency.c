/* test_latency.c - the latency histogram's percentiles against exact
 * ones computed by sorting the same samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latency.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void small_values_are_exact(void **state)
{
	struct latency *h = calloc(1, sizeof(*h));
	for (uint64_t v = 1; v <= 20; v++)
		latency_record(h, v);
	assert_int_equal(latency_quantile(h, 0.5), 11);
	assert_int_equal(latency_quantile(h, 0.0), 1);
	assert_int_equal(latency_quantile(h, 1.0), 20);
	free(h);
}

static void percentiles_within_precision(void **state)
{
	enum { N = 100000 };
	struct latency *h = calloc(1, sizeof(*h));
	uint64_t *v = malloc(N * sizeof(*v));
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* long-tailed: mostly 50-150 us, some up to ~50 ms */
		v[i] = 50 + x % 100 + ((x >> 40) % 100 == 0 ? (x >> 20) % 50000 : 0);
		latency_record(h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
	for (size_t i = 0; i < 4; i++) {
		uint64_t exact = v[(size_t)(qs[i] * N)];
		uint64_t got = latency_quantile(h, qs[i]);
		assert_true(got >= exact);
		assert_true(got <= exact + exact / 16 + 1);
	}
	assert_int_equal(latency_quantile(h, 1.0), v[N - 1]);
	free(v);
	free(h);
}

static void merge_adds_counts(void **state)
{
	struct latency *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	latency_record(a, 10);
	latency_record(b, 1000000);
	latency_record(b, 1000000);
	latency_merge(a, b);
	assert_int_equal(a->count, 3);
	assert_int_equal(a->max_us, 1000000);
	assert_int_equal(latency_quantile(a, 0.0), 10);
	assert_true(latency_quantile(a, 0.9) >= 1000000);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_values_are_exact),
		cmocka_unit_test(percentiles_within_precision),
		cmocka_unit_test(merge_adds_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
