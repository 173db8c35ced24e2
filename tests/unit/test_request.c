/* test_request.c - scoring requests: CSV and every MLflow JSON shape give
 * the same rows; each malformed request is rejected with its reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

#define LIMIT (1u << 20)

static struct request *parse_ok(const char *text)
{
	struct request *r = NULL;
	struct mlfs_err err = { 0 };
	int rc = request_parse(text, strlen(text), LIMIT, &r, &err);
	if (rc)
		fail_msg("parse failed (%d): %s", rc, err.msg);
	return r;
}

static void expect_error(const char *text, int code, const char *reason)
{
	struct request *r = NULL;
	struct mlfs_err err = { 0 };
	assert_int_equal(request_parse(text, strlen(text), LIMIT, &r, &err), code);
	assert_null(r);
	if (!strstr(err.msg, reason))
		fail_msg("message '%s' lacks '%s'", err.msg, reason);
}

/* Two rows: customer_id 7 and 9, total_spent 12.5 and missing. */
static void expect_two_rows(const struct request *r)
{
	assert_int_equal(r->nrows, 2);
	long id = request_column(r, "customer_id");
	long spent = request_column(r, "total_spent");
	assert_true(id >= 0 && spent >= 0);
	assert_string_equal(request_cell(r, 0, (size_t)id), "7");
	assert_string_equal(request_cell(r, 1, (size_t)id), "9");
	assert_string_equal(request_cell(r, 0, (size_t)spent), "12.5");
	assert_null(request_cell(r, 1, (size_t)spent));
}

static void csv_request(void **state)
{
	struct request *r = parse_ok("customer_id,total_spent\n7,12.5\n9,\n");
	assert_int_equal(r->format, REQUEST_CSV);
	assert_int_equal(r->ncols, 2);
	expect_two_rows(r);
	request_free(r);
}

static void json_records(void **state)
{
	struct request *r = parse_ok(
		"{\"dataframe_records\": [{\"customer_id\": 7, \"total_spent\": 12.5},"
		" {\"customer_id\": 9}]}");
	assert_int_equal(r->format, REQUEST_JSON);
	assert_int_equal(r->shape, REQUEST_SHAPE_RECORDS);
	expect_two_rows(r);
	request_free(r);
}

static void json_records_keys_in_other_orders(void **state)
{
	struct request *r = parse_ok(
		"{\"instances\": [{\"total_spent\": 12.5, \"customer_id\": 7},"
		" {\"customer_id\": 9, \"total_spent\": null, \"segment\": \"b\"}]}");
	expect_two_rows(r);
	assert_int_equal(r->ncols, 3);
	assert_null(request_cell(r, 0, (size_t)request_column(r, "segment")));
	assert_string_equal(request_cell(r, 1, (size_t)request_column(r, "segment")), "b");
	request_free(r);
}

static void json_split(void **state)
{
	struct request *r = parse_ok(
		"{\"dataframe_split\": {\"columns\": [\"customer_id\", \"total_spent\"],"
		" \"data\": [[7, 12.5], [9, null]]}}");
	assert_int_equal(r->shape, REQUEST_SHAPE_SPLIT);
	expect_two_rows(r);
	request_free(r);
}

static void json_inputs_columns(void **state)
{
	struct request *r = parse_ok(
		"{\"inputs\": {\"customer_id\": [7, 9], \"total_spent\": [12.5, null]}}");
	assert_int_equal(r->shape, REQUEST_SHAPE_COLUMNS);
	expect_two_rows(r);
	request_free(r);
}

static void json_inputs_positional(void **state)
{
	struct request *r = parse_ok("{\"inputs\": [[1, 2.25, true], [3, 4, false]]}");
	assert_int_equal(r->shape, REQUEST_SHAPE_ROWS);
	assert_null(r->names);
	assert_int_equal(r->ncols, 3);
	assert_int_equal(r->nrows, 2);
	assert_string_equal(request_cell(r, 0, 1), "2.25");
	assert_string_equal(request_cell(r, 1, 2), "false");
	request_free(r);
}

static void json_numbers_round_trip(void **state)
{
	struct request *r = parse_ok(
		"{\"dataframe_records\": [{\"a\": 0.1, \"b\": -12345678901234, \"c\": 1e300, \"d\": \"x,y\"}]}");
	assert_string_equal(request_cell(r, 0, 0), "0.1");
	assert_string_equal(request_cell(r, 0, 1), "-12345678901234");
	assert_string_equal(request_cell(r, 0, 2), "1e+300");
	assert_string_equal(request_cell(r, 0, 3), "x,y");
	request_free(r);
}

static void bad_requests(void **state)
{
	expect_error("", -EINVAL, "empty request");
	expect_error("  \n", -EINVAL, "empty request");
	expect_error("customer_id,total_spent\n", -EINVAL, "no rows");
	expect_error("a,b\n1,2\n3\n", -EINVAL, "line 3: 1 fields, the header has 2");
	expect_error("a,a\n1,2\n", -EINVAL, "column 'a' appears twice");
	expect_error("a,b\n\"1,2\n", -EINVAL, "line");
	expect_error("{\"dataframe_records\": [", -EINVAL, "line 1, column");
	expect_error("{\"rows\": []}", -EINVAL, "exactly one of");
	expect_error("{\"instances\": [{\"a\": 1}], \"inputs\": [[1]]}", -EINVAL, "both instances and inputs");
	expect_error("{\"dataframe_records\": []}", -EINVAL, "no rows");
	expect_error("{\"dataframe_records\": [1, 2]}", -EINVAL, "row 1 is not an object");
	expect_error("{\"dataframe_records\": [{\"a\": [1]}]}", -EINVAL, "a value must be a number");
	expect_error("{\"dataframe_split\": {\"columns\": [\"a\"]}}", -EINVAL, "\"columns\" and \"data\"");
	expect_error("{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1]]}}", -EINVAL, "row 1 has 1 values, expected 2");
	expect_error("{\"inputs\": {\"a\": [1, 2], \"b\": [1]}}", -EINVAL, "column 'b' has 1 values, expected 2");
	expect_error("{\"inputs\": [[1, 2], [1]]}", -EINVAL, "row 2 has 1 values");
	expect_error("{\"dataframe_records\": [{\"a\": 1, \"a\": 2}]}", -EINVAL, "duplicate");
	expect_error("a,b\n\xff,1\n", -EINVAL, "not UTF-8");
}

static void size_limit(void **state)
{
	struct request *r = NULL;
	struct mlfs_err err = { 0 };
	const char *text = "a\n1\n";
	assert_int_equal(request_parse(text, strlen(text), 3, &r, &err), -EFBIG);
	assert_null(r);
	assert_non_null(strstr(err.msg, "over the limit"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csv_request),
		cmocka_unit_test(json_records),
		cmocka_unit_test(json_records_keys_in_other_orders),
		cmocka_unit_test(json_split),
		cmocka_unit_test(json_inputs_columns),
		cmocka_unit_test(json_inputs_positional),
		cmocka_unit_test(json_numbers_round_trip),
		cmocka_unit_test(bad_requests),
		cmocka_unit_test(size_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
