/* test_response.c - responses: CSV in gives CSV out with keys,
 * prediction, probability columns, model and version; JSON in gives
 * MLflow's {"predictions": ...} answer, valid JSON (read back with
 * jansson here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "request.h"
#include "response.h"

static struct request *req(const char *text)
{
	struct request *r = NULL;
	struct mlfs_err err = { 0 };
	assert_int_equal(request_parse(text, strlen(text), 1 << 20, &r, &err), 0);
	return r;
}

static const char *const pred2[] = { "0", "1" };
static const char *const bin_classes[] = { "0", "1" };
static const double bin_proba[] = { 0.75, 0.25, 0.1, 0.9 };
static const char *const models[] = { "churn", "churn" };
static const uint64_t same_version[] = { 3, 3 };
static const uint64_t two_versions[] = { 3, 4 };
static const size_t key0[] = { 0 };

static struct response_rows binary_rows(const uint64_t *versions)
{
	return (struct response_rows){
		.nrows = 2, .nkeys = 1, .key_cols = key0, .prediction = pred2,
		.nclasses = 2, .classes = bin_classes, .proba = bin_proba,
		.model = models, .version = versions,
	};
}

static void csv_binary(void **state)
{
	struct request *r = req("customer_id,total_spent\n7,12.5\n\"9,a\",3\n");
	struct response_rows rows = binary_rows(same_version);
	struct buf out = { 0 };
	response_format(r, &rows, &out);
	assert_string_equal(out.data,
		"customer_id,prediction,probability,model,version\n"
		"7,0,0.25,churn,3\n"
		"\"9,a\",1,0.9,churn,3\n");
	buf_free(&out);
	request_free(r);
}

static void csv_multiclass(void **state)
{
	static const char *const classes[] = { "A", "B", "C" };
	static const char *const pred[] = { "C" };
	static const double proba[] = { 0.125, 0.25, 0.625 };
	static const char *const model[] = { "letters" };
	static const uint64_t version[] = { 1 };
	struct request *r = req("id\n5\n");
	struct response_rows rows = {
		.nrows = 1, .nkeys = 1, .key_cols = key0, .prediction = pred,
		.nclasses = 3, .classes = classes, .proba = proba,
		.model = model, .version = version,
	};
	struct buf out = { 0 };
	response_format(r, &rows, &out);
	assert_string_equal(out.data,
		"id,prediction,probability_A,probability_B,probability_C,model,version\n"
		"5,C,0.125,0.25,0.625,letters,1\n");
	buf_free(&out);
	request_free(r);
}

static json_t *json_of(const struct buf *out)
{
	json_error_t e;
	json_t *j = json_loadb(out->data, out->len, 0, &e);
	if (!j)
		fail_msg("not JSON (%s): %s", e.text, out->data);
	return j;
}

static void json_binary(void **state)
{
	struct request *r = req("{\"dataframe_records\": [{\"customer_id\": 7}, {\"customer_id\": 9}]}");
	struct response_rows rows = binary_rows(same_version);
	struct buf out = { 0 };
	response_format(r, &rows, &out);
	json_t *j = json_of(&out);
	json_t *p = json_object_get(j, "predictions");
	assert_int_equal(json_array_size(p), 2);
	assert_int_equal(json_integer_value(json_array_get(p, 1)), 1);
	assert_true(json_real_value(json_array_get(json_object_get(j, "probabilities"), 1)) == 0.9);
	assert_string_equal(json_string_value(json_object_get(j, "model")), "churn");
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 3);
	json_decref(j);
	buf_free(&out);
	request_free(r);
}

static void json_rows_from_two_versions(void **state)
{
	struct request *r = req("{\"inputs\": {\"customer_id\": [7, 9]}}");
	struct response_rows rows = binary_rows(two_versions);
	struct buf out = { 0 };
	response_format(r, &rows, &out);
	json_t *j = json_of(&out);
	json_t *v = json_object_get(j, "version");
	assert_true(json_is_array(v));
	assert_int_equal(json_integer_value(json_array_get(v, 1)), 4);
	json_decref(j);
	buf_free(&out);
	request_free(r);
}

static void json_labels_and_values(void **state)
{
	static const char *const pred[] = { "yes", "say \"hi\"\n", "-1.5e3", "nan", "007" };
	static const char *const model[] = { "m", "m", "m", "m", "m" };
	static const uint64_t version[] = { 1, 1, 1, 1, 1 };
	struct request *r = req("{\"inputs\": [[1], [2], [3], [4], [5]]}");
	struct response_rows rows = {
		.nrows = 5, .prediction = pred, .model = model, .version = version,
	};
	struct buf out = { 0 };
	response_format(r, &rows, &out);
	json_t *j = json_of(&out);
	json_t *p = json_object_get(j, "predictions");
	assert_string_equal(json_string_value(json_array_get(p, 0)), "yes");
	assert_string_equal(json_string_value(json_array_get(p, 1)), "say \"hi\"\n");
	assert_true(json_real_value(json_array_get(p, 2)) == -1500.0);
	assert_true(json_is_null(json_array_get(p, 3)));
	assert_string_equal(json_string_value(json_array_get(p, 4)), "007");
	assert_null(json_object_get(j, "probabilities"));
	json_decref(j);
	buf_free(&out);
	request_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csv_binary),
		cmocka_unit_test(csv_multiclass),
		cmocka_unit_test(json_binary),
		cmocka_unit_test(json_rows_from_two_versions),
		cmocka_unit_test(json_labels_and_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
