/* test_expr.c - the feature expression language: parsing, types, errors
 * with positions, null semantics, and aggregates against a slow reference. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expr.h"

/* Source columns of the tests. */
static const char *const names[] = { "id", "amount", "day", "name", "qty", "ts", "flag" };
static const enum col_type types[] = { COL_INT, COL_FLOAT, COL_DATE, COL_STRING,
				       COL_INT, COL_TIMESTAMP, COL_BOOL };
static const struct expr_schema schema = { names, types, 7 };

static struct expr_prog *compile1(const char *name, const char *text,
				  struct mlfs_err *err)
{
	struct expr_source src = { name, text, 5, 10, true };
	struct expr_prog *p = NULL;
	int rc = expr_compile(&src, 1, &schema, COL_DATE, &p, err);
	return rc ? NULL : p;
}

/* Rows as text: "id,amount,day,name,qty,ts,flag". */
static void run(struct expr_prog *p, const char *const *rows, size_t n,
		int32_t as_of_day, struct xval *out, void **state_out)
{
	void *st = malloc(expr_state_size(p));
	struct xval as_of = { .t = COL_DATE, .i = as_of_day };
	expr_state_init(p, st);
	for (size_t r = 0; r < n; r++) {
		struct xval row[7];
		char *copy = strdup(rows[r]), *save = NULL, *f = copy;
		char *fields[7];
		for (int c = 0; c < 7; c++) {
			char *comma = strchr(f, ',');
			if (comma)
				*comma = '\0';
			fields[c] = f;
			f = comma ? comma + 1 : f + strlen(f);
		}
		(void)save;
		for (int c = 0; c < 7; c++)
			expr_value_from_text(types[c], fields[c], strlen(fields[c]), &row[c]);
		assert_int_equal(expr_state_add(p, st, row, &as_of), 0);
		free(copy);
	}
	expr_state_finish(p, st, &as_of, out);
	*state_out = st;
}

static void done(struct expr_prog *p, void *st)
{
	expr_state_free(p, st);
	free(st);
	expr_prog_free(p);
}

static int32_t day(const char *s)
{
	int32_t d;
	assert_true(value_parse_date(s, strlen(s), &d));
	return d;
}

static const char *const rows3[] = {
	"1,10.5,2026-01-01,ann,2,2026-01-01T10:00:00Z,true",
	"1,,2026-01-03,bob,,2026-01-03T00:00:00Z,false",
	"1,4.5,2026-01-03,ann,5,,",
};

static void expect_num(const char *text, double want)
{
	struct mlfs_err err = { 0 };
	struct expr_prog *p = compile1("f", text, &err);
	void *st;
	struct xval out;
	if (!p)
		fail_msg("%s: %s", text, err.msg);
	run(p, rows3, 3, day("2026-01-10"), &out, &st);
	if (isnan(want)) {
		if (out.t != COL_NULL)
			fail_msg("%s: expected null, got type %d", text, out.t);
	} else {
		if (out.t != COL_INT && out.t != COL_FLOAT)
			fail_msg("%s: expected %g, got type %d", text, want, out.t);
		double got = out.t == COL_INT ? (double)out.i : out.f;
		if (fabs(got - want) > 1e-9 * fmax(1, fabs(want)))
			fail_msg("%s: expected %.17g, got %.17g", text, want, got);
	}
	done(p, st);
}

/* count_distinct as its set grows from the values kept in the state to
 * a hash table and doubles: N distinct ints (0 among them for some),
 * each seen 1-3 times in a shuffled order, against N. */
static void test_count_distinct_grows(void **state)
{
	static const int sizes[] = { 1, 3, 4, 5, 8, 16, 17, 33, 100, 1000 };
	struct mlfs_err err = { 0 };
	struct xval as_of = { .t = COL_DATE, .i = 0 }, out;
	uint64_t x = 7;
	(void)state;
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		for (int with_zero = 0; with_zero < 2; with_zero++) {
			int n = sizes[si], nrows = 0;
			int64_t *vals = malloc(3 * (size_t)n * sizeof(*vals));
			assert_non_null(vals);
			for (int i = 0; i < n; i++)
				for (int k = 0; k <= i % 3; k++)
					vals[nrows++] = with_zero ? i : 1000003LL * (i + 1);
			for (int i = nrows - 1; i > 0; i--) {
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
				int j = (int)((x >> 33) % (uint64_t)(i + 1));
				int64_t t = vals[i];
				vals[i] = vals[j];
				vals[j] = t;
			}
			struct expr_prog *p = compile1("f", "count_distinct(qty)", &err);
			assert_non_null(p);
			void *st = malloc(expr_state_size(p));
			expr_state_init(p, st);
			for (int r = 0; r < nrows; r++) {
				struct xval row[7];
				memset(row, 0, sizeof(row));
				row[4].t = COL_INT;
				row[4].i = vals[r];
				assert_int_equal(expr_state_add(p, st, row, &as_of), 0);
			}
			expr_state_finish(p, st, &as_of, &out);
			assert_int_equal(out.t, COL_INT);
			assert_int_equal(out.i, n);
			done(p, st);
			free(vals);
		}
	}
}

static void test_aggregates_and_nulls(void **state)
{
	expect_num("count(amount)", 2);			/* nulls skipped */
	expect_num("count(*)", 3);
	expect_num("count()", 3);
	expect_num("sum(amount)", 15);
	expect_num("sum(qty)", 7);
	expect_num("avg(amount)", 7.5);
	expect_num("min(amount)", 4.5);
	expect_num("max(qty)", 5);
	expect_num("stddev(amount)", sqrt(18.0));		/* sample */
	expect_num("count_distinct(day)", 2);
	expect_num("count_distinct(name)", 2);
	expect_num("count_distinct(flag)", 2);
	expect_num("first(amount)", 10.5);		/* first non-null */
	expect_num("last(amount)", 4.5);
	expect_num("last(qty)", 5);
	expect_num("sum(amount) / 0", NAN);		/* division by zero */
	expect_num("sum(qty) / 2", 3.5);		/* true division */
	expect_num("log(min(amount) - 4.5)", NAN);	/* log of 0 */
	expect_num("log(max(amount))", log(10.5));
	expect_num("abs(-sum(qty))", 7);
	expect_num("coalesce(null, sum(qty))", 7);
	expect_num("sum(amount) + null", NAN);
	expect_num("days_since(max(day))", 7);
	expect_num("days_since(min(ts))", 9 - 10.0 / 24);
	expect_num("max(day) - min(day)", 2);
	expect_num("sum(amount) where day >= as_of - 7d", 4.5);
	expect_num("count(*) where day > '2026-01-01'", 2);
	expect_num("count(*) where name = 'ann' and flag", 1);
	expect_num("count(*) where not flag or qty = 5", 2);	/* null or true */
	expect_num("count(*) where flag", 1);
	expect_num("sum(amount) where day < '2025-01-01'", 0);	/* sum of nothing */
	expect_num("avg(amount) where day < '2025-01-01'", NAN);
	expect_num("stddev(qty) where qty = 5", NAN);		/* one value */
	expect_num("count_distinct(date(ts))", 2);
	expect_num("sum(qty * 2 + 1) - -1", 17);
	expect_num("2 * (3 + 4) / 7 + count(*) * 0", 2);
	expect_num("1e3 + 0 * count(*)", 1000);
}

static void test_dates_and_strings(void **state)
{
	struct mlfs_err err = { 0 };
	struct expr_prog *p = compile1("f", "max(day) + 2w", &err);
	void *st;
	struct xval out;
	struct buf b = { 0 };
	assert_non_null(p);
	run(p, rows3, 3, day("2026-01-10"), &out, &st);
	assert_int_equal(out.t, COL_DATE);
	expr_value_text(&out, &b);
	assert_string_equal(b.data, "2026-01-17");
	done(p, st);
	buf_reset(&b);
	p = compile1("f", "min(name)", &err);
	run(p, rows3, 3, 0, &out, &st);
	expr_value_text(&out, &b);
	assert_string_equal(b.data, "ann");
	done(p, st);
	buf_reset(&b);
	p = compile1("f", "last(name)", &err);
	run(p, rows3, 3, 0, &out, &st);
	expr_value_text(&out, &b);
	assert_string_equal(b.data, "ann");
	assert_int_equal(expr_prog_type(p, 0), COL_STRING);
	done(p, st);
	buf_reset(&b);
	p = compile1("f", "max(ts) - 1h", &err);
	run(p, rows3, 3, 0, &out, &st);
	expr_value_text(&out, &b);
	assert_string_equal(b.data, "2026-01-02T23:00:00Z");
	done(p, st);
	buf_free(&b);
}

static void expect_error(const char *text, const char *msg)
{
	struct mlfs_err err = { 0 };
	struct expr_prog *p = compile1("f", text, &err);
	if (p)
		fail_msg("%s: compiled", text);
	assert_int_equal(err.code, -EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("%s: '%s' lacks '%s'", text, err.msg, msg);
}

static void test_errors_with_positions(void **state)
{
	/* The feature starts at line 5, column 10. */
	expect_error("sum(amont)", "line 5, column 14: feature 'f': unknown column 'amont'");
	expect_error("sum(name)", "line 5, column 14: feature 'f': sum needs a number, but column 'name' is string");
	expect_error("avg(day)", "avg needs a number, but column 'day' is date");
	expect_error("amount + 1", "line 5, column 10: feature 'f': column 'amount' must be inside an aggregate");
	expect_error("sum(sum(amount))", "cannot be nested");
	expect_error("foo(amount)", "line 5, column 10: feature 'f': unknown function 'foo'");
	expect_error("sum(amount", "line 5, column 20: feature 'f': expected ')'");
	expect_error("sum(amount) +", "ends too early");
	expect_error("sum(amount) where name", "where clause must be true or false");
	expect_error("sum(amount) where sum(qty) > 1", "cannot be nested");
	expect_error("count(*) where day > 'yesterday'", "'yesterday' is not a date");
	expect_error("min(name) + 1", "cannot add string and int");
	expect_error("sum(amount) 3", "unexpected '3' after the expression");
	expect_error("count(*) + 30x", "bad number");
	expect_error("count(*) @", "unexpected character '@'");
	expect_error("'open", "unterminated string");
	expect_error("coalesce(min(name), 1)", "coalesce mixes string and int");
	expect_error("days_since(max(amount))", "days_since() needs a date");
	expect_error("3d", "cannot be a duration");
	expect_error("count(amount, qty)", "takes one argument");
	/* the function's own name, not the table entry at its number (the
	 * table lists aliases: mean, std) */
	expect_error("min(amount, qty)", "min takes one argument");
	expect_error("stddev(name)", "stddev needs a number");
	/* Deep nesting is an error, not a crash. */
	char deep[2100];
	memset(deep, '(', 1000);
	strcpy(deep + 1000, "1");
	memset(deep + 1001, ')', 1000);
	deep[2001] = '\0';
	expect_error(deep, "nested too deeply");
	char neg[1200];
	memset(neg, '-', 1000);
	strcpy(neg + 1000, "count(*)");
	expect_error(neg, "nested too deeply");
}

static void test_references_order_and_cycles(void **state)
{
	struct mlfs_err err = { 0 };
	struct expr_prog *p = NULL;
	/* Defined after use: evaluated in dependency order. */
	struct expr_source src[] = {
		{ "per", "total / n", 1, 5, true },
		{ "total", "sum(amount)", 2, 8, true },
		{ "n", "count(*)", 3, 4, true },
	};
	assert_int_equal(expr_compile(src, 3, &schema, COL_DATE, &p, &err), 0);
	assert_int_equal(expr_prog_type(p, 0), COL_FLOAT);
	assert_int_equal(expr_prog_type(p, 2), COL_INT);
	assert_true(expr_prog_uses_column(p, 1));
	assert_false(expr_prog_uses_column(p, 3));
	void *st;
	struct xval out[3];
	run(p, rows3, 3, 0, out, &st);
	assert_true(fabs(out[0].f - 5.0) < 1e-12);
	done(p, st);

	struct expr_source cyc[] = {
		{ "a", "b + 1", 1, 4, true },
		{ "b", "c * 2", 2, 4, true },
		{ "c", "a - count(*)", 3, 4, true },
	};
	assert_int_equal(expr_compile(cyc, 3, &schema, COL_DATE, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 3, column 4: feature 'c': 'a' depends on itself"));
	struct expr_source self[] = { { "a", "a", 7, 4, true } };
	assert_int_equal(expr_compile(self, 1, &schema, COL_DATE, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "depends on itself"));
	struct expr_source twice[] = { { "a", "count(*)", 1, 4, true }, { "a", "count(*)", 2, 4, true } };
	assert_int_equal(expr_compile(twice, 2, &schema, COL_DATE, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "defined twice"));
	struct expr_source inagg[] = { { "a", "count(*)", 1, 4, true }, { "b", "sum(a)", 2, 4, true } };
	assert_int_equal(expr_compile(inagg, 2, &schema, COL_DATE, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cannot be used inside an aggregate"));
}

/* Aggregates over random data against the obvious computation. */
static void test_against_reference(void **state)
{
	struct expr_source src[] = {
		{ "n", "count(amount)", 1, 1, true },
		{ "s", "sum(amount)", 1, 1, true },
		{ "m", "avg(amount)", 1, 1, true },
		{ "sd", "stddev(amount)", 1, 1, true },
		{ "lo", "min(amount)", 1, 1, true },
		{ "hi", "max(amount)", 1, 1, true },
		{ "cd", "count_distinct(day)", 1, 1, true },
		{ "w", "sum(amount) where day >= as_of - 30d", 1, 1, true },
	};
	struct mlfs_err err = { 0 };
	struct expr_prog *p;
	assert_int_equal(expr_compile(src, 8, &schema, COL_DATE, &p, &err), 0);
	srand(7);
	for (int trial = 0; trial < 50; trial++) {
		int n = 1 + rand() % 200;
		double *a = calloc(n, sizeof(double));
		int32_t *d = calloc(n, sizeof(int32_t));
		void *st = malloc(expr_state_size(p));
		struct xval as_of = { .t = COL_DATE, .i = 20000 }, out[8];
		expr_state_init(p, st);
		for (int i = 0; i < n; i++) {
			struct xval row[7] = { 0 };
			a[i] = (rand() % 100000) / 100.0;
			d[i] = 20000 - rand() % 90;
			row[1] = (struct xval){ .t = COL_FLOAT, .f = a[i] };
			row[2] = (struct xval){ .t = COL_DATE, .i = d[i] };
			assert_int_equal(expr_state_add(p, st, row, &as_of), 0);
		}
		expr_state_finish(p, st, &as_of, out);
		double s = 0, w = 0, lo = a[0], hi = a[0];
		int distinct = 0;
		for (int i = 0; i < n; i++) {
			s += a[i];
			w += d[i] >= 20000 - 30 ? a[i] : 0;
			lo = fmin(lo, a[i]);
			hi = fmax(hi, a[i]);
			int seen = 0;
			for (int j = 0; j < i; j++)
				seen |= d[j] == d[i];
			distinct += !seen;
		}
		double mean = s / n, ss = 0;
		for (int i = 0; i < n; i++)
			ss += (a[i] - mean) * (a[i] - mean);
		assert_int_equal(out[0].i, n);
		assert_true(fabs(out[1].f - s) < 1e-9 * fmax(1, s));
		assert_true(fabs(out[2].f - mean) < 1e-9 * fmax(1, mean));
		if (n > 1)
			assert_true(fabs(out[3].f - sqrt(ss / (n - 1))) < 1e-9 * fmax(1, sqrt(ss / (n - 1))));
		else
			assert_int_equal(out[3].t, COL_NULL);
		assert_true(out[4].f == lo && out[5].f == hi);
		assert_int_equal(out[6].i, distinct);
		assert_true(fabs(out[7].f - w) < 1e-9 * fmax(1, w));
		expr_state_free(p, st);
		free(st);
		free(a);
		free(d);
	}
	expr_prog_free(p);
}

/* Feature values print exactly as fmt_double would, only faster. */
static void test_number_text(void **state)
{
	struct buf a = { 0 }, b = { 0 };
	srand(3);
	for (int i = 0; i < 300000; i++) {
		double v;
		switch (i % 7) {
		case 5: v = (double)(rand() % 100000000) / (1 + rand() % 997) / pow(10, rand() % 8); break;
		case 6: v = (rand() % 1000000) * pow(10, rand() % 20 - 14); break;
		case 0: v = (rand() % 10000000) / 100.0; break;
		case 1: v = (double)rand() / RAND_MAX * pow(10, rand() % 30 - 12); break;
		case 2: v = (rand() % 1000000) / (double)(1 + rand() % 1000); break;
		case 3: v = ldexp((double)rand(), rand() % 120 - 60); break;
		default: {
			uint64_t bits = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
			memcpy(&v, &bits, 8);
		}
		}
		if (rand() % 2)
			v = -v;
		struct xval x = { .t = COL_FLOAT, .f = v };
		buf_reset(&a);
		buf_reset(&b);
		expr_value_text(&x, &a);
		buf_put_double(&b, v);
		if (strcmp(a.data, b.data))
			fail_msg("%.17g: '%s' != '%s'", v, a.data, b.data);
	}
	buf_free(&a);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aggregates_and_nulls),
		cmocka_unit_test(test_count_distinct_grows),
		cmocka_unit_test(test_dates_and_strings),
		cmocka_unit_test(test_errors_with_positions),
		cmocka_unit_test(test_references_order_and_cycles),
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_number_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
