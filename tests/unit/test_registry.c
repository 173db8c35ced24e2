/* test_registry.c - the model registry against a store holding trained
 * runs: registration (only a FINISHED run with a model, numbers never
 * reused), what a version shows, MLflow's stage rule for aliases, the
 * history in change order (also with threads racing), refusals while an
 * alias or a hold points at a version, a version outliving its run,
 * lineage, the check, and everything as it was after reopening. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attrs.h"
#include "registry.h"
#include "store_fixture.h"
#include "data_fixture.h"
#include "model_fixture.h"

static const char *const spec_text =
	"labels: labels\n"
	"label: churn\n"
	"features:\n"
	"  - table: customer_features\n"
	"    lookup_key: customer_id\n"
	"exclude: [customer_id]\n"
	"params: {n_estimators: 5, max_depth: 4, seed: 1}\n";

static void new_run(struct store *s, const char *run)
{
	fixture_new_run(s, "churn", run);
}

static void trained_run(struct store *s, const char *run)
{
	fixture_trained_run(s, "churn", run, spec_text);
}

/* Runs: r1, r2 trained (FINISHED); running (RUNNING); bare (FINISHED,
 * no model).  Model m with nothing registered. */
static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	struct buf feat = { 0 }, labels = { 0 };
	buf_puts(&feat, "customer_id,spent\n");
	buf_puts(&labels, "customer_id,churn\n");
	for (int id = 1; id <= 120; id++) {
		buf_printf(&feat, "%d,%d\n", id, (id * 37) % 100);
		buf_printf(&labels, "%d,%d\n", id, (id * 37) % 100 < 50);
	}
	fixture_features_put(f->s, "customer_features", feat.data);
	fixture_table_put(f->s, "labels", labels.data);
	buf_free(&feat);
	buf_free(&labels);
	assert_int_equal(tracking_experiment_create(f->s, "churn", NULL), 0);
	trained_run(f->s, "r1");
	trained_run(f->s, "r2");
	new_run(f->s, "running");
	new_run(f->s, "bare");
	assert_int_equal(tracking_run_set_status(f->s, "churn", "bare", "FINISHED", 8, 2000, true, NULL), 0);
	assert_int_equal(registry_model_create(f->s, "m", 0, 0, 0755, NULL, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

static uint64_t reg(struct store *s, const char *run)
{
	uint64_t v = 0;
	struct mlfs_err err = { 0 };
	if (registry_register(s, "m", "churn", run, 0, &v, &err))
		fail_msg("register %s: %s", run, err.msg);
	return v;
}

static void expect_fail(int rc, int want, const struct mlfs_err *err,
			const char *reason)
{
	assert_int_equal(rc, want);
	if (!strstr(err->msg, reason))
		fail_msg("'%s' does not say '%s'", err->msg, reason);
}

static const char *text(struct store *s, uint64_t v, const char *file)
{
	static struct buf b;
	assert_int_equal(registry_version_text(s, "m", v, file, &b), 0);
	return b.data ? b.data : "";
}

static void set_alias(struct store *s, const char *alias, uint64_t v)
{
	struct mlfs_err err = { 0 };
	if (registry_alias_set(s, "m", alias, v, 7, &err))
		fail_msg("alias %s -> %llu: %s", alias, (unsigned long long)v, err.msg);
}

static void test_register(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct mlfs_err err = { 0 };
	struct registry_model m;
	uint64_t v = 0;

	assert_int_equal(reg(s, "r1"), 1);
	assert_int_equal(reg(s, "r2"), 2);
	expect_fail(registry_register(s, "m", "churn", "running", 0, &v, &err), -EINVAL, &err, "is RUNNING, not FINISHED");
	expect_fail(registry_register(s, "m", "churn", "bare", 0, &v, &err), -EINVAL, &err, "holds no model/");
	expect_fail(registry_register(s, "m", "churn", "nope", 0, &v, &err), -EINVAL, &err, "no run churn/nope");
	expect_fail(registry_register(s, "m", "../x", "r1", 0, &v, &err), -EINVAL, &err, "no run");
	expect_fail(registry_register(s, "nomodel", "churn", "r1", 0, &v, &err), -ENOENT, &err, "no model 'nomodel'");
	assert_int_equal(registry_model_get(s, "m", &m), 0);
	assert_int_equal(m.latest, 2);
	assert_int_equal(m.next_version, 3);

	assert_non_null(strstr(text(s, 1, "metrics.csv"), "metric,value\n"));
	assert_non_null(strstr(text(s, 1, "metrics.csv"), "\naccuracy,"));
	assert_non_null(strstr(text(s, 1, "features.yaml"), "table: \"customer_features\""));
	assert_non_null(strstr(text(s, 1, "features.yaml"), "version: "));
	assert_non_null(strstr(text(s, 1, "signature"), "inputs"));
	assert_string_equal(text(s, 1, "status"), "READY\n");
	assert_string_equal(text(s, 1, "stage"), "None\n");
	assert_string_equal(text(s, 1, "aliases"), "");
	assert_int_equal(strlen(text(s, 1, "created")), strlen("2026-12-05T14:00:00.000Z\n"));

	/* Description and tags of the model (0) and of a version. */
	assert_int_equal(registry_text_set(s, "m", 1, "description", "first\n", 6, true, &err), 0);
	assert_int_equal(registry_text_set(s, "m", 0, "tags", "team=growth\n", 12, true, &err), 0);
	expect_fail(registry_text_set(s, "m", 1, "tags", "no equals\n", 10, true, &err), -EINVAL, &err, "");
	expect_fail(registry_text_set(s, "m", 9, "description", "x", 1, true, &err), -ENOENT, &err, "no version 9");
	struct buf b = { 0 };
	assert_int_equal(registry_text_get(s, "m", 1, "description", &b), 0);
	assert_string_equal(b.data, "first\n");
	assert_int_equal(registry_text_get(s, "m", 0, "tags", &b), 0);
	assert_string_equal(b.data, "team=growth\n");
	buf_free(&b);
}

static void test_stage_rule(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct mlfs_err err = { 0 };
	uint64_t v1 = reg(s, "r1"), v2 = reg(s, "r2"), got;

	set_alias(s, "Production", v1);
	assert_string_equal(text(s, v1, "stage"), "Production\n");
	set_alias(s, "Production", v2);		/* v1 leaves Production */
	assert_string_equal(text(s, v1, "stage"), "Archived\n");
	assert_string_equal(text(s, v2, "stage"), "Production\n");
	set_alias(s, "champion", v1);		/* any alias arriving un-archives */
	assert_string_equal(text(s, v1, "stage"), "None\n");
	assert_string_equal(text(s, v1, "aliases"), "champion\n");
	set_alias(s, "Staging", v2);		/* both: Production wins */
	assert_string_equal(text(s, v2, "stage"), "Production\n");
	assert_string_equal(text(s, v2, "aliases"), "Production\nStaging\n");
	assert_int_equal(registry_alias_remove(s, "m", "Production", 7, &err), 0);
	assert_string_equal(text(s, v2, "stage"), "Staging\n");
	assert_int_equal(registry_alias_rename(s, "m", "Staging", "Production", true, 7, &err), 0);
	assert_string_equal(text(s, v2, "stage"), "Production\n");
	assert_int_equal(registry_alias_get(s, "m", "Production", &got), 0);
	assert_int_equal(got, v2);
	assert_int_equal(registry_alias_get(s, "m", "Staging", &got), -ENOENT);
	assert_int_equal(registry_version_stage(s, "m", v2), REGISTRY_PRODUCTION);

	struct buf h = { 0 };
	assert_int_equal(registry_history_csv(s, "m", &h), 0);
	/* time,alias,from,to,uid,by: a creation, a move, a removal, a rename's
	 * two lines, in the order they happened. */
	const char *want[] = {
		",Production,,1,7,", ",Production,1,2,7,", ",champion,,1,7,",
		",Staging,,2,7,", ",Production,2,,7,", ",Staging,2,,7,",
		",Production,,2,7,",
	};
	char *line = strchr(h.data, '\n') + 1;
	assert_memory_equal(h.data, "time,alias,from,to,uid,by\n", 26);
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		char *nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		if (!strstr(line, want[i]) || strcmp(strstr(line, want[i]), want[i]))
			fail_msg("history line %zu: '%s', want '...%s'", i + 1, line, want[i]);
		line = nl + 1;
	}
	assert_string_equal(line, "");
	buf_free(&h);
}

static void test_alias_errors(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct mlfs_err err = { 0 };
	uint64_t v1 = reg(s, "r1");

	expect_fail(registry_alias_set(s, "m", "Production", 99, 0, &err), -EINVAL, &err, "no version 99");
	expect_fail(registry_alias_set(s, "m", "latest", v1, 0, &err), -EINVAL, &err, "reserved");
	expect_fail(registry_alias_set(s, "m", "versions", v1, 0, &err), -EINVAL, &err, "reserved");
	expect_fail(registry_alias_set(s, "m", "history.csv", v1, 0, &err), -EINVAL, &err, "reserved");
	expect_fail(registry_alias_set(s, "m", ".hidden", v1, 0, &err), -EINVAL, &err, "invalid alias");
	expect_fail(registry_alias_set(s, "m", "a b", v1, 0, &err), -EINVAL, &err, "invalid alias");
	expect_fail(registry_alias_set(s, "other", "x", v1, 0, &err), -ENOENT, &err, "no model 'other'");
	set_alias(s, "a", v1);
	set_alias(s, "b", v1);
	expect_fail(registry_alias_rename(s, "m", "a", "b", true, 0, &err), -EEXIST, &err, "exists");
	expect_fail(registry_alias_rename(s, "m", "zz", "b", false, 0, &err), -ENOENT, &err, "no alias 'zz'");
	expect_fail(registry_alias_remove(s, "m", "zz", 0, &err), -ENOENT, &err, "no alias 'zz'");
}

static void test_delete_rules(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct mlfs_err err = { 0 };
	struct registry_version v;
	struct blob_stat st;
	uint64_t v1 = reg(s, "r1"), v2 = reg(s, "r2");

	set_alias(s, "Production", v1);
	expect_fail(registry_version_delete(s, "m", v1, &err), -EBUSY, &err, "alias 'Production' points at version 1");
	assert_int_equal(registry_hold(s, "m", v2, "endpoint/churn", &err), 0);
	expect_fail(registry_version_delete(s, "m", v2, &err), -EBUSY, &err, "endpoint/churn serves version 2");
	expect_fail(registry_model_delete(s, "m", NULL, &err), -EBUSY, &err, "endpoint/churn serves model 'm'");
	expect_fail(registry_hold(s, "m", 9, "endpoint/x", &err), -ENOENT, &err, "no version 9");
	assert_int_equal(registry_release(s, "m", v2, "endpoint/churn", &err), 0);

	/* The run goes (as rm -r runs/r2 does it); the version keeps its
	 * model files. */
	assert_int_equal(registry_version_get(s, "m", v2, &v), 0);
	assert_int_equal(tracking_run_drop(s, "churn", "r2", &err), 0);
	assert_int_equal(blob_root_release(s, v.run_id, &err), 0);
	assert_false(registry_version_run_exists(s, &v));
	assert_int_equal(blob_lookup(s, v.model_dir, "model.forest", &st), 0);
	assert_true(st.size > 0);
	assert_int_equal(registry_check(s, NULL, NULL), 0);
	/* Deleting the version takes the files with it; numbers stay used. */
	assert_int_equal(registry_version_delete(s, "m", v2, &err), 0);
	assert_int_not_equal(blob_stat(s, v.model_dir, &st), 0);
	assert_int_equal(registry_version_get(s, "m", v2, &v), -ENOENT);
	assert_int_equal(reg(s, "r1"), 3);
	assert_int_equal(registry_check(s, NULL, NULL), 0);

	assert_int_equal(registry_alias_remove(s, "m", "Production", 0, &err), 0);
	assert_int_equal(registry_version_delete(s, "m", v1, &err), 0);
	assert_int_equal(registry_model_delete(s, "m", NULL, &err), 0);
	assert_int_equal(registry_model_get(s, "m", &(struct registry_model){ 0 }), -ENOENT);
	/* r1's files are the run's again: they are still there. */
	struct run_info r;
	assert_int_equal(tracking_run_get(s, "churn", "r1", &r), 0);
	assert_int_equal(blob_lookup(s, r.artifacts, TRAIN_DIR, &st), 0);
	assert_int_equal(registry_check(s, NULL, NULL), 0);
}

static int add_lineage(void *ctx, const char *model, uint64_t version)
{
	buf_printf(ctx, "%s@%llu\n", model, (unsigned long long)version);
	return 0;
}

static void test_lineage(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	reg(s, "r1");
	reg(s, "r2");
	assert_int_equal(registry_model_create(s, "other", 0, 0, 0755, NULL, &err), 0);
	uint64_t v;
	assert_int_equal(registry_register(s, "other", "churn", "r1", 0, &v, &err), 0);
	assert_int_equal(registry_lineage(s, "customer_features", add_lineage, &b), 0);
	assert_string_equal(b.data, "m@1\nm@2\nother@1\n");
	assert_int_equal(registry_version_delete(s, "m", 1, &err), 0);
	assert_int_equal(registry_model_delete(s, "other", NULL, &err), 0);
	buf_reset(&b);
	assert_int_equal(registry_lineage(s, "customer_features", add_lineage, &b), 0);
	assert_string_equal(b.data, "m@2\n");
	buf_reset(&b);
	assert_int_equal(registry_lineage(s, "labels", add_lineage, &b), 0);
	assert_null(b.data && *b.data ? b.data : NULL);
	buf_free(&b);
}

struct mover {
	struct store *s;
	int id;
	uint64_t last;	/* the version this thread's last move set */
};

#define MOVERS 4
#define MOVES 50

static void *mover_main(void *arg)
{
	struct mover *mv = arg;
	for (int i = 0; i < MOVES; i++) {
		uint64_t v = 1 + (uint64_t)((mv->id + i) % 2);
		if (registry_alias_set(mv->s, "m", "Production", v, (uint32_t)mv->id, NULL))
			return "failed";
		mv->last = v;
	}
	return NULL;
}

/* Threads racing on one alias: every move is in the history, and the
 * history's last line is where the alias ended. */
static void test_concurrent_moves(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	pthread_t t[MOVERS];
	struct mover mv[MOVERS];
	uint64_t final;
	reg(s, "r1");
	reg(s, "r2");
	for (int i = 0; i < MOVERS; i++) {
		mv[i] = (struct mover){ s, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, mover_main, &mv[i]), 0);
	}
	for (int i = 0; i < MOVERS; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		assert_null(ret);
	}
	struct buf h = { 0 };
	assert_int_equal(registry_history_csv(s, "m", &h), 0);
	size_t lines = 0;
	uint64_t prev_to = 0;
	const char *last = NULL;
	for (const char *p = h.data; (p = strchr(p, '\n')) && p[1]; p++) {
		lines++;
		last = p + 1;
		/* time,alias,from,to,uid: each line's from is the last's to */
		unsigned long long from = 0, to = 0;
		const char *q = strchr(strchr(last, ',') + 1, ',') + 1;
		sscanf(q, "%llu", &from);
		q = strchr(q, ',') + 1;
		sscanf(q, "%llu", &to);
		assert_int_equal(from, prev_to);
		prev_to = to;
	}
	assert_int_equal(lines, MOVERS * MOVES);
	assert_int_equal(registry_alias_get(s, "m", "Production", &final), 0);
	assert_int_equal(prev_to, final);
	buf_free(&h);
}

/* Close and reopen: aliases, stages, texts and history as they were. */
static void test_reopen(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf before = { 0 }, after = { 0 };
	uint64_t v1 = reg(f->s, "r1"), v2 = reg(f->s, "r2"), got;
	set_alias(f->s, "Production", v1);
	set_alias(f->s, "Production", v2);
	assert_int_equal(registry_text_set(f->s, "m", v2, "tags", "k=v\n", 4, true, &err), 0);
	assert_int_equal(registry_history_csv(f->s, "m", &before), 0);
	store_fixture_reopen(f);
	assert_int_equal(registry_history_csv(f->s, "m", &after), 0);
	assert_string_equal(before.data, after.data);
	assert_int_equal(registry_alias_get(f->s, "m", "Production", &got), 0);
	assert_int_equal(got, v2);
	assert_string_equal(text(f->s, v1, "stage"), "Archived\n");
	assert_int_equal(registry_text_get(f->s, "m", v2, "tags", &after), 0);
	assert_string_equal(after.data, "k=v\n");
	assert_int_equal(reg(f->s, "r1"), 3);
	assert_int_equal(registry_check(f->s, NULL, NULL), 0);
	buf_free(&before);
	buf_free(&after);
}

/* A model is made and deleted in one batch with its owner and mode, and
 * clears the attrs a chmod of an earlier model of the name left. */
static void test_model_owner_in_its_record(void **state)
{
	struct store_fixture *f = *state;
	struct registry_model m;
	struct attrs a;
	const struct attrs old = { .mode = 0777, .uid = 9, .gid = 9 };
	assert_int_equal(attrs_put(f->s, "/models/n", &old, NULL), 0);
	/* Dying after the id counter: nothing but a gap in the numbers. */
	store_test_fail_writes(f->s, 1, -EIO);
	assert_int_equal(registry_model_create(f->s, "n", 7, 8, 0700, "/models/n", NULL), -EIO);
	store_test_fail_writes(f->s, 0, 0);
	assert_int_equal(registry_model_get(f->s, "n", &m), -ENOENT);
	assert_int_equal(attrs_get(f->s, "/models/n", &a), 0);
	assert_int_equal(registry_model_create(f->s, "n", 7, 8, 0700, "/models/n", NULL), 0);
	assert_int_equal(registry_model_get(f->s, "n", &m), 0);
	assert_int_equal(m.uid, 7);
	assert_int_equal(m.gid, 8);
	assert_int_equal(m.mode, 0700);
	assert_int_equal(attrs_get(f->s, "/models/n", &a), -ENOENT);
	/* A chmod, then the delete takes it along. */
	assert_int_equal(attrs_put(f->s, "/models/n", &old, NULL), 0);
	store_test_fail_writes(f->s, 0, -EIO);
	assert_int_equal(registry_model_delete(f->s, "n", "/models/n", NULL), -EIO);
	store_test_fail_writes(f->s, 0, 0);
	assert_int_equal(registry_model_get(f->s, "n", &m), 0);
	assert_int_equal(attrs_get(f->s, "/models/n", &a), 0);
	assert_int_equal(registry_model_delete(f->s, "n", "/models/n", NULL), 0);
	assert_int_equal(registry_model_get(f->s, "n", &m), -ENOENT);
	assert_int_equal(attrs_get(f->s, "/models/n", &a), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alias_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lineage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_model_owner_in_its_record, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
