/* test_train.c - training from a spec: every check of train.yaml with its
 * line and column, a training to FINISHED with what a finished run holds
 * (params, metrics, tags, model files, the profile of the train rows,
 * training_set.csv), the profile's prediction column for bool and float
 * labels, the same model bytes for 1 and 2 threads, a one-class label
 * FAILED with the reason, KILLED by the cancel flag, and recovery of runs
 * a dead daemon left. */
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

#include "blob.h"
#include "features.h"
#include "profile.h"
#include "table.h"
#include "tracking.h"
#include "train.h"
#include "train_spec.h"
#include "tune.h"
#include "store_fixture.h"
#include "data_fixture.h"

/* 400 customers; churn is 1 when spent < 50 (with every 10th flipped),
 * so a forest should reach about 90% accuracy. */
static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	struct buf feat = { 0 }, labels = { 0 }, one = { 0 };
	uint64_t x = 12345;
	buf_puts(&feat, "customer_id,spent,orders,segment\n");
	buf_puts(&labels, "customer_id,churn,constant\n");
	for (int id = 1; id <= 400; id++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		int spent = (int)((x >> 33) % 100);
		int orders = (int)((x >> 20) % 7);
		int churn = (spent < 50) ^ (id % 10 == 0);
		buf_printf(&feat, "%d,%d,%d,%s\n", id, spent, orders, id % 3 ? "a" : "b");
		buf_printf(&labels, "%d,%d,1\n", id, churn);
	}
	fixture_features_put(f->s, "customer_features", feat.data);
	fixture_table_put(f->s, "customer_labels", labels.data);
	buf_free(&feat);
	buf_free(&labels);
	buf_free(&one);
	assert_int_equal(tracking_experiment_create(f->s, "churn", NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

static void new_run(struct store *s, const char *run)
{
	uint64_t root;
	assert_int_equal(blob_root_new(s, 0755, 0, 0, &root, NULL), 0);
	assert_int_equal(tracking_run_create(s, "churn", run, 1000, 0, 0, root, NULL), 0);
}

static const char *const base_spec =
	"labels: customer_labels\n"
	"label: churn\n"
	"features:\n"
	"  - table: customer_features\n"
	"    lookup_key: customer_id\n"
	"exclude: [customer_id, constant]\n"
	"params: {n_estimators: 20, max_depth: 6, seed: 7}\n"
	"split: {test_size: 0.25, seed: 3}\n"
	"tags: {team: growth}\n";

static struct train_spec *parse(const char *text)
{
	struct train_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	if (train_spec_parse(text, strlen(text), 0, &sp, &err))
		fail_msg("spec rejected: %s", err.msg);
	return sp;
}

/* TEXT is rejected, at parse or at the check, with REASON. */
static void expect_reject(struct store *s, const char *text, bool tune,
			  const char *reason)
{
	struct train_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	int rc = train_spec_parse(text, strlen(text), tune ? TRAIN_SPEC_TUNE : 0, &sp, &err);
	if (!rc)
		rc = train_spec_check(s, sp, false, &err);
	train_spec_free(sp);
	assert_int_equal(rc, -EINVAL);
	if (!strstr(err.msg, reason))
		fail_msg("message '%s' lacks '%s'", err.msg, reason);
}

static void spec_errors(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	expect_reject(s, "labels: customer_labels\nlabel: churn\nlabelz: x\n", false,
		      "line 3, column 1: unknown key 'labelz'");
	expect_reject(s, "label: churn\n", false, "labels: the table of labels is missing");
	expect_reject(s, "labels: [a\n", false, "line");
	expect_reject(s, "labels: nope\nlabel: churn\n", false, "line 1, column 9: no table 'nope' under /tables");
	expect_reject(s, "labels: customer_labels\nlabel: churned\n", false,
		      "line 2, column 8: label: no column 'churned' in table 'customer_labels'");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nfeatures:\n  - {table: nope, lookup_key: customer_id}\n",
		      false, "line 4, column 5: table: no feature table 'nope'");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nfeatures:\n  - {table: customer_features, lookup_key: customer_id, columns: [spent, nope]}\n",
		      false, "columns: no column 'nope' in feature table 'customer_features'");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nfeatures:\n  - {table: customer_features, lookup_key: cust}\n",
		      false, "lookup_key: no column 'cust' in table 'customer_labels'");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nparams: {n_estimatorz: 5}\n", false,
		      "line 3, column 24: params:");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nparams: {max_depth: -1}\n", false, "params:");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nsplit: {test_size: 1.5}\n", false,
		      "test_size: 1.5 is outside");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nexclude: [nope]\n", false,
		      "exclude: no column 'nope' in the training set");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nexclude: [churn]\n", false, "is the label");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nmodel: xgboost\n", false, "not a model mlfs trains");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nregister: churn_model\n", false,
		      "line 3, column 11: register: no model registry yet");
	expect_reject(s, "labels: customer_labels\nlabel: churn\ntest: nope\n", false, "no table 'nope'");
	/* tune.yaml */
	expect_reject(s, "labels: customer_labels\nlabel: churn\n", true, "tune.yaml needs a search_space");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nsearch_space: {max_depth: {normal: [1, 2]}}\n",
		      true, "unknown distribution 'normal'");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nsearch_space: {max_depth: {uniform: [5, 2]}}\n",
		      true, "needs low < high");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nsearch_space: {n_estimators: {choice: [10, -3]}}\n",
		      true, "search_space:");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nsearch_space: {max_depth: {choice: [3]}}\nalgo: grid\n",
		      true, "algo: 'grid' is not tpe or random");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nsearch_space: {max_depth: {choice: [3]}}\nmetric: auc\n",
		      true, "metric: 'auc' is not one the runs log");
	expect_reject(s, "labels: customer_labels\nlabel: churn\nsearch_space: {max_depth: {choice: [3]}}\nsplit: {}\ntest: customer_labels\n",
		      true, "either split or test");
	/* Written so far: missing keys may come; what is there is checked. */
	struct train_spec *part = NULL;
	const char *first = "labels: customer_labels\n";
	assert_int_equal(train_spec_parse(first, strlen(first), TRAIN_SPEC_SO_FAR, &part, NULL), 0);
	assert_int_equal(train_spec_check(s, part, false, NULL), 0);
	train_spec_free(part);
	assert_int_equal(train_spec_parse(first, strlen(first), 0, &part, NULL), -EINVAL);
	const char *wrong = "labels: nope\n";
	assert_int_equal(train_spec_parse(wrong, strlen(wrong), TRAIN_SPEC_SO_FAR | TRAIN_SPEC_TUNE, &part, NULL), 0);
	assert_int_equal(train_spec_check(s, part, false, NULL), -EINVAL);
	train_spec_free(part);
	/* What later text cannot change: every top-level entry but the last. */
	const char *so_far = "labels: a\n# note\nparams:\n  n_estimators: 5\nfeatures:\n  - table: t\n";
	assert_int_equal(train_spec_settled(so_far, strlen(so_far)), 43);
	assert_int_equal(train_spec_settled("labels: a", 9), 0);	/* the line goes on */
	assert_int_equal(train_spec_settled("labels: a\n", 10), 10);	/* a whole line */
	assert_int_equal(train_spec_settled("a: 1\nparams:\n", 13), 5);	/* a block follows */
	assert_int_equal(train_spec_settled("a: 1\nparams: {x: 1,\n", 20), 5);
	assert_int_equal(train_spec_settled("a: 1\nparams: {x: 1}\n", 20), 20);
	/* A spec that names the registry is fine once one exists. */
	struct train_spec *sp = parse("labels: customer_labels\nlabel: churn\nregister: churn_model\n");
	assert_int_equal(train_spec_check(s, sp, true, NULL), 0);
	train_spec_free(sp);
}

static int read_artifact(struct store *s, const char *exp, const char *run,
			 const char *path, struct buf *out)
{
	struct run_info ri;
	struct blob_stat st = { 0 };
	char part[128];
	uint64_t dir;
	assert_int_equal(tracking_run_get(s, exp, run, &ri), 0);
	dir = ri.artifacts;
	for (const char *p = path, *slash;; p = slash + 1) {
		slash = strchr(p, '/');
		snprintf(part, sizeof(part), "%.*s", slash ? (int)(slash - p) : (int)strlen(p), p);
		if (blob_lookup(s, dir, part, &st))
			return -ENOENT;
		dir = st.id;
		if (!slash)
			break;
	}
	buf_reset(out);
	buf_reserve(out, st.size + 1);
	long n = blob_read(s, st.id, 0, out->data, st.size, NULL);
	assert_int_equal(n, (long)st.size);
	out->len = (size_t)n;
	out->data[n] = '\0';
	return 0;
}

static double metric(struct store *s, const char *run, const char *key)
{
	struct buf b = { 0 };
	double v = NAN;
	if (tracking_metric_text(s, "churn", run, key, &b) == 0)
		sscanf(b.data, "%*s %lf", &v);
	buf_free(&b);
	return v;
}

/* model/profile: the 300 train rows of TRAINING_SET (training_set.csv:
 * customer_id,churn,...,split), the features and the label, and
 * "prediction" holding the class names of the train rows' labels. */
static void check_profile(struct store *s, const char *run, const char *training_set)
{
	struct buf b = { 0 };
	struct profile *p = NULL;
	struct mlfs_err err = { 0 };
	uint64_t train[2] = { 0 };
	for (const char *line = strchr(training_set, '\n') + 1; *line;
	     line = strchr(line, '\n') + 1) {
		const char *end = strchr(line, '\n');
		if (end - line > 6 && !memcmp(end - 6, ",train", 6))
			train[strchr(line, ',')[1] == '1']++;
	}
	assert_int_equal(train[0] + train[1], 300);
	assert_int_equal(read_artifact(s, "churn", run, TRAIN_DIR "/model/profile", &b), 0);
	if (profile_decode(b.data, b.len, &p, &err))
		fail_msg("model/profile: %s", err.msg);
	assert_int_equal(p->rows, 300);
	assert_int_equal(p->ncols, 5);
	assert_null(profile_find(p, "customer_id"));
	assert_int_equal(profile_find(p, "spent")->kind, PROFILE_NUMERIC);
	assert_int_equal(profile_find(p, "spent")->count, 300);
	assert_int_equal(profile_find(p, "segment")->kind, PROFILE_CATEGORICAL);
	assert_int_equal(profile_find(p, "churn")->kind, PROFILE_NUMERIC);
	const struct profile_col *pred = profile_find(p, "prediction");
	assert_non_null(pred);
	assert_int_equal(pred->kind, PROFILE_CATEGORICAL);
	assert_int_equal(pred->ncats, 2);
	assert_string_equal(pred->cats[0], "0");
	assert_string_equal(pred->cats[1], "1");
	assert_int_equal(pred->cat_counts[0], train[0]);
	assert_int_equal(pred->cat_counts[1], train[1]);
	assert_int_equal(pred->nulls, 0);
	profile_free(p);
	buf_free(&b);
}

static void train_to_finished(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct train_spec *sp = parse(base_spec);
	struct mlfs_err err = { 0 };
	struct train_result res;
	struct run_info ri;
	struct buf b = { 0 };

	assert_int_equal(train_spec_check(s, sp, false, &err), 0);
	new_run(s, "r1");
	assert_int_equal(train_begin(s, "churn", "r1", "train", base_spec, strlen(base_spec), &err), 0);
	assert_int_equal(train_begin(s, "churn", "r1", "train", base_spec, strlen(base_spec), &err), -EBUSY);
	if (train_run(s, "churn", "r1", sp, NULL, NULL, &res, &err))
		fail_msg("training failed: %s", err.msg);
	assert_int_equal(tracking_run_get(s, "churn", "r1", &ri), 0);
	assert_int_equal(ri.status, RUN_FINISHED);
	assert_true(res.classify);
	/* Params: the forest's (defaults too) and the platform's. */
	const char *want[][2] = {
		{ "n_estimators", "20" }, { "max_depth", "6" }, { "min_samples_split", "2" },
		{ "model_type", "RandomForestClassifier" }, { "n_train", "300" },
		{ "n_test", "100" }, { "n_features", "3" }, { "label", "churn" },
		{ "split_seed", "3" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		assert_int_equal(tracking_value_get(s, "churn", "r1", "params", want[i][0], &b), 0);
		if (strcmp(b.data, want[i][1]))
			fail_msg("param %s is '%s', not '%s'", want[i][0], b.data, want[i][1]);
	}
	assert_int_equal(tracking_value_get(s, "churn", "r1", "tags", "mlflow.source.type", &b), 0);
	assert_string_equal(b.data, "mlfs");
	assert_int_equal(tracking_value_get(s, "churn", "r1", "tags", "team", &b), 0);
	assert_string_equal(b.data, "growth");
	/* Metrics: the signal is spent < 50 with 10% flipped. */
	double acc = metric(s, "r1", "accuracy");
	assert_true(acc > 0.8 && acc <= 1.0);
	assert_true(acc == train_result_metric(&res, "accuracy"));
	const char *names[] = { "precision", "recall", "f1_score", "roc_auc", "log_loss", "oob_score" };
	for (size_t i = 0; i < 6; i++)
		assert_false(isnan(metric(s, "r1", names[i])));
	/* Files. */
	assert_int_equal(read_artifact(s, "churn", "r1", TRAIN_DIR "/" "model/model.forest", &b), 0);
	struct forest *m = NULL;
	assert_int_equal(forest_load(b.data, b.len, &m, &err), 0);
	assert_int_equal(forest_nfeatures(m), 3);
	forest_free(m);
	assert_int_equal(read_artifact(s, "churn", "r1", TRAIN_DIR "/" "model/importances.csv", &b), 0);
	assert_true(strncmp(b.data, "feature,importance\nspent,", 25) == 0);
	assert_int_equal(read_artifact(s, "churn", "r1", TRAIN_DIR "/" "model/confusion.csv", &b), 0);
	assert_true(strncmp(b.data, "actual,0,1\n0,", 13) == 0);
	assert_int_equal(read_artifact(s, "churn", "r1", TRAIN_DIR "/" "model/features.yaml", &b), 0);
	assert_non_null(strstr(b.data, "lookup_key: [\"customer_id\"]"));
	assert_non_null(strstr(b.data, "columns: [\"spent\", \"orders\", \"segment\"]"));
	assert_non_null(strstr(b.data, "classes: [\"0\", \"1\"]"));
	assert_int_equal(read_artifact(s, "churn", "r1", TRAIN_DIR "/" "model/signature", &b), 0);
	assert_non_null(strstr(b.data, "{\"name\": \"segment\", \"type\": \"string\"}"));
	assert_non_null(strstr(b.data, "outputs: '[{\"name\": \"churn\", \"type\": \"long\"}]'"));
	assert_int_equal(read_artifact(s, "churn", "r1", TRAIN_DIR "/" "train.yaml", &b), 0);
	assert_string_equal(b.data, base_spec);
	/* training_set.csv: keys and excluded columns included, 100 test rows. */
	assert_int_equal(read_artifact(s, "churn", "r1", TRAIN_DIR "/" "training_set.csv", &b), 0);
	assert_true(strncmp(b.data, "customer_id,churn,constant,spent,orders,segment,split\n", 54) == 0);
	size_t lines = 0, tests = 0;
	for (char *p = b.data; (p = strchr(p, '\n')); p++)
		lines++;
	for (char *p = b.data; (p = strstr(p, ",test\n")); p++)
		tests++;
	assert_int_equal(lines, 401);
	assert_int_equal(tests, 100);
	check_profile(s, "r1", b.data);
	buf_free(&b);
	train_spec_free(sp);
}

/* The prediction column holds what serving prints: "false"/"true" for a
 * bool label; the label's numbers for a regressor. */
static void profile_prediction_texts(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct buf labels = { 0 }, b = { 0 };
	buf_puts(&labels, "customer_id,churned,amount\n");
	for (int id = 1; id <= 400; id++)
		buf_printf(&labels, "%d,%s,%d.5\n", id, id % 4 ? "false" : "true", id % 13);
	fixture_table_put(s, "typed_labels", labels.data);
	const char *specs[2] = {
		"labels: typed_labels\nlabel: churned\n"
		"features: [{table: customer_features, lookup_key: customer_id}]\n"
		"exclude: [customer_id, amount]\nparams: {n_estimators: 5, seed: 1}\nsplit: {test_size: 0.25}\n",
		"labels: typed_labels\nlabel: amount\n"
		"features: [{table: customer_features, lookup_key: customer_id}]\n"
		"exclude: [customer_id, churned]\nparams: {n_estimators: 5, seed: 1}\nsplit: {test_size: 0.25}\n",
	};
	const char *runs[2] = { "pb", "pf" };
	for (int k = 0; k < 2; k++) {
		struct train_spec *sp = parse(specs[k]);
		struct profile *p = NULL;
		new_run(s, runs[k]);
		assert_int_equal(train_run(s, "churn", runs[k], sp, NULL, NULL, NULL, NULL), 0);
		assert_int_equal(read_artifact(s, "churn", runs[k], TRAIN_DIR "/model/profile", &b), 0);
		assert_int_equal(profile_decode(b.data, b.len, &p, NULL), 0);
		const struct profile_col *pred = profile_find(p, "prediction");
		const struct profile_col *label = profile_find(p, k ? "amount" : "churned");
		assert_non_null(pred);
		assert_non_null(label);
		assert_int_equal(p->rows, 300);
		assert_int_equal(label->kind, PROFILE_NUMERIC);
		if (k == 0) {
			assert_int_equal(pred->kind, PROFILE_CATEGORICAL);
			assert_int_equal(pred->ncats, 2);
			assert_string_equal(pred->cats[0], "false");
			assert_string_equal(pred->cats[1], "true");
			assert_int_equal(pred->cat_counts[0], 225);	/* stratified split */
			assert_int_equal(pred->cat_counts[1], 75);
			assert_true(label->mean == 0.25);
		} else {
			assert_int_equal(pred->kind, PROFILE_NUMERIC);
			assert_int_equal(pred->nsample, 300);
			assert_memory_equal(pred->sample, label->sample, 300 * sizeof(double));
			assert_true(pred->mean == label->mean && pred->std == label->std);
		}
		profile_free(p);
		train_spec_free(sp);
	}
	buf_free(&labels);
	buf_free(&b);
}

static void same_model_for_any_thread_count(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct train_spec *sp = parse(base_spec);
	struct buf a = { 0 }, b = { 0 };
	struct train_watch one = { .n_threads = 1 }, two = { .n_threads = 2 };
	new_run(s, "t1");
	new_run(s, "t2");
	assert_int_equal(train_run(s, "churn", "t1", sp, NULL, &one, NULL, NULL), 0);
	assert_int_equal(train_run(s, "churn", "t2", sp, NULL, &two, NULL, NULL), 0);
	assert_int_equal(read_artifact(s, "churn", "t1", TRAIN_DIR "/" "model/model.forest", &a), 0);
	assert_int_equal(read_artifact(s, "churn", "t2", TRAIN_DIR "/" "model/model.forest", &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_true(metric(s, "t1", "log_loss") == metric(s, "t2", "log_loss"));
	buf_free(&a);
	buf_free(&b);
	train_spec_free(sp);
}

/* test: TABLE - a second labels table gives the test rows. */
static void test_table_holds_the_test_rows(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct buf holdout = { 0 }, b = { 0 };
	buf_puts(&holdout, "customer_id,churn,constant\n");
	for (int id = 1; id <= 50; id++)
		buf_printf(&holdout, "%d,%d,1\n", id, id % 2);
	fixture_table_put(s, "holdout", holdout.data);
	const char *spec =
		"labels: customer_labels\nlabel: churn\n"
		"features: [{table: customer_features, lookup_key: customer_id}]\n"
		"exclude: [customer_id, constant]\n"
		"params: {n_estimators: 10, seed: 1}\ntest: holdout\n";
	struct train_spec *sp = parse(spec);
	assert_int_equal(train_spec_check(s, sp, false, NULL), 0);
	new_run(s, "ho");
	assert_int_equal(train_run(s, "churn", "ho", sp, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(tracking_value_get(s, "churn", "ho", "params", "n_train", &b), 0);
	assert_string_equal(b.data, "400");
	assert_int_equal(tracking_value_get(s, "churn", "ho", "params", "n_test", &b), 0);
	assert_string_equal(b.data, "50");
	assert_int_equal(tracking_value_get(s, "churn", "ho", "params", "test_table", &b), 0);
	assert_string_equal(b.data, "holdout");
	/* training_set.csv: the 400 training rows, then the 50 test rows. */
	assert_int_equal(read_artifact(s, "churn", "ho", TRAIN_DIR "/training_set.csv", &b), 0);
	size_t tests = 0, lines = 0;
	for (char *p = b.data; (p = strchr(p, '\n')); p++)
		lines++;
	for (char *p = b.data; (p = strstr(p, ",test\n")); p++)
		tests++;
	assert_int_equal(lines, 451);
	assert_int_equal(tests, 50);
	buf_free(&holdout);
	buf_free(&b);
	train_spec_free(sp);
}

static void one_class_fails_with_reason(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct train_spec *sp = parse("labels: customer_labels\nlabel: constant\nexclude: [churn]\n");
	struct mlfs_err err = { 0 };
	struct buf why = { 0 };
	struct run_info ri;
	new_run(s, "one");
	assert_int_equal(train_run(s, "churn", "one", sp, NULL, NULL, NULL, &err), -EINVAL);
	assert_int_equal(tracking_run_get(s, "churn", "one", &ri), 0);
	assert_int_equal(ri.status, RUN_FAILED);
	assert_int_equal(train_error_text(s, "churn", "one", &why), 0);
	assert_non_null(strstr(why.data, "single class"));
	buf_free(&why);
	train_spec_free(sp);
}

static void cancel_kills(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct train_spec *sp = parse(base_spec);
	volatile int stop = 1;
	struct train_watch w = { .cancel = &stop };
	struct run_info ri;
	new_run(s, "k");
	assert_int_equal(train_run(s, "churn", "k", sp, NULL, &w, NULL, NULL), -ECANCELED);
	assert_int_equal(tracking_run_get(s, "churn", "k", &ri), 0);
	assert_int_equal(ri.status, RUN_KILLED);
	/* A finished run takes no new spec. */
	assert_int_equal(train_begin(s, "churn", "k", "train", "x", 1, NULL), -EBUSY);
	train_spec_free(sp);
}

static void recover_interrupted(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct run_info ri;
	struct buf why = { 0 };
	new_run(s, "left");
	new_run(s, "manual");	/* RUNNING, but not the platform's: stays */
	assert_int_equal(train_begin(s, "churn", "left", "train", "x: 1\n", 5, NULL), 0);
	assert_int_equal(tracking_run_get(s, "churn", "left", &ri), 0);
	assert_string_equal(ri.owner, "");	/* the embedded store names none */
	assert_int_equal(train_recover(s, NULL), 1);
	assert_int_equal(tracking_run_get(s, "churn", "left", &ri), 0);
	assert_int_equal(ri.status, RUN_FAILED);
	assert_int_equal(train_error_text(s, "churn", "left", &why), 0);
	assert_string_equal(why.data, "interrupted: the daemon stopped\n");
	assert_int_equal(tracking_run_get(s, "churn", "manual", &ri), 0);
	assert_int_equal(ri.status, RUN_RUNNING);
	buf_free(&why);
}

static const char *const tune_spec =
	"labels: customer_labels\n"
	"label: churn\n"
	"features: [{table: customer_features, lookup_key: customer_id}]\n"
	"exclude: [customer_id, constant]\n"
	"params: {seed: 7}\n"
	"search_space:\n"
	"  n_estimators: {choice: [5, 10]}\n"
	"  max_depth: {quniform: [2, 6, 1]}\n"
	"max_evals: 6\n"
	"parallelism: 2\n"
	"seed: 11\n";

static struct train_spec *parse_tune(void)
{
	struct train_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	if (train_spec_parse(tune_spec, strlen(tune_spec), TRAIN_SPEC_TUNE, &sp, &err))
		fail_msg("tune spec rejected: %s", err.msg);
	return sp;
}

static void tune_search(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct train_spec *sp = parse_tune();
	struct mlfs_err err = { 0 };
	struct run_info ri;
	struct buf b = { 0 }, c = { 0 };
	char name[64];
	double best = -1;

	new_run(s, "tp");
	assert_int_equal(train_begin(s, "churn", "tp", "tune", tune_spec, strlen(tune_spec), &err), 0);
	if (tune_run(s, "churn", "tp", sp, NULL, &err))
		fail_msg("tuning failed: %s", err.msg);
	assert_int_equal(tracking_run_get(s, "churn", "tp", &ri), 0);
	assert_int_equal(ri.status, RUN_FINISHED);
	for (uint32_t t = 0; t < 6; t++) {
		tune_trial_name("tp", t, name, sizeof(name));
		assert_int_equal(tracking_run_get(s, "churn", name, &ri), 0);
		assert_int_equal(ri.status, RUN_FINISHED);
		assert_string_equal(ri.parent, "tp");
		double acc = metric(s, name, "accuracy");
		if (acc > best)
			best = acc;
	}
	tune_trial_name("tp", 6, name, sizeof(name));
	assert_int_equal(tracking_run_get(s, "churn", name, &ri), -ENOENT);
	assert_true(metric(s, "tp", "best_accuracy") == best);
	assert_int_equal(tracking_value_get(s, "churn", "tp", "tags", "trials", &b), 0);
	assert_string_equal(b.data, "6");
	/* The parent holds the best trial's params. */
	assert_int_equal(tracking_value_get(s, "churn", "tp", "tags", "best_run", &b), 0);
	assert_true(metric(s, b.data, "accuracy") == best);
	assert_int_equal(tracking_value_get(s, "churn", b.data, "params", "max_depth", &c), 0);
	assert_int_equal(tracking_value_get(s, "churn", "tp", "params", "max_depth", &b), 0);
	assert_string_equal(b.data, c.data);
	buf_free(&b);
	buf_free(&c);
	train_spec_free(sp);
}

static void tune_is_deterministic(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct train_spec *sp = parse_tune();
	struct buf a = { 0 }, b = { 0 };
	char n1[64], n2[64];
	new_run(s, "d1");
	new_run(s, "d2");
	struct train_watch one = { .n_threads = 1 }, four = { .n_threads = 4 };
	assert_int_equal(tune_run(s, "churn", "d1", sp, &one, NULL), 0);
	assert_int_equal(tune_run(s, "churn", "d2", sp, &four, NULL), 0);
	for (uint32_t t = 0; t < 6; t++) {
		tune_trial_name("d1", t, n1, sizeof(n1));
		tune_trial_name("d2", t, n2, sizeof(n2));
		assert_int_equal(tracking_value_get(s, "churn", n1, "params", "max_depth", &a), 0);
		assert_int_equal(tracking_value_get(s, "churn", n2, "params", "max_depth", &b), 0);
		assert_string_equal(a.data, b.data);
		assert_true(metric(s, n1, "log_loss") == metric(s, n2, "log_loss"));
	}
	buf_free(&a);
	buf_free(&b);
	train_spec_free(sp);
}

static void tune_killed(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct train_spec *sp = parse_tune();
	volatile int stop = 1;
	struct train_watch w = { .cancel = &stop };
	struct run_info ri;
	new_run(s, "kt");
	assert_int_equal(tune_run(s, "churn", "kt", sp, &w, NULL), -ECANCELED);
	assert_int_equal(tracking_run_get(s, "churn", "kt", &ri), 0);
	assert_int_equal(ri.status, RUN_KILLED);
	train_spec_free(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spec_errors),
		cmocka_unit_test(train_to_finished),
		cmocka_unit_test(profile_prediction_texts),
		cmocka_unit_test(same_model_for_any_thread_count),
		cmocka_unit_test(test_table_holds_the_test_rows),
		cmocka_unit_test(one_class_fails_with_reason),
		cmocka_unit_test(cancel_kills),
		cmocka_unit_test(recover_interrupted),
		cmocka_unit_test(tune_search),
		cmocka_unit_test(tune_is_deterministic),
		cmocka_unit_test(tune_killed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
