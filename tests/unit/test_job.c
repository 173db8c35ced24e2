/* test_job.c - jobs on a store with the runner started: job.yaml and
 * spec files refused with line and column or a missing file, the seed's
 * pipeline (refresh -> train -> validate -> promote, then score) run to
 * FINISHED with each task's output, the first deployment passing
 * validation, a validation that fails leaving the alias and skipping the
 * promote, max_concurrent_runs queueing a second start, kill, a schedule
 * firing once per due time (SKIPPED when the slot is taken), a monitor's
 * HIGH alert batches starting one run each, and a stopped runner
 * killing what runs (the crash case, FAILED "interrupted", is a mount
 * test: it needs a kill -9). */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "job.h"
#include "monitor.h"
#include "pipeline.h"
#include "registry.h"
#include "table.h"
#include "store_fixture.h"
#include "owner_fixture.h"
#include "data_fixture.h"

#define NKEYS 200

static struct store *st(void **state)
{
	return ((struct store_fixture *)*state)->s;
}

static const char *const train_yaml =
	"labels: labels\nlabel: churn\n"
	"features:\n  - table: feat\n    lookup_key: customer_id\n"
	"exclude: [customer_id]\nparams: {n_estimators: 5, max_depth: 3, seed: 1}\n"
	"register: m\n";

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	struct buf orders = { 0 }, labels = { 0 };
	struct mlfs_err err = { 0 };
	buf_puts(&orders, "customer_id,amount\n");
	buf_puts(&labels, "customer_id,churn\n");
	for (int id = 1; id <= NKEYS; id++) {
		buf_printf(&orders, "%d,%d\n%d,%d\n", id, id % 50, id, id % 7);
		buf_printf(&labels, "%d,%d\n", id, id % 50 < 25);
	}
	fixture_table_put(f->s, "orders", orders.data);
	fixture_table_put(f->s, "labels", labels.data);
	fixture_table_put(f->s, "customers", "customer_id\n1\n2\n3\n");
	assert_int_equal(features_create(f->s, "feat", &err), 0);
	const char *pipe = "source: orders\nkey: customer_id\nfeatures:\n  spent: sum(amount)\n";
	if (pipeline_set(f->s, "feat", pipe, strlen(pipe), &err))
		fail_msg("pipeline: %s", err.msg);
	assert_int_equal(jobs_start(f->s, NULL, NULL, NULL, &err), 0);
	assert_int_equal(job_create(f->s, "nightly", 0, 0, 0755, NULL, &err), 0);
	assert_int_equal(job_file_set(f->s, "nightly", "train.yaml", train_yaml, strlen(train_yaml),
				      true, &err), 0);
	buf_free(&orders);
	buf_free(&labels);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	jobs_stop(st(state));
	store_fixture_close(*state);
	return 0;
}

static void put(struct store *s, const char *file, const char *text)
{
	struct mlfs_err err = { 0 };
	if (job_file_set(s, "nightly", file, text, strlen(text), true, &err))
		fail_msg("%s: %s", file, err.msg);
}

static uint64_t start(struct store *s)
{
	struct mlfs_err err = { 0 };
	uint64_t id;
	if (job_run_start(s, "nightly", "manual", &id, &err))
		fail_msg("run: %s", err.msg);
	return id;
}

/* Wait (up to 60 s) for run ID to end; its status. */
static enum job_status finish(struct store *s, uint64_t id)
{
	enum job_status st = JOB_QUEUED;
	for (int i = 0; i < 6000; i++) {
		assert_int_equal(job_run_status(s, "nightly", id, &st), 0);
		if (st != JOB_QUEUED && st != JOB_RUNNING)
			return st;
		usleep(10000);
	}
	fail_msg("run %" PRIu64 " did not end", id);
	return st;
}

/* Task TASK's line of run ID's tasks.csv. */
static char *task_line(struct store *s, uint64_t id, const char *task)
{
	static struct buf b;
	char want[64];
	assert_int_equal(job_run_tasks_csv(s, "nightly", id, &b), 0);
	snprintf(want, sizeof(want), "\n%s,", task);
	char *p = strstr(b.data, want);
	if (!p)
		fail_msg("no task %s in\n%s", task, b.data);
	p++;
	*strchr(p, '\n') = '\0';
	return p;
}

static const char *const pipeline_yaml =
	"tasks:\n"
	"  - {name: features, refresh: feat}\n"
	"  - {name: train, experiment: churn, spec: train.yaml, after: [features]}\n"
	"  - {name: validate, candidate: train, against: m@Production, metric: f1_score,\n"
	"     min_gain: %s, after: [train]}\n"
	"  - {name: deploy, promote: m, alias: Production, after: [validate]}\n"
	"  - {name: score, score: m@Production, input: customers, output: scored, after: [deploy]}\n";

static void test_refused(void **state)
{
	struct store *s = st(state);
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "tasks:\n  - {name: a, refresh: nope}\n", "no feature table 'nope'" },
		{ "tasks:\n  - {name: t, experiment: e, spec: other.yaml}\n", "other.yaml: no such file" },
		{ "tasks:\n  - {name: a, refresh: feat, after: [b]}\n  - {name: b, refresh: feat, after: [a]}\n", "cycle" },
		{ "schedule: \"61 * * * *\"\ntasks:\n  - {name: a, refresh: feat}\n", "line 1" },
		{ "trigger: {monitor: nope}\ntasks:\n  - {name: a, refresh: feat}\n", "no monitor 'nope'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mlfs_err err = { 0 };
		int rc = job_file_set(s, "nightly", "job.yaml", bad[i].text, strlen(bad[i].text), true, &err);
		if (rc != -EINVAL || !strstr(err.msg, bad[i].what))
			fail_msg("case %zu: %d '%s'", i, rc, err.msg);
		/* in write() too, the text being whole */
		rc = job_file_set(s, "nightly", "job.yaml", bad[i].text, strlen(bad[i].text), false, &err);
		if (rc != -EINVAL)
			fail_msg("case %zu at write: %d '%s'", i, rc, err.msg);
	}
	struct buf b = { 0 };
	assert_int_equal(job_file_get(s, "nightly", "job.yaml", &b), 0);
	assert_int_equal(b.len, 0);
	/* a spec file job.yaml names is checked as its kind */
	put(s, "job.yaml", "tasks:\n  - {name: t, experiment: e, spec: train.yaml}\n");
	struct mlfs_err err = { 0 };
	assert_int_equal(job_file_set(s, "nightly", "train.yaml", "label: [", 8, true, &err), -EINVAL);
	assert_int_equal(job_file_set(s, "nightly", "notyaml.txt", "x", 1, true, &err), -EINVAL);
	buf_free(&b);
}

static void test_pipeline_and_gate(void **state)
{
	struct store *s = st(state);
	char text[1024];
	uint64_t v;
	snprintf(text, sizeof(text), pipeline_yaml, "0.0");
	put(s, "job.yaml", text);
	uint64_t r1 = start(s);
	assert_int_equal(finish(s, r1), JOB_FINISHED);
	assert_non_null(strstr(task_line(s, r1, "train"), "experiments/churn/runs/nightly-1-train m@1"));
	assert_non_null(strstr(task_line(s, r1, "validate"), "first deployment"));
	assert_non_null(strstr(task_line(s, r1, "deploy"), "m@Production -> 1"));
	assert_non_null(strstr(task_line(s, r1, "score"), "tables/scored: 3 rows"));
	assert_int_equal(registry_alias_get(s, "m", "Production", &v), 0);
	assert_int_equal(v, 1);
	struct buf h = { 0 };
	assert_int_equal(registry_history_csv(s, "m", &h), 0);
	assert_non_null(strstr(h.data, ",Production,,1,0,job:nightly/1\n"));

	/* the same training again: gain 0, min_gain 0 passes and promotes */
	uint64_t r2 = start(s);
	assert_int_equal(finish(s, r2), JOB_FINISHED);
	assert_non_null(strstr(task_line(s, r2, "validate"), "gain 0"));
	assert_int_equal(registry_alias_get(s, "m", "Production", &v), 0);
	assert_int_equal(v, 2);

	/* a gate the candidate cannot pass: Production stays, deploy SKIPPED */
	snprintf(text, sizeof(text), pipeline_yaml, "0.5");
	put(s, "job.yaml", text);
	uint64_t r3 = start(s);
	assert_int_equal(finish(s, r3), JOB_FAILED);
	assert_non_null(strstr(task_line(s, r3, "validate"), "FAILED"));
	assert_non_null(strstr(task_line(s, r3, "validate"), "below min_gain 0.5"));
	assert_non_null(strstr(task_line(s, r3, "deploy"), "SKIPPED"));
	assert_int_equal(registry_alias_get(s, "m", "Production", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(job_history_csv(s, "nightly", &h), 0);
	assert_non_null(strstr(h.data, "\n3,manual,"));
	assert_non_null(strstr(h.data, ",FAILED\n"));
	buf_free(&h);
}

static void test_queue_and_kill(void **state)
{
	struct store *s = st(state);
	const char *slow = "labels: labels\nlabel: churn\n"
			   "features:\n  - table: feat\n    lookup_key: customer_id\n"
			   "exclude: [customer_id]\nparams: {n_estimators: 100000, seed: 1}\n";
	put(s, "slow.yaml", slow);
	put(s, "job.yaml", "tasks:\n  - {name: features, refresh: feat}\n"
			   "  - {name: train, experiment: churn, spec: slow.yaml, after: [features]}\n"
			   "  - {name: after, refresh: feat, after: [train]}\n");
	uint64_t a = start(s), b = start(s);
	enum job_status st;
	assert_int_equal(job_run_status(s, "nightly", b, &st), 0);
	assert_int_equal(st, JOB_QUEUED);
	struct mlfs_err err = { 0 };
	assert_int_equal(job_run_kill(s, "nightly", a, &err), 0);
	assert_int_equal(finish(s, a), JOB_KILLED);
	assert_non_null(strstr(task_line(s, a, "after"), "SKIPPED"));
	/* the queued one starts when the slot frees; kill it too */
	for (int i = 0; i < 500; i++) {
		assert_int_equal(job_run_status(s, "nightly", b, &st), 0);
		if (st != JOB_QUEUED)
			break;
		usleep(10000);
	}
	assert_int_equal(st, JOB_RUNNING);
	assert_int_equal(job_run_kill(s, "nightly", b, &err), 0);
	assert_int_equal(finish(s, b), JOB_KILLED);
	assert_int_equal(job_run_kill(s, "nightly", b, &err), -EINVAL);
	assert_int_equal(job_delete(s, "nightly", NULL, &err), 0);
}

static void test_schedule_and_trigger(void **state)
{
	struct store *s = st(state);
	struct mlfs_err err = { 0 };
	struct buf h = { 0 }, next = { 0 };
	put(s, "job.yaml", "schedule: \"*/5 * * * *\"\ntasks:\n  - {name: features, refresh: feat}\n");
	assert_int_equal(job_next_text(s, "nightly", &next), 0);
	assert_int_equal(next.len, 21);		/* 2026-12-05T22:30:00Z\n */
	int64_t now = clock_now_ms();
	assert_int_equal(jobs_tick(s, now), 0);			/* not due yet */
	assert_int_equal(jobs_tick(s, now + 301 * 1000), 1);	/* due: once */
	assert_int_equal(jobs_tick(s, now + 302 * 1000), 0);
	assert_int_equal(finish(s, 1), JOB_FINISHED);
	assert_int_equal(job_history_csv(s, "nightly", &h), 0);
	assert_non_null(strstr(h.data, "\n1,schedule,"));

	/* a monitor's HIGH alert batches: one run each */
	fixture_table_put(s, "ref", "ts,x\n2026-11-02T01:00:00Z,1\n2026-11-02T02:00:00Z,2\n"
				    "2026-11-02T03:00:00Z,3\n2026-11-02T04:00:00Z,4\n");
	fixture_table_put(s, "cur", "ts,x\n2026-11-02T01:00:00Z,1\n2026-11-02T02:00:00Z,2\n"
				    "2026-11-02T03:00:00Z,3\n2026-11-02T04:00:00Z,4\n");
	assert_int_equal(monitor_create(s, "drift", 0, 0, 0755, NULL, &err), 0);
	const char *spec = "source: table:cur\ntimestamp: ts\nbaseline: table:ref\n";
	assert_int_equal(monitor_spec_set(s, "drift", spec, strlen(spec), true, &err), 0);
	assert_int_equal(monitor_refresh(s, "drift", false, &err), 0);
	put(s, "job.yaml", "trigger: {monitor: drift, level: high}\ntasks:\n  - {name: features, refresh: feat}\n");
	assert_int_equal(jobs_tick(s, clock_now_ms()), 0);
	struct table_writer *w;
	const char *more = "2026-11-03T01:00:00Z,100\n2026-11-03T02:00:00Z,200\n"
			   "2026-11-03T03:00:00Z,300\n2026-11-03T04:00:00Z,400\n";
	assert_int_equal(table_writer_open(s, "cur", false, &w, &err), 0);
	assert_int_equal(table_writer_write(w, more, strlen(more), &err), 0);
	assert_int_equal(table_writer_commit(w, true, &err), 0);
	table_writer_free(w);
	assert_int_equal(monitor_refresh(s, "drift", false, &err), 0);
	struct monitor_info mi;
	assert_int_equal(monitor_stat(s, "drift", &mi), 0);
	assert_int_equal(mi.high_batches, 1);
	assert_int_equal(jobs_tick(s, clock_now_ms()), 1);
	assert_int_equal(jobs_tick(s, clock_now_ms()), 0);
	assert_int_equal(finish(s, 2), JOB_FINISHED);
	assert_int_equal(job_history_csv(s, "nightly", &h), 0);
	assert_non_null(strstr(h.data, "\n2,monitor:drift,"));
	buf_free(&h);
	buf_free(&next);
}

/* Stopping the runner (an unmount) kills what runs: KILLED, not left
 * RUNNING; a runner started again runs the next start. */
static void test_stop_kills_runs(void **state)
{
	struct store *s = st(state);
	put(s, "slow.yaml", "labels: labels\nlabel: churn\n"
			    "features:\n  - table: feat\n    lookup_key: customer_id\n"
			    "exclude: [customer_id]\nparams: {n_estimators: 100000, seed: 1}\n");
	put(s, "job.yaml", "tasks:\n  - {name: features, refresh: feat}\n"
			   "  - {name: train, experiment: churn, spec: slow.yaml, after: [features]}\n");
	uint64_t id = start(s);
	usleep(200000);
	jobs_stop(s);
	enum job_status st;
	assert_int_equal(job_run_status(s, "nightly", id, &st), 0);
	assert_int_equal(st, JOB_KILLED);
	struct mlfs_err err = { 0 };
	assert_int_equal(job_run_start(s, "nightly", "manual", &id, &err), -ESHUTDOWN);
	assert_int_equal(jobs_start(s, NULL, NULL, NULL, &err), 0);
	put(s, "job.yaml", "tasks:\n  - {name: features, refresh: feat}\n");
	id = start(s);
	assert_int_equal(finish(s, id), JOB_FINISHED);
}

/* A spec job.yaml names stays when unlinked; a job deleted and made
 * again trains again (its run 1 is a namesake of the old job's run 1). */
static void test_spec_kept_and_job_again(void **state)
{
	struct store *s = st(state);
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	const char *job = "tasks:\n  - {name: features, refresh: feat}\n"
			  "  - {name: train, experiment: churn, spec: train.yaml, after: [features]}\n";
	put(s, "job.yaml", job);
	assert_int_equal(finish(s, start(s)), JOB_FINISHED);
	assert_int_equal(job_file_delete(s, "nightly", "train.yaml", &err), 0);
	assert_int_equal(job_file_get(s, "nightly", "train.yaml", &b), 0);
	assert_string_equal(b.data, train_yaml);
	assert_int_equal(job_delete(s, "nightly", NULL, &err), 0);
	assert_int_equal(job_create(s, "nightly", 0, 0, 0755, NULL, &err), 0);
	put(s, "train.yaml", train_yaml);
	put(s, "job.yaml", job);
	uint64_t id = start(s);
	assert_int_equal(finish(s, id), JOB_FINISHED);
	assert_non_null(strstr(task_line(s, id, "train"), "experiments/churn/runs/nightly-1-train.2 "));
	/* a spec no longer named goes */
	put(s, "job.yaml", "tasks:\n  - {name: features, refresh: feat}\n");
	assert_int_equal(job_file_delete(s, "nightly", "train.yaml", &err), 0);
	assert_int_equal(job_file_get(s, "nightly", "train.yaml", &b), -ENOENT);
	buf_free(&b);
}

static int job_owner(struct store *s, const char *name, uint32_t *uid,
		     uint32_t *gid, uint32_t *mode, int64_t *ctime_ms)
{
	struct job_info ji = { 0 };
	int rc = job_stat(s, name, &ji);
	*uid = ji.uid, *gid = ji.gid, *mode = ji.mode, *ctime_ms = ji.ctime_ms;
	return rc;
}

/* A job is made and deleted in one batch with its owner and mode in its
 * record and the attrs at its path (owner_fixture.h); a job.yaml write
 * keeps its owner. */
static void test_owner_in_its_record(void **state)
{
	struct store *s = ((struct store_fixture *)*state)->s;
	static const struct owner_kind k = { job_create, job_delete, job_owner };
	const char *yaml = "tasks:\n  - {name: features, refresh: feat}\n";
	struct mlfs_err err = { 0 };
	owner_fixture_make(s, &k, "o", "/jobs/o");
	if (job_file_set(s, "o", "job.yaml", yaml, strlen(yaml), true, &err))
		fail_msg("job.yaml: %s", err.msg);
	owner_fixture_check(s, &k, "o");
	owner_fixture_remove(s, &k, "o", "/jobs/o");
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_and_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_and_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schedule_and_trigger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_kills_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spec_kept_and_job_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_in_its_record, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
