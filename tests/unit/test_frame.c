/* test_frame.c - typed columns, dictionaries, nulls and CSV -> frame. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "frame.h"

static void test_build_by_hand(void **state)
{
	struct mlfs_err err = { 0 };
	struct frame *f = frame_new();
	assert_non_null(f);
	assert_int_equal(frame_add_column(f, "x", FRAME_NUMERIC, COL_NULL, &err), 0);
	assert_int_equal(frame_add_column(f, "c", FRAME_CATEGORICAL, COL_NULL, &err), 1);
	assert_int_equal(frame_add_column(f, "x", FRAME_NUMERIC, COL_FLOAT, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "duplicate"));
	assert_int_equal(frame_add_column(f, "", FRAME_NUMERIC, COL_FLOAT, &err), -EINVAL);
	assert_int_equal(frame_add_column(f, "s", FRAME_NUMERIC, COL_STRING, &err), -EINVAL);

	assert_int_equal(frame_append_number(f, 0, 1.5, &err), 0);
	assert_int_equal(frame_append_text(f, 0, "2026-01-02", 10, &err), 0);
	assert_int_equal(frame_append_null(f, 0, &err), 0);
	assert_int_equal(frame_append_text(f, 0, "abc", 3, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'abc' is not a number"));
	assert_int_equal(frame_append_text(f, 1, "red", 3, &err), 0);
	assert_int_equal(frame_append_text(f, 1, "blue", 4, &err), 0);
	assert_int_equal(frame_check(f, &err), -EINVAL);	/* ragged */
	assert_int_equal(frame_append_text(f, 1, "red", 3, &err), 0);
	assert_int_equal(frame_append_number(f, 1, 3.0, &err), -EINVAL);
	assert_int_equal(frame_check(f, &err), 0);
	assert_int_equal(frame_append_number(f, 7, 3.0, &err), -EINVAL);

	assert_int_equal(frame_nrows(f), 3);
	assert_int_equal(frame_ncols(f), 2);
	assert_int_equal(frame_col_index(f, "c"), 1);
	assert_int_equal(frame_col_index(f, "nope"), -ENOENT);
	const double *x = frame_col_numbers(f, 0);
	assert_true(x[0] == 1.5);
	assert_true(x[1] == 20455.0);	/* days since 1970-01-01 */
	assert_true(isnan(x[2]));
	assert_null(frame_col_codes(f, 0));
	const int32_t *c = frame_col_codes(f, 1);
	assert_int_equal(c[0], 0);
	assert_int_equal(c[1], 1);
	assert_int_equal(c[2], 0);
	assert_int_equal(frame_col_ncats(f, 1), 2);
	size_t len;
	assert_string_equal(frame_col_category(f, 1, 1, &len), "blue");
	assert_int_equal(len, 4);
	assert_null(frame_col_category(f, 1, 2, NULL));
	assert_int_equal(frame_col_find(f, 1, "red", 3), 0);
	assert_int_equal(frame_col_find(f, 1, "green", 5), -ENOENT);
	frame_free(f);
	frame_free(NULL);
}

static void test_dictionary_grows(void **state)
{
	struct mlfs_err err = { 0 };
	struct frame *f = frame_new();
	char s[32];
	assert_int_equal(frame_add_column(f, "k", FRAME_CATEGORICAL, COL_STRING, &err), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			int n = snprintf(s, sizeof(s), "key%d", i);
			assert_int_equal(frame_append_text(f, 0, s, (size_t)n, &err), 0);
		}
	assert_int_equal(frame_col_ncats(f, 0), 5000);
	const int32_t *c = frame_col_codes(f, 0);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(c[i], c[i + 5000]);
	assert_int_equal(frame_col_find(f, 0, "key4321", 7), 4321);
	frame_free(f);
}

static void test_csv_types_and_nulls(void **state)
{
	const char *csv =
		"id,price,flag,day,name,empty\n"
		"1,2.5,true,2026-11-27,ann,\n"
		"2,,false,,\"b,b\",\n"
		"3,4,True,2026-11-28,ann,\n";
	struct mlfs_err err = { 0 };
	struct frame *f;
	assert_int_equal(frame_load_csv_buf(csv, strlen(csv), NULL, &f, &err), 0);
	assert_int_equal(frame_nrows(f), 3);
	assert_int_equal(frame_ncols(f), 6);
	assert_int_equal(frame_col_type(f, 0), COL_INT);
	assert_int_equal(frame_col_type(f, 1), COL_FLOAT);
	assert_int_equal(frame_col_type(f, 2), COL_BOOL);
	assert_int_equal(frame_col_type(f, 3), COL_DATE);
	assert_int_equal(frame_col_type(f, 4), COL_STRING);
	assert_int_equal(frame_col_kind(f, 4), FRAME_CATEGORICAL);
	assert_int_equal(frame_col_kind(f, 5), FRAME_NUMERIC);
	const double *price = frame_col_numbers(f, 1);
	assert_true(price[0] == 2.5 && isnan(price[1]) && price[2] == 4);
	const double *flag = frame_col_numbers(f, 2);
	assert_true(flag[0] == 1 && flag[1] == 0 && flag[2] == 1);
	assert_true(isnan(frame_col_numbers(f, 3)[1]));
	assert_string_equal(frame_col_category(f, 4, frame_col_codes(f, 4)[1], NULL), "b,b");
	assert_int_equal(frame_col_codes(f, 4)[2], 0);
	assert_true(isnan(frame_col_numbers(f, 5)[0]));
	frame_free(f);

	/* Forced text keeps numbers as categories. */
	const char *text[] = { "id" };
	struct frame_csv_opts o = { text, 1 };
	assert_int_equal(frame_load_csv_buf(csv, strlen(csv), &o, &f, &err), 0);
	assert_int_equal(frame_col_kind(f, 0), FRAME_CATEGORICAL);
	assert_string_equal(frame_col_category(f, 0, 2, NULL), "3");
	frame_free(f);
}

static void test_csv_errors(void **state)
{
	struct mlfs_err err = { 0 };
	struct frame *f = (struct frame *)1;
	assert_int_equal(frame_load_csv_buf("", 0, NULL, &f, &err), -EINVAL);
	assert_null(f);
	assert_non_null(strstr(err.msg, "no header"));
	assert_int_equal(frame_load_csv_buf("a,b\n1,2\n3\n", 10, NULL, &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 3"));
	assert_int_equal(frame_load_csv_buf("a,a\n1,2\n", 8, NULL, &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "duplicate"));
	assert_int_equal(frame_load_csv_buf("a,\n1,2\n", 7, NULL, &f, &err), -EINVAL);
	assert_int_equal(frame_load_csv_buf("a\n\"x\n", 5, NULL, &f, &err), -EINVAL);
	/* Header only: columns, no rows. */
	assert_int_equal(frame_load_csv_buf("a,b\n", 4, NULL, &f, &err), 0);
	assert_int_equal(frame_nrows(f), 0);
	assert_int_equal(frame_ncols(f), 2);
	frame_free(f);
	assert_int_equal(frame_load_csv("/nonexistent/x.csv", NULL, &f, &err), -ENOENT);
}

static void test_csv_file_matches_buffer(void **state)
{
	char path[] = "/tmp/test_frame_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	/* Larger than one read chunk is not needed: the reader is chunked
	 * either way; check equality of results. */
	struct buf b = { 0 };
	buf_puts(&b, "x,y\n");
	for (int i = 0; i < 20000; i++)
		buf_printf(&b, "%d,%s\n", i, i % 3 ? "a" : "bb");
	assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
	close(fd);
	struct mlfs_err err = { 0 };
	struct frame *f1, *f2;
	assert_int_equal(frame_load_csv(path, NULL, &f1, &err), 0);
	assert_int_equal(frame_load_csv_buf(b.data, b.len, NULL, &f2, &err), 0);
	assert_int_equal(frame_nrows(f1), 20000);
	assert_int_equal(frame_nrows(f2), 20000);
	assert_memory_equal(frame_col_numbers(f1, 0), frame_col_numbers(f2, 0),
			    20000 * sizeof(double));
	assert_memory_equal(frame_col_codes(f1, 1), frame_col_codes(f2, 1),
			    20000 * sizeof(int32_t));
	frame_free(f1);
	frame_free(f2);
	unlink(path);
	buf_free(&b);
}

static void test_real_data_set(void **state)
{
	struct mlfs_err err = { 0 };
	struct frame *f;
	assert_int_equal(frame_load_csv(MLFS_DATA_DIR "/mlc_churn.csv", NULL, &f, &err), 0);
	assert_int_equal(frame_nrows(f), 5000);
	assert_int_equal(frame_ncols(f), 20);
	int st = frame_col_index(f, "state");
	assert_true(st >= 0);
	assert_int_equal(frame_col_kind(f, (size_t)st), FRAME_CATEGORICAL);
	assert_int_equal(frame_col_ncats(f, (size_t)st), 51);
	int churn = frame_col_index(f, "churn");
	assert_int_equal(frame_col_ncats(f, (size_t)churn), 2);
	int calls = frame_col_index(f, "number_customer_service_calls");
	assert_int_equal(frame_col_type(f, (size_t)calls), COL_INT);
	frame_free(f);
}

/* Bulk appends equal one-by-one appends; bad columns change nothing. */
static void test_append_numbers(void **state)
{
	(void)state;
	struct mlfs_err err = { 0 };
	struct frame *f = frame_new();
	assert_int_equal(frame_add_column(f, "x", FRAME_NUMERIC, COL_FLOAT, &err), 0);
	assert_int_equal(frame_add_column(f, "c", FRAME_CATEGORICAL, COL_NULL, &err), 1);
	enum { N = 5000 };
	static double v[N];
	for (size_t i = 0; i < N; i++)
		v[i] = i % 7 ? (double)i * 0.25 - 100 : NAN;
	assert_int_equal(frame_append_number(f, 0, 42.0, &err), 0);
	assert_int_equal(frame_append_numbers(f, 0, v, N, &err), 0);
	assert_int_equal(frame_append_numbers(f, 0, v, 0, &err), 0);
	double *room;
	assert_int_equal(frame_extend_numbers(f, 0, 3, &room, &err), 0);
	room[0] = 1.0, room[1] = NAN, room[2] = -3.5;
	assert_int_equal(frame_col_len(f, 0), 1 + N + 3);
	const double *x = frame_col_numbers(f, 0);
	assert_true(x[0] == 42.0);
	for (size_t i = 0; i < N; i++)
		assert_memory_equal(&x[1 + i], &v[i], sizeof(double));
	assert_true(x[N + 1] == 1.0 && isnan(x[N + 2]) && x[N + 3] == -3.5);

	assert_int_equal(frame_append_numbers(f, 1, v, 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not numeric"));
	assert_int_equal(frame_extend_numbers(f, 1, 2, &room, &err), -EINVAL);
	assert_int_equal(frame_append_numbers(f, 9, v, 2, &err), -EINVAL);
	assert_int_equal(frame_append_numbers(f, 0, v, SIZE_MAX / 4, &err), -ENOMEM);
	assert_int_equal(frame_col_len(f, 0), 1 + N + 3);
	assert_int_equal(frame_col_len(f, 1), 0);
	frame_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_by_hand),
		cmocka_unit_test(test_append_numbers),
		cmocka_unit_test(test_dictionary_grows),
		cmocka_unit_test(test_csv_types_and_nulls),
		cmocka_unit_test(test_csv_errors),
		cmocka_unit_test(test_csv_file_matches_buffer),
		cmocka_unit_test(test_real_data_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
