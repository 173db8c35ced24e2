/* test_trainset.c - training sets: labels left-joined with feature
 * lookups, point-in-time correct where a naive join leaks the future,
 * nulls for missing keys, column selection and the errors. */
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

#include "features.h"
#include "table.h"
#include "trainset.h"
#include "trainset_int.h"
#include "store_fixture.h"
#include "data_fixture.h"

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	/* Spend per customer over time.  Customer 1 spends a lot only after
	 * its label dates: a join on the key alone would leak that. */
	fixture_features_put_ts(f->s, "spend", "ts",
		     "customer_id,ts,spent,segment\n"
		     "1,2026-01-01,10,low\n"
		     "1,2026-03-01,20,low\n"
		     "1,2026-12-01,9999,vip\n"
		     "2,2026-02-01,5,mid\n");
	fixture_features_put_ts(f->s, "profile", NULL,
		     "customer_id,age,city\n1,30,Oslo\n2,41,\n");
	fixture_table_put(f->s, "labels",
		  "customer_id,label_date,churn\n"
		  "1,2026-02-15,0\n"	/* sees the 2026-01-01 version */
		  "1,2026-03-01,1\n"	/* exactly at a version time: included */
		  "2,2026-01-15,1\n"	/* before any version of 2: null */
		  "3,2026-06-01,0\n"	/* no such key: null */
		  ",2026-06-01,1\n");	/* null key: null */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

static const char *const key[] = { "customer_id" };

static void test_point_in_time(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct frame *fr;
	struct trainset_lookup lk[] = {
		{ "spend", key, 1, NULL, 0, "label_date" },
		{ "profile", key, 1, NULL, 0, NULL },
	};
	const char *const excl[] = { "label_date" };
	assert_int_equal(trainset_build(f->s, "labels", "churn", lk, 2, excl, 1, &fr, &err), 0);
	assert_int_equal(frame_nrows(fr), 5);
	assert_int_equal(frame_ncols(fr), 6);
	const char *names[] = { "customer_id", "churn", "spent", "segment", "age", "city" };
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(frame_col_name(fr, i), names[i]);
	const double *spent = frame_col_numbers(fr, 2);
	assert_true(spent[0] == 10);
	assert_true(spent[1] == 20);
	assert_true(isnan(spent[2]));
	assert_true(isnan(spent[3]));
	assert_true(isnan(spent[4]));
	for (size_t r = 0; r < 5; r++)
		assert_true(isnan(spent[r]) || spent[r] < 9999);	/* no leak */
	assert_int_equal(frame_col_kind(fr, 3), FRAME_CATEGORICAL);
	const int32_t *seg = frame_col_codes(fr, 3);
	assert_string_equal(frame_col_category(fr, 3, seg[0], NULL), "low");
	assert_int_equal(seg[2], -1);
	const double *age = frame_col_numbers(fr, 4);
	assert_true(age[0] == 30 && age[1] == 30 && age[2] == 41 && isnan(age[3]) && isnan(age[4]));
	const int32_t *city = frame_col_codes(fr, 5);
	assert_string_equal(frame_col_category(fr, 5, city[0], NULL), "Oslo");
	assert_int_equal(city[2], -1);
	const double *churn = frame_col_numbers(fr, 1);
	assert_true(churn[0] == 0 && churn[1] == 1 && churn[4] == 1);
	frame_free(fr);

	/* Without the timestamp lookup: the latest version (the leak). */
	struct trainset_lookup latest[] = { { "spend", key, 1, (const char *const[]){ "spent" }, 1, NULL } };
	assert_int_equal(trainset_build(f->s, "labels", "churn", latest, 1, NULL, 0, &fr, &err), 0);
	assert_int_equal(frame_ncols(fr), 4);
	assert_true(frame_col_numbers(fr, 3)[0] == 9999);
	frame_free(fr);
}

static void test_errors(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct frame *fr = (struct frame *)1;
	const char *const two[] = { "customer_id", "label_date" };
	const char *const bad[] = { "cid" };
	struct {
		struct trainset_lookup lk;
		const char *label;
		int rc;
		const char *msg;
	} cases[] = {
		{ { "nope", key, 1, NULL, 0, NULL }, "churn", -ENOENT, "no feature table 'nope'" },
		{ { "spend", two, 2, NULL, 0, NULL }, "churn", -EINVAL, "names 2 column(s); the table's key has 1" },
		{ { "spend", bad, 1, NULL, 0, NULL }, "churn", -EINVAL, "lookup_key: no column 'cid'" },
		{ { "profile", key, 1, NULL, 0, "label_date" }, "churn", -EINVAL, "has no timestamp_key" },
		{ { "spend", key, 1, NULL, 0, "when" }, "churn", -EINVAL, "timestamp_lookup_key: no column 'when'" },
		{ { "spend", key, 1, (const char *const[]){ "nope" }, 1, NULL }, "churn", -EINVAL, "columns: no column 'nope'" },
		{ { "spend", key, 1, NULL, 0, NULL }, "label", -EINVAL, "label: no column 'label'" },
		{ { "spend", key, 1, (const char *const[]){ "customer_id" }, 1, NULL }, "churn", -EINVAL, "already in the training set" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		int rc = trainset_build(f->s, "labels", cases[i].label, &cases[i].lk, 1, NULL, 0, &fr, &err);
		assert_int_equal(rc, cases[i].rc);
		assert_null(fr);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
	}
	assert_int_equal(trainset_build(f->s, "nolabels", "churn", NULL, 0, NULL, 0, &fr, &err), -ENOENT);
	const char *const ex[] = { "churn" };
	assert_int_equal(trainset_build(f->s, "labels", "churn", NULL, 0, ex, 1, &fr, &err), -EINVAL);
	const char *const ex2[] = { "zzz" };
	assert_int_equal(trainset_build(f->s, "labels", "churn", NULL, 0, ex2, 1, &fr, &err), -EINVAL);
}

/* Many labels join by one scan of the feature table: every row equals a
 * point lookup of its key (the slow reference), missing and null keys
 * give nulls, text and numbers come through. */
static void test_bulk_join_equals_point_lookups(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf q = { 0 }, lab = { 0 };
	enum { NFEAT = 30000, NLAB = TRAINSET_BULK_ROWS + 5000 };
	buf_puts(&lab, "id,y\n");
	for (int i = 0; i < NLAB; i++)
		buf_printf(&lab, "%d,%d\n", i % 7 == 0 ? -1 : i * 2, i % 2);
	buf_puts(&lab, ",1\n");
	/* Every 5th tag is null; the others need quoting. */
	buf_puts(&q, "id,x,tag\n");
	for (int i = 0; i < NFEAT; i++)
		buf_printf(&q, "%d,%d.25,%s\n", i * 3, i % 977, i % 5 ? "\"t\"\"q\"" : "");
	fixture_features_put_ts(f->s, "big", NULL, q.data);
	fixture_table_put(f->s, "many", lab.data);
	struct trainset_lookup lk[] = { { "big", (const char *const[]){ "id" }, 1, NULL, 0, NULL } };
	struct frame *fr;
	if (trainset_build(f->s, "many", "y", lk, 1, NULL, 0, &fr, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(frame_nrows(fr), NLAB + 1);
	struct features_lookup *l;
	assert_int_equal(features_lookup_open(f->s, "big", &l, &err), 0);
	const double *x = frame_col_numbers(fr, 2);
	const int32_t *tag = frame_col_codes(fr, 3);
	const double *id = frame_col_numbers(fr, 0);
	size_t found = 0;
	for (size_t r = 0; r < frame_nrows(fr); r++) {
		char keytext[32];
		int n = snprintf(keytext, sizeof(keytext), "%.0f", id[r]);
		const char *keys[] = { keytext };
		size_t lens[] = { (size_t)n };
		const char *const *fv;
		const size_t *fl;
		if (isnan(id[r]) || features_lookup_get(l, keys, lens, false, 0, &fv, &fl)) {
			assert_true(isnan(x[r]) && tag[r] < 0);
			continue;
		}
		found++;
		assert_true(x[r] == strtod(fv[1], NULL));
		if (!fv[2])
			assert_true(tag[r] < 0);
		else
			assert_string_equal(frame_col_category(fr, 3, tag[r], NULL), "t\"q");
	}
	assert_true(found > NLAB / 4);	/* 1/3 of the ids, less the -1s */
	features_lookup_free(l);
	frame_free(fr);
	buf_free(&lab);
	buf_free(&q);
}

/* The same frame, value for value, from a labels table's columnar form
 * and from its CSV text: every column type, nulls, "-0" in a float
 * column and bare dates in a timestamp column (which frame.c reads as
 * +0 and as days), text keys, missing keys. */
static void assert_frames_equal(const struct frame *a, const struct frame *b)
{
	assert_int_equal(frame_ncols(a), frame_ncols(b));
	assert_int_equal(frame_nrows(a), frame_nrows(b));
	for (size_t c = 0; c < frame_ncols(a); c++) {
		assert_string_equal(frame_col_name(a, c), frame_col_name(b, c));
		assert_int_equal(frame_col_type(a, c), frame_col_type(b, c));
		if (frame_col_kind(a, c) == FRAME_NUMERIC) {
			assert_memory_equal(frame_col_numbers(a, c), frame_col_numbers(b, c),
					    frame_nrows(a) * sizeof(double));
			continue;
		}
		for (size_t r = 0; r < frame_nrows(a); r++) {
			int32_t ca = frame_col_codes(a, c)[r], cb = frame_col_codes(b, c)[r];
			assert_int_equal(ca, cb);
			if (ca >= 0)
				assert_string_equal(frame_col_category(a, c, ca, NULL),
						    frame_col_category(b, c, cb, NULL));
		}
	}
}

static void test_columnar_equals_text(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf q = { 0 }, lab = { 0 };
	enum { NLAB = TRAINSET_BULK_ROWS + 70000 };
	buf_puts(&q, "code,x,tag\n");
	for (int i = 0; i < 3000; i++)
		buf_printf(&q, "c%d,%s,%s\n", i, i % 11 ? (i % 3 ? "-0.5" : "7") : "", i % 4 ? "t" : "");
	fixture_features_put_ts(f->s, "bycode", NULL, q.data);
	buf_puts(&lab, "id,code,y,f,ok,day,at\n");
	for (int i = 0; i < NLAB; i++)
		buf_printf(&lab, "%d,%s%d,%s,%s,%s,2026-01-%02d,%s\n", i, i % 9 ? "c" : "", i % 4000,
			   i % 3 ? "yes" : (i % 5 ? "no" : ""), i % 7 ? "1.5" : (i % 2 ? "-0" : "-0.0"),
			   i % 2 ? "true" : "false", 1 + i % 28,
			   i % 6 ? "2026-01-02T03:04:05Z" : (i % 4 ? "2026-01-03" : ""));
	fixture_table_put(f->s, "mixed", lab.data);
	struct trainset_lookup lk[] = { { "bycode", (const char *const[]){ "code" }, 1, NULL, 0, NULL } };
	struct frame *text, *col;
	trainset_columnar_min_bytes = (size_t)1 << 40;
	if (trainset_build(f->s, "mixed", "y", lk, 1, NULL, 0, &text, &err))
		fail_msg("%s", err.msg);
	trainset_columnar_min_bytes = 0;
	if (trainset_build(f->s, "mixed", "y", lk, 1, NULL, 0, &col, &err))
		fail_msg("%s", err.msg);
	assert_frames_equal(text, col);
	frame_free(col);
	/* Without the "-0" and the bare dates the form itself is read. */
	buf_reset(&lab);
	buf_puts(&lab, "id,code,y,f,ok,day,at\n");
	for (int i = 0; i < NLAB; i++)
		buf_printf(&lab, "%d,%s%d,%s,%s,%s,2026-01-%02d,2026-01-02T03:04:%02dZ\n", i, i % 9 ? "c" : "",
			   i % 4000, i % 3 ? "yes" : (i % 5 ? "no" : ""), i % 7 ? "1.5" : "-0.0",
			   i % 2 ? "true" : "", 1 + i % 28, i % 60);
	fixture_table_put(f->s, "plain", lab.data);
	frame_free(text);
	trainset_columnar_min_bytes = (size_t)1 << 40;
	assert_int_equal(trainset_build(f->s, "plain", "y", lk, 1, NULL, 0, &text, &err), 0);
	trainset_columnar_min_bytes = 0;
	assert_int_equal(trainset_build(f->s, "plain", "y", lk, 1, NULL, 0, &col, &err), 0);
	assert_frames_equal(text, col);
	trainset_columnar_min_bytes = 1u << 20;
	frame_free(text);
	frame_free(col);
	buf_free(&lab);
	buf_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_point_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_join_equals_point_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_columnar_equals_text, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
