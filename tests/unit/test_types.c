/* test_types.c - typing of CSV values and number formatting. */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "types.h"

#define INFER(s) value_infer(s, strlen(s))

static void test_infer(void **state)
{
	assert_int_equal(INFER(""), COL_NULL);
	assert_int_equal(INFER("42"), COL_INT);
	assert_int_equal(INFER("-7"), COL_INT);
	assert_int_equal(INFER("4.2"), COL_FLOAT);
	assert_int_equal(INFER("1e-3"), COL_FLOAT);
	assert_int_equal(INFER(".5"), COL_FLOAT);
	assert_int_equal(INFER("true"), COL_BOOL);
	assert_int_equal(INFER("False"), COL_BOOL);
	assert_int_equal(INFER("2026-11-27"), COL_DATE);
	assert_int_equal(INFER("2026-02-30"), COL_STRING);
	assert_int_equal(INFER("2026-11-27T10:00:00Z"), COL_TIMESTAMP);
	assert_int_equal(INFER("2026-11-27 10:00:00.5+01:00"), COL_TIMESTAMP);
	assert_int_equal(INFER("12a"), COL_STRING);
	assert_int_equal(INFER("99999999999999999999"), COL_FLOAT);
	assert_int_equal(INFER("hello"), COL_STRING);
}

#define REFUSED(t, s) (value_refusal(t, s, strlen(s)) != NULL)

/* Numbers that do not fit: non-finite values in a numeric column (or one
 * not typed yet), integers beyond int64 anywhere but a float column. */
static void test_refusal(void **state)
{
	static const char *const nonfinite[] = { "1e400", "-1e400", "1E+999", ".5e999" };
	for (size_t i = 0; i < sizeof(nonfinite) / sizeof(*nonfinite); i++) {
		assert_true(REFUSED(COL_NULL, nonfinite[i]));
		assert_true(REFUSED(COL_INT, nonfinite[i]));
		assert_true(REFUSED(COL_FLOAT, nonfinite[i]));
		assert_false(REFUSED(COL_STRING, nonfinite[i]));
	}
	char big[320];
	memset(big, '9', 310);
	big[310] = '\0';	/* 310 digits: beyond a double */
	assert_false(value_fits(COL_FLOAT, big, strlen(big)));	/* text */
	/* Bare words are text to inference, numbers nowhere. */
	assert_int_equal(INFER("-inf"), COL_STRING);
	assert_int_equal(INFER("+NaN"), COL_STRING);
	assert_false(REFUSED(COL_NULL, "nan"));
	assert_false(REFUSED(COL_NULL, "Infinity"));
	assert_false(REFUSED(COL_NULL, "-inf"));
	assert_true(REFUSED(COL_FLOAT, "-inf"));
	assert_true(REFUSED(COL_INT, "+nan"));
	assert_true(REFUSED(COL_FLOAT, "nan"));
	assert_true(REFUSED(COL_INT, "inf"));
	/* int64's edges fit; one past them is refused but in a float column. */
	assert_false(REFUSED(COL_INT, "9223372036854775807"));
	assert_false(REFUSED(COL_NULL, "-9223372036854775808"));
	assert_true(REFUSED(COL_INT, "9223372036854775808"));
	assert_true(REFUSED(COL_NULL, "-9223372036854775809"));
	assert_true(REFUSED(COL_NULL, "123456789012345678901234567890"));
	assert_false(REFUSED(COL_FLOAT, "123456789012345678901234567890"));
	assert_false(REFUSED(COL_STRING, "123456789012345678901234567890"));
	assert_false(REFUSED(COL_DATE, "1e400"));
	/* Finite values pass. */
	assert_false(REFUSED(COL_FLOAT, "1e308"));
	assert_false(REFUSED(COL_FLOAT, "1e-400"));	/* underflows to 0, as strtod */
	assert_false(REFUSED(COL_NULL, "2.5e10"));
	assert_false(REFUSED(COL_NULL, ""));
}

static void test_widen(void **state)
{
	assert_int_equal(col_type_widen(COL_NULL, COL_INT), COL_INT);
	assert_int_equal(col_type_widen(COL_INT, COL_FLOAT), COL_FLOAT);
	assert_int_equal(col_type_widen(COL_DATE, COL_TIMESTAMP), COL_TIMESTAMP);
	assert_int_equal(col_type_widen(COL_INT, COL_DATE), COL_STRING);
	assert_int_equal(col_type_widen(COL_BOOL, COL_INT), COL_STRING);
}

static void test_dates_round_trip(void **state)
{
	int32_t d;
	int64_t us;
	char out[40];
	assert_true(value_parse_date("1970-01-01", 10, &d));
	assert_int_equal(d, 0);
	assert_true(value_parse_date("2000-03-01", 10, &d));
	assert_int_equal(d, 11017);	/* computed by hand: 30 years, 7 leap days, Jan+Feb 2000 */
	fmt_date(out, d);
	assert_string_equal(out, "2000-03-01");
	assert_true(value_parse_timestamp("2026-11-27T10:30:00+01:00", 25, &us));
	fmt_timestamp(out, us);
	assert_string_equal(out, "2026-11-27T09:30:00Z");
	assert_false(value_parse_timestamp("2026-11-27T25:00", 16, &us));
}

/* fmt_date and fmt_timestamp print what printf's "%04d-%02u-%02u" and
 * "...T%02d:%02d:%02d[.%06d]Z" print, over days of years -1000 to 11000
 * and times of day with and without fractions. */
static void test_dates_as_printf(void **state)
{
	char got[40], want[64], date[16];
	(void)state;
	for (int32_t d = -1085000; d < 3300000; d += 97) {
		int32_t back;
		fmt_date(got, d);
		memcpy(date, got, 11);
		bool in_range = d >= -719528 && d <= 2932896;	/* 0000-01-01..9999-12-31 */
		assert_int_equal(strlen(got), 10);
		if (in_range) {
			assert_true(value_parse_date(got, 10, &back));
			assert_int_equal(back, d);
		}
		int64_t secs = (int64_t)d * 86400 + (d % 86400 + 86400) % 86400;
		for (int f = 0; f < 2; f++) {
			int64_t frac = f ? (d & 0xfffff) % 1000000 : 0;
			int64_t us = secs * 1000000 + frac;
			int64_t rem = secs - (int64_t)d * 86400;
			fmt_timestamp(got, us);
			if (frac)
				snprintf(want, sizeof(want), "%sT%02d:%02d:%02d.%06dZ", date,
					 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
			else
				snprintf(want, sizeof(want), "%sT%02d:%02d:%02dZ", date,
					 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
			assert_string_equal(got, want);
		}
	}
}

static void test_shortest_doubles(void **state)
{
	const double vals[] = { 0.1, 1.0 / 3, 1e300, -2.5e-308, 123456.789,
				5e-324, 0.30000000000000004 };
	char out[40];
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		buf_fmt_double(out, vals[i]);
		assert_true(strtod(out, NULL) == vals[i]);
	}
	buf_fmt_double(out, 0.1);
	assert_string_equal(out, "0.1");
	buf_fmt_double(out, 3.0);
	assert_string_equal(out, "3.0");
	buf_fmt_double(out, NAN);
	assert_string_equal(out, "nan");
}

/* What buf_fmt_double must print, the slow way: "X.0" for integral
 * values below 1e16, else the first of %.15g, %.16g, %.17g (any
 * precision for subnormals) that reads back as V. */
static void reference_double(char *out, double v)
{
	if (v != 0 && fabs(v) < 1e16 && v == (double)(int64_t)v) {
		sprintf(out, "%lld.0", (long long)v);
		return;
	}
	for (int prec = fabs(v) < 2.2250738585072014e-308 ? 1 : 15; prec < 17; prec++) {
		snprintf(out, 40, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
	snprintf(out, 40, "%.17g", v);
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void check_double(double v)
{
	char got[40], want[40];
	if (isnan(v) || isinf(v) || v == 0)
		return;
	buf_fmt_double(got, v);
	reference_double(want, v);
	if (strcmp(got, want) || strtod(got, NULL) != v)
		fail_msg("%a: printed %s, printf's shortest %s", v, got, want);
}

/* The integer-arithmetic printer against printf over 2,700,000 doubles:
 * random bit patterns, random values of every magnitude the fast path
 * takes, decimals with 1-17 digits and their neighbours, sums and
 * quotients like a refresh computes, subnormals, huge and tiny values,
 * integers, and the edges: powers of ten and of two and their
 * neighbours, ties, the range's bounds, zeros of both signs. */
static void test_doubles_match_printf(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t bits = rng_next(&x);
		double v;
		memcpy(&v, &bits, 8);
		check_double(v);
		/* uniform in [1e-5, 1e16) on a log scale */
		double e = -5 + (double)(rng_next(&x) >> 11) / 9007199254740992.0 * 21;
		v = pow(10, e);
		check_double(v);
		check_double(-v);
		/* n / 10^k and its neighbours */
		int k = (int)(rng_next(&x) % 18);
		uint64_t n = rng_next(&x) % 100000000000000000ULL;
		n /= (uint64_t)pow(10, (double)(rng_next(&x) % 17));
		v = (double)n / pow(10, k);
		check_double(v);
		check_double(nextafter(v, 0));
		check_double(nextafter(v, INFINITY));
		/* sums of two-decimal amounts, averages, ratios */
		double a = (double)(rng_next(&x) % 100000) / 100, b = (double)(rng_next(&x) % 100000) / 100;
		check_double(a + b + 0.1);
		check_double((a + b) / (double)(1 + rng_next(&x) % 1000));
		check_double(sqrt(a + 1));
	}
	for (int e = -330; e <= 310; e++) {
		double p = pow(10, e);
		check_double(p);
		check_double(nextafter(p, 0));
		check_double(nextafter(p, INFINITY));
		check_double(ldexp(1, e));
		check_double(nextafter(ldexp(1, e), 0));
		check_double(nextafter(ldexp(1, e), INFINITY));
		check_double(-ldexp(1.5, e));
	}
	/* subnormals, huge and tiny normals, integers on both sides of 1e16 */
	for (int i = 0; i < 100000; i++) {
		uint64_t bits = rng_next(&x) & ((1ULL << 52) - 1);
		double v;
		memcpy(&v, &bits, 8);
		check_double(v);
		check_double(-v);
		bits |= (uint64_t)(2046 - rng_next(&x) % 40) << 52;
		memcpy(&v, &bits, 8);
		check_double(v);
		bits = (bits & ((1ULL << 52) - 1)) | (uint64_t)(1 + rng_next(&x) % 40) << 52;
		memcpy(&v, &bits, 8);
		check_double(v);
		v = (double)(int64_t)(rng_next(&x) >> (11 + rng_next(&x) % 50));
		check_double(v);
		check_double(-v);
		check_double(v * 1024);
		check_double(v + 0.5);
	}
	char out[40];
	buf_fmt_double(out, -0.0);
	assert_string_equal(out, "-0.0");
	buf_fmt_double(out, 0.0);
	assert_string_equal(out, "0.0");
	assert_int_equal(buf_fmt_double(out, -INFINITY), 4);
	assert_string_equal(out, "-inf");
	assert_int_equal(buf_fmt_double(out, INFINITY), 3);
	assert_string_equal(out, "inf");
	buf_fmt_double(out, -12.0);
	assert_string_equal(out, "-12.0");
	buf_fmt_double(out, 1e16);
	assert_string_equal(out, "1e+16");
	buf_fmt_double(out, 0.0001);
	assert_string_equal(out, "0.0001");
	buf_fmt_double(out, 123.456);
	assert_string_equal(out, "123.456");
	buf_fmt_double(out, -0.30000000000000004);
	assert_string_equal(out, "-0.30000000000000004");
	const double edges[] = { 1e-4, 1e15, 0.5, 0.25, 0.125, 1.5, 2.5, 0.30000000000000004,
				 999999999999999.9, 99999999999999.99, 0.00010000000000000002,
				 9.999999999999999e-5, 4503599627370495.5, 5e-324, 1.7976931348623157e308,
				 2.2250738585072014e-308, 1.0 / 3, 2.0 / 3, 123456.789, 0.1 + 0.2 };
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		check_double(edges[i]);
		check_double(-edges[i]);
	}
}

/* The fast path of value_parse_float gives strtod's double, bit for bit:
 * random decimals of every shape (digits, points, exponents, signs,
 * leading zeros, 17-20 significant digits) and printed doubles. */
static void test_parse_float_matches_strtod(void **state)
{
	uint64_t x = 88172645463325252ull;
	char text[64];
	for (int round = 0; round < 400000; round++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int n = 0, shape = (int)(x % 6);
		uint64_t r = x >> 8;
		if (shape == 0) {
			double d;
			memcpy(&d, &x, sizeof(d));
			if (!isfinite(d))
				continue;
			n = snprintf(text, sizeof(text), "%.17g", d);
		} else {
			int intd = (int)(r % 12), fracd = (int)(r / 12 % 14), lead = (int)(r / 168 % 4);
			if (r / 700 % 3 == 0)
				text[n++] = '-';
			for (int i = 0; i < lead; i++)
				text[n++] = '0';
			uint64_t y = x * 6364136223846793005ull + 1;
			for (int i = 0; i < intd; i++, y /= 10)
				text[n++] = (char)('0' + y % 10);
			if (fracd || !intd) {
				text[n++] = '.';
				for (int i = 0; i < fracd || (!intd && !i); i++, y /= 7)
					text[n++] = (char)('0' + y % 10);
			}
			if (shape >= 4)
				n += snprintf(text + n, sizeof(text) - (size_t)n, "e%d", (int)(r / 2100 % 60) - 30);
			text[n] = '\0';
		}
		double got, want = strtod(text, NULL);
		if (!value_parse_float(text, (size_t)n, &got))
			fail_msg("'%s' refused", text);
		if (memcmp(&got, &want, sizeof(got)))
			fail_msg("'%s': %.17g, strtod %.17g", text, got, want);
	}
}

static void test_int_limits(void **state)
{
	int64_t v;
	assert_true(value_parse_int("9223372036854775807", 19, &v));
	assert_true(v == INT64_MAX);
	assert_true(value_parse_int("-9223372036854775808", 20, &v));
	assert_true(v == INT64_MIN);
	assert_false(value_parse_int("9223372036854775808", 19, &v));
	assert_false(value_parse_int("-", 1, &v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_infer),
		cmocka_unit_test(test_dates_as_printf),
		cmocka_unit_test(test_widen),
		cmocka_unit_test(test_refusal),
		cmocka_unit_test(test_dates_round_trip),
		cmocka_unit_test(test_shortest_doubles),
		cmocka_unit_test(test_doubles_match_printf),
		cmocka_unit_test(test_int_limits),
		cmocka_unit_test(test_parse_float_matches_strtod),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
