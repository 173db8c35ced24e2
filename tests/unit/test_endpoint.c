/* test_endpoint.c - serving against a store holding two registered
 * versions of a churn model: predictions equal the forest's own on the
 * looked-up (or overriding) values, lookup misses, traffic checks and the
 * holds it takes, seeded 80/20 routing, sticky keys, shadows, the log and
 * its retention, statistics across a reopen, idle unload, and batch
 * scoring in chunks with errors numbered from the request's start. */
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

#include "batch.h"
#include "endpoint.h"
#include "forest/forest.h"
#include "registry.h"
#include "table.h"
#include "store_fixture.h"
#include "owner_fixture.h"
#include "data_fixture.h"
#include "model_fixture.h"

#define NKEYS 120

static const char *const spec_v1 =
	"labels: labels\nlabel: churn\n"
	"features:\n  - table: feat\n    lookup_key: customer_id\n"
	"exclude: [customer_id]\n"
	"params: {n_estimators: 5, max_depth: 4, seed: 1}\n";
static const char *const spec_v2 =
	"labels: labels\nlabel: churn\n"
	"features:\n  - table: feat\n    lookup_key: customer_id\n"
	"exclude: [customer_id]\n"
	"params: {n_estimators: 7, max_depth: 3, seed: 2}\n";

static int spent(int id)
{
	return (id * 37) % 100;
}

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	struct buf feat = { 0 }, labels = { 0 };
	struct mlfs_err err = { 0 };
	uint64_t v;
	buf_puts(&feat, "customer_id,spent\n");
	buf_puts(&labels, "customer_id,churn\n");
	for (int id = 1; id <= NKEYS; id++) {
		buf_printf(&feat, "%d,%d\n", id, spent(id));
		buf_printf(&labels, "%d,%d\n", id, spent(id) < 50);
	}
	fixture_features_put(f->s, "feat", feat.data);
	fixture_table_put(f->s, "labels", labels.data);
	buf_free(&feat);
	buf_free(&labels);
	assert_int_equal(tracking_experiment_create(f->s, "e", NULL), 0);
	fixture_trained_run(f->s, "e", "r1", spec_v1);
	fixture_trained_run(f->s, "e", "r2", spec_v2);
	assert_int_equal(registry_model_create(f->s, "m", 0, 0, 0755, NULL, NULL), 0);
	assert_int_equal(registry_register(f->s, "m", "e", "r1", 0, &v, &err), 0);
	assert_int_equal(registry_register(f->s, "m", "e", "r2", 0, &v, &err), 0);
	assert_int_equal(registry_alias_set(f->s, "m", "Production", 1, 0, &err), 0);
	assert_int_equal(endpoint_create(f->s, "ep", 0, 0, 0755, NULL, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

static struct store *st(void **state)
{
	return ((struct store_fixture *)*state)->s;
}

static void set(struct store *s, const char *field, const char *text)
{
	struct mlfs_err err = { 0 };
	if (endpoint_text_set(s, "ep", field, text, strlen(text), true, &err))
		fail_msg("%s: %s", field, err.msg);
}

/* The churn probability version V's forest gives SPENT (NaN: missing). */
static double forest_proba(struct store *s, uint64_t version, double spent_value)
{
	struct registry_version rv;
	struct buf b = { 0 };
	struct forest *f = NULL;
	double out[2];
	assert_int_equal(registry_version_get(s, "m", version, &rv), 0);
	assert_int_equal(registry_version_file(s, &rv, "model.forest", &b, NULL), 0);
	assert_int_equal(forest_load(b.data, b.len, &f, NULL), 0);
	assert_int_equal(forest_nfeatures(f), 1);
	forest_predict_row(f, &spent_value, out);
	forest_free(f);
	buf_free(&b);
	return out[1];
}

static char *predict(struct store *s, const char *req, int want)
{
	static struct buf out;
	struct mlfs_err err = { 0 };
	buf_reset(&out);
	int rc = endpoint_predict(s, "ep", req, strlen(req), &out, &err);
	if (rc != want)
		fail_msg("predict %s: %d (%s), wanted %d", req, rc, err.msg, want);
	return out.data ? out.data : "";
}

/* The value of column COL in CSV line LINE (0 = header) of TEXT. */
static double csv_number(const char *text, int line, int col)
{
	const char *p = text;
	for (int l = 0; l < line; l++)
		p = strchr(p, '\n') + 1;
	for (int c = 0; c < col; c++)
		p = strchr(p, ',') + 1;
	return strtod(p, NULL);
}

static void test_predict_lookup_override_miss(void **state)
{
	struct store *s = st(state);
	struct buf out = { 0 };
	set(s, "traffic", "m@Production 100\n");
	const char *r = predict(s, "customer_id\n5\n17\n9999\n", 0);
	assert_true(!strncmp(r, "customer_id,prediction,probability,model,version\n5,", 50));
	assert_float_equal(csv_number(r, 1, 2), forest_proba(s, 1, spent(5)), 1e-12);
	assert_float_equal(csv_number(r, 2, 2), forest_proba(s, 1, spent(17)), 1e-12);
	assert_float_equal(csv_number(r, 3, 2), forest_proba(s, 1, NAN), 1e-12);
	assert_non_null(strstr(r, ",m,1\n"));
	/* a request column overrides the looked-up value */
	r = predict(s, "customer_id,spent\n5,3\n", 0);
	assert_float_equal(csv_number(r, 1, 2), forest_proba(s, 1, 3), 1e-12);
	/* JSON in, MLflow's answer out */
	r = predict(s, "{\"dataframe_records\": [{\"customer_id\": 17}]}", 0);
	assert_true(!strncmp(r, "{\"predictions\": [", 17));
	/* statistics and the log */
	assert_int_equal(endpoint_stats_csv(s, "ep", &out), 0);
	assert_non_null(strstr(out.data, "\nm,1,served,100,3,5,0,1,"));
	buf_reset(&out);
	assert_int_equal(endpoint_log_csv(s, "ep", &out, NULL), 0);
	assert_true(!strncmp(out.data, "timestamp,request_id,endpoint,model,version,role,latency_us,status,"
			     "customer_id,spent,prediction,probability\n", 101));
	assert_non_null(strstr(out.data, ",ep,m,1,served,"));
	assert_non_null(strstr(out.data, ",lookup_miss,9999,,"));
	assert_non_null(strstr(out.data, ",ok,5,3,"));	/* the override was used */
	int lines = 0;
	for (const char *p = out.data; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 1 + 5);
	buf_free(&out);
}

static void test_bad_requests(void **state)
{
	struct store *s = st(state);
	struct mlfs_err err = { 0 };
	struct buf out = { 0 };
	predict(s, "customer_id\n1\n", -EINVAL);	/* no traffic yet */
	set(s, "traffic", "m@1 100\n");
	predict(s, "nobody\n1\n", -EINVAL);
	predict(s, "customer_id,spent\n1,abc\n", -EINVAL);
	predict(s, "customer_id\n\"1\n", -EINVAL);
	predict(s, "{\"dataframe_records\": [", -EINVAL);
	predict(s, "customer_id\n", -EINVAL);
	set(s, "config.yaml", "max_request_bytes: 64\n");
	predict(s, "customer_id\n100\n101\n102\n103\n104\n105\n106\n107\n108\n109\n110\n111\n112\n113\n", -EFBIG);
	/* the write-time check sees what it can */
	assert_int_equal(endpoint_predict_check(s, "ep", "nobody\n1\n", 9, false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'customer_id'"));
	const char *partial = "customer_id,spent\n1,x", *whole = "customer_id,spent\n1,x\n";
	assert_int_equal(endpoint_predict_check(s, "ep", partial, strlen(partial), false, &err), 0);
	assert_int_equal(endpoint_predict_check(s, "ep", whole, strlen(whole), false, &err), -EINVAL);
	/* none of it was logged, the errors were counted, it still serves */
	predict(s, "customer_id\n2\n", 0);
	assert_int_equal(endpoint_log_csv(s, "ep", &out, NULL), 0);
	assert_null(strstr(out.data, ",1,") ? strstr(strchr(out.data, '\n'), ",ok,1,") : NULL);
	int lines = 0;
	for (const char *p = out.data; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2);
	buf_free(&out);
}

static void test_traffic_and_holds(void **state)
{
	struct store *s = st(state);
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	const char *bad[] = { "m@1 90\n", "m@1 100\nm@1 0\n", "m@1\n", "m@1 101\n", "x 100\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(endpoint_text_set(s, "ep", "traffic", bad[i], strlen(bad[i]), true, &err), -EINVAL);
	assert_int_equal(endpoint_text_set(s, "ep", "traffic", "m@3 100\n", 8, true, &err), -ENOENT);
	assert_int_equal(endpoint_text_set(s, "ep", "traffic", "n@1 100\n", 8, true, &err), -ENOENT);
	assert_int_equal(endpoint_text_set(s, "ep", "traffic", "m@Staging 100\n", 14, true, &err), -ENOENT);
	assert_int_equal(endpoint_text_get(s, "ep", "traffic", &b), 0);
	assert_int_equal(b.len, 0);	/* nothing applied */
	set(s, "traffic", "m@Production 100\nm@2 shadow\n");
	/* version 2 is held by number, the model by the alias */
	assert_int_equal(registry_version_delete(s, "m", 2, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "endpoint/ep"));
	assert_int_equal(registry_alias_remove(s, "m", "Production", 0, &err), -EBUSY);
	assert_int_equal(registry_alias_rename(s, "m", "Production", "Old", false, 0, &err), -EBUSY);
	assert_int_equal(registry_model_delete(s, "m", NULL, &err), -EBUSY);
	/* the alias may move: the next request is answered by version 2 */
	predict(s, "customer_id\n5\n", 0);
	assert_int_equal(registry_alias_set(s, "m", "Production", 2, 0, &err), 0);
	assert_non_null(strstr(predict(s, "customer_id\n5\n", 0), ",m,2\n"));
	/* a new traffic lets go of what the old one held */
	set(s, "traffic", "m@1 100\n");
	assert_int_equal(registry_alias_remove(s, "m", "Production", 0, &err), 0);
	assert_int_equal(registry_version_delete(s, "m", 2, &err), 0);
	assert_int_equal(registry_version_delete(s, "m", 1, &err), -EBUSY);
	assert_int_equal(endpoint_delete(s, "ep", NULL, &err), 0);
	assert_int_equal(registry_version_delete(s, "m", 1, &err), 0);
	buf_free(&b);
}

/* Requests answered by version 2 among N one-row requests. */
static int count_v2(struct store *s, int n, int key)
{
	int v2 = 0;
	char req[64];
	for (int i = 0; i < n; i++) {
		snprintf(req, sizeof(req), "customer_id\n%d\n", key ? key : 1 + i % NKEYS);
		v2 += strstr(predict(s, req, 0), ",m,2\n") != NULL;
	}
	return v2;
}

static void test_routing(void **state)
{
	struct store *s = st(state);
	struct buf a = { 0 }, b = { 0 };
	set(s, "config.yaml", "seed: 7\n");
	set(s, "traffic", "m@1 80\nm@2 20\n");
	int v2 = count_v2(s, 1000, 0);
	assert_in_range(v2, 140, 260);
	/* the same seed routes the same way again */
	set(s, "config.yaml", "seed: 7\n");
	assert_int_equal(count_v2(s, 1000, 0), v2);
	/* sticky: a key always meets the same version */
	set(s, "config.yaml", "sticky_key: customer_id\n");
	for (int key = 1; key <= 20; key++) {
		int n = count_v2(s, 10, key);
		assert_true(n == 0 || n == 10);
	}
	predict(s, "spent\n3\n", -EINVAL);	/* no sticky column */
	/* a shadow scores every request and never answers */
	set(s, "config.yaml", "");
	set(s, "traffic", "m@1 100\nm@2 shadow\n");
	assert_int_equal(count_v2(s, 50, 0), 0);
	assert_int_equal(endpoint_stats_csv(s, "ep", &a), 0);
	assert_non_null(strstr(a.data, "\nm,2,shadow,0,50,50,0,0,"));
	assert_int_equal(endpoint_log_csv(s, "ep", &b, NULL), 0);
	assert_non_null(strstr(b.data, ",m,2,shadow,"));
	buf_free(&a);
	buf_free(&b);
}

static int lines_of(const struct buf *b)
{
	int n = 0;
	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

static void test_log_retention_and_reopen(void **state)
{
	struct store_fixture *f = *state;
	struct buf b = { 0 };
	set(f->s, "traffic", "m@1 100\n");
	set(f->s, "config.yaml", "log_retention_rows: 5\n");
	for (int i = 0; i < 12; i++)
		predict(f->s, "customer_id\n3\n", 0);
	assert_int_equal(endpoint_log_csv(f->s, "ep", &b, NULL), 0);
	assert_int_equal(lines_of(&b), 1 + 5);
	set(f->s, "config.yaml", "log: false\n");
	predict(f->s, "customer_id\n3\n", 0);
	buf_reset(&b);
	assert_int_equal(endpoint_log_csv(f->s, "ep", &b, NULL), 0);
	assert_int_equal(lines_of(&b), 1 + 5);
	/* statistics outlive the process */
	store_fixture_reopen(f);
	buf_reset(&b);
	assert_int_equal(endpoint_stats_csv(f->s, "ep", &b), 0);
	assert_non_null(strstr(b.data, "\nm,1,served,100,13,13,0,0,"));
	buf_free(&b);
}

static void test_idle_unload(void **state)
{
	struct store *s = st(state);
	struct buf b = { 0 };
	set(s, "traffic", "m@1 100\n");
	assert_int_equal(endpoint_state_text(s, "ep", &b), 0);
	assert_string_equal(b.data, "m@1 IDLE\n");
	predict(s, "customer_id\n3\n", 0);
	buf_reset(&b);
	assert_int_equal(endpoint_state_text(s, "ep", &b), 0);
	assert_string_equal(b.data, "m@1 READY\n");
	set(s, "config.yaml", "idle_unload: 1\n");
	usleep(1100 * 1000);
	assert_int_equal(endpoint_flush(s, NULL), 0);
	buf_reset(&b);
	assert_int_equal(endpoint_state_text(s, "ep", &b), 0);
	assert_string_equal(b.data, "m@1 IDLE\n");
	predict(s, "customer_id\n3\n", 0);
	buf_reset(&b);
	assert_int_equal(endpoint_stats_csv(s, "ep", &b), 0);
	assert_non_null(strstr(b.data, "\nm,1,served,100,2,2,0,0,"));
	assert_float_equal(csv_number(b.data, 1, 11), 2, 0);	/* cold starts */
	buf_free(&b);
}

static void test_config_errors(void **state)
{
	struct endpoint_config c;
	struct mlfs_err err = { 0 };
	const char *bad[] = { "nope: 1\n", "idle_unload: -1\n", "log_sample: 2\n",
			      "log: maybe\n", "max_request_bytes: 1\n", "- a\n",
			      "sticky_key: [a, b]\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(endpoint_config_parse(bad[i], strlen(bad[i]), &c, &err), -EINVAL);
		assert_true(!strncmp(err.msg, "line 1, column ", 15));
	}
	assert_int_equal(endpoint_config_parse("", 0, &c, &err), 0);
	assert_true(c.log && c.log_sample == 1 && c.idle_unload == 0);
}

/* Everything batch scoring spooled. */
static void spooled(struct batch *b, struct buf *out)
{
	char chunk[4096];
	off_t off = 0;
	ssize_t n;
	while ((n = pread(batch_spool_fd(b), chunk, sizeof(chunk), off)) > 0) {
		buf_append(out, chunk, (size_t)n);
		off += n;
	}
}

static void test_batch(void **state)
{
	struct store *s = st(state);
	struct batch *b = NULL;
	struct buf req = { 0 }, out = { 0 };
	struct mlfs_err err = { 0 };
	int rows = 3 * BATCH_CHUNK_ROWS + 5;
	buf_puts(&req, "customer_id\n");
	for (int i = 0; i < rows; i++)
		buf_printf(&req, "%d\n", 1 + i % NKEYS);
	assert_int_equal(batch_open(s, "m", 1, &b, &err), 0);
	for (size_t at = 0; at < req.len; at += 1000)	/* writes cut anywhere */
		assert_int_equal(batch_write(b, req.data + at, req.len - at < 1000 ? req.len - at : 1000, &err), 0);
	assert_int_equal(batch_finish(b, &err), 0);
	assert_int_equal(batch_rows(b), rows);
	spooled(b, &out);
	assert_int_equal(lines_of(&out), rows + 1);
	assert_true(!strncmp(out.data, "customer_id,prediction,probability,model,version\n", 49));
	assert_float_equal(csv_number(out.data, rows, 2), forest_proba(s, 1, spent(1 + (rows - 1) % NKEYS)), 1e-12);
	batch_free(b);
	/* a bad value past the first chunk names its row in the request */
	buf_reset(&req);
	buf_puts(&req, "customer_id,spent\n");
	for (int i = 0; i < BATCH_CHUNK_ROWS + 10; i++)
		buf_puts(&req, i == BATCH_CHUNK_ROWS + 4 ? "1,abc\n" : "1,2\n");
	assert_int_equal(batch_open(s, "m", 1, &b, &err), 0);
	int rc = batch_write(b, req.data, req.len, &err);
	if (!rc)
		rc = batch_finish(b, &err);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err.msg, "row 4101,"));
	batch_free(b);
	assert_int_equal(batch_open(s, "m", 9, &b, &err), -ENOENT);
	assert_int_equal(batch_open(s, "m", 1, &b, &err), 0);
	assert_int_equal(batch_finish(b, &err), -EINVAL);	/* empty */
	batch_free(b);
	buf_free(&req);
	buf_free(&out);
}

/* The jobs' score task: a table in, a table out. */
static void test_score_table(void **state)
{
	struct store *s = st(state);
	struct mlfs_err err = { 0 };
	struct table_reader *r = NULL;
	uint64_t rows = 0;
	assert_int_equal(batch_score_table(s, "m", 1, "labels", "preds", &rows, &err), 0);
	assert_int_equal(rows, NKEYS);
	assert_int_equal(table_reader_open(s, "preds", &r, &err), 0);
	size_t size = table_reader_size(r);
	char *text = calloc(1, size + 1);
	assert_int_equal(table_reader_read(r, text, size, 0, &err), (long)size);
	table_reader_free(r);
	const char *head = "customer_id,spent,prediction,probability,model_version,prediction_timestamp\n1,37,";
	assert_true(!strncmp(text, head, strlen(head)));
	int lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, NKEYS + 1);
	/* row 7: customer 7, its spent, the forest's probability, version 1 */
	assert_float_equal(csv_number(text, 7, 1), spent(7), 0);
	assert_float_equal(csv_number(text, 7, 3), forest_proba(s, 1, spent(7)), 1e-12);
	assert_float_equal(csv_number(text, 7, 4), 1, 0);
	free(text);
	/* scoring again replaces the rows */
	assert_int_equal(batch_score_table(s, "m", 2, "labels", "preds", &rows, &err), 0);
	assert_int_equal(table_reader_open(s, "preds", &r, &err), 0);
	size = table_reader_size(r);
	text = calloc(1, size + 1);
	assert_int_equal(table_reader_read(r, text, size, 0, &err), (long)size);
	table_reader_free(r);
	lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, NKEYS + 1);
	assert_float_equal(csv_number(text, 7, 3), forest_proba(s, 2, spent(7)), 1e-12);
	assert_float_equal(csv_number(text, 7, 4), 2, 0);
	free(text);
	/* a missing input is ENOENT */
	assert_int_equal(batch_score_table(s, "m", 1, "nope", "preds", &rows, &err), -ENOENT);
}

static void count_problem(void *ctx, const char *problem)
{
	(*(int *)ctx)++;
}

/* mlfs check: clean after every change; a stale hold and a missing one
 * (what a crash between holds and traffic could leave) are reported. */
static void test_check(void **state)
{
	struct store *s = st(state);
	struct mlfs_err err = { 0 };
	int seen = 0;
	set(s, "traffic", "m@Production 80\nm@1 20\nm@2 shadow\n");
	assert_int_equal(endpoint_check(s, count_problem, &seen), 0);
	set(s, "traffic", "m@2 100\n");
	assert_int_equal(endpoint_check(s, count_problem, &seen), 0);
	assert_int_equal(registry_hold(s, "m", 1, "endpoint/ep", &err), 0);	/* stale */
	assert_int_equal(registry_release(s, "m", 2, "endpoint/ep", &err), 0);	/* missing */
	assert_int_equal(endpoint_check(s, count_problem, &seen), 2);
	assert_int_equal(seen, 2);
}

static int ep_owner(struct store *s, const char *name, uint32_t *uid,
		    uint32_t *gid, uint32_t *mode, int64_t *ctime_ms)
{
	struct endpoint_info e = { 0 };
	int rc = endpoint_stat(s, name, &e);
	*uid = e.uid, *gid = e.gid, *mode = e.mode, *ctime_ms = e.created_ms;
	return rc;
}

/* An endpoint is made and deleted in one batch with its owner and mode
 * in its record and the attrs at its path (owner_fixture.h); a traffic
 * write keeps its owner. */
static void test_owner_in_its_record(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	static const struct owner_kind k = { endpoint_create, endpoint_delete, ep_owner };
	owner_fixture_make(s, &k, "o", "/endpoints/o");
	assert_int_equal(endpoint_text_set(s, "o", "traffic", "m@1 100\n", 8, true, NULL), 0);
	owner_fixture_check(s, &k, "o");
	owner_fixture_remove(s, &k, "o", "/endpoints/o");
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_predict_lookup_override_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_traffic_and_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_retention_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_unload, setup, teardown),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_score_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_in_its_record, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
