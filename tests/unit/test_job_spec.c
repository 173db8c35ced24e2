/* test_job_spec.c - job.yaml as a typed spec: the seed's four-task job and
 * a six-kind job with their kinds, targets, `after` indexes and run order;
 * a table of bad texts, each refused at its line and column; cycles; a
 * diamond; text still arriving, cut at every byte; the 64-task limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "job_spec.h"

/* DESIGN.md section 8. */
static const char seed_job[] =
	"schedule: \"0 2 * * *\"         # cron, local time\n"
	"trigger: {monitor: churn_drift, level: high}\n"
	"tasks:\n"
	"  - {name: features, refresh: customer_features}\n"
	"  - {name: train, experiment: churn, spec: train.yaml, after: [features]}   # spec: a file in this job's folder\n"
	"  - {name: validate, candidate: train, against: churn_prediction_model@Production,\n"
	"     metric: f1_score, min_gain: 0.0, after: [train]}\n"
	"  - {name: deploy, promote: churn_prediction_model, alias: Production, after: [validate]}\n";

/* Every kind, block and flow style mixed. */
static const char six_kinds[] =
	"schedule: \"30 6 * * mon-fri\"\n"
	"timezone: Europe/Berlin\n"
	"trigger:\n"
	"  monitor: churn_drift\n"
	"  level: medium\n"
	"max_concurrent_runs: 3\n"
	"tasks:\n"
	"  - {name: features, refresh: customer_features}\n"
	"  - {name: train, experiment: churn, spec: train.yaml, after: [features]}\n"
	"  - name: search\n"
	"    experiment: churn\n"
	"    tune: tune.yaml\n"
	"  - {name: validate, candidate: train, against: churn_prediction_model@Production, metric: f1_score, min_gain: 0.01, after: [train]}\n"
	"  - name: deploy\n"
	"    promote: churn_prediction_model\n"
	"    alias: Production\n"
	"    after:\n"
	"      - validate\n"
	"  - {name: score, score: churn_prediction_model@Production, input: customers, output: churn_predictions, after: deploy}\n";

static struct job_spec *parse_ok(const char *text)
{
	struct job_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	int rc = job_spec_parse(text, strlen(text), &sp, &err);
	if (rc)
		fail_msg("refused (%d): %s\n--\n%s", rc, err.msg, text);
	return sp;
}

static void expect_order(const struct job_spec *sp, const size_t *want, size_t n)
{
	assert_int_equal(sp->ntasks, n);
	for (size_t i = 0; i < n; i++)
		if (sp->order[i] != want[i])
			fail_msg("order[%zu] is %zu (%s), want %zu", i, sp->order[i],
				 sp->tasks[sp->order[i]].name, want[i]);
}

static void expect_after(const struct job_task *t, const size_t *want, size_t n)
{
	assert_int_equal(t->nafter, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(t->after[i], want[i]);
}

struct files {
	char names[4][32];
	enum job_kind kinds[4];
	int n, stop_at;
};

static int collect(void *ctx, const char *file, enum job_kind kind)
{
	struct files *f = ctx;
	if (f->n == f->stop_at)
		return -EINTR;
	snprintf(f->names[f->n], sizeof(f->names[f->n]), "%s", file);
	f->kinds[f->n++] = kind;
	return 0;
}

static void test_seed_job(void **state)
{
	struct job_spec *sp = parse_ok(seed_job);
	assert_true(sp->has_schedule);
	assert_string_equal(sp->schedule_text, "0 2 * * *");
	assert_string_equal(sp->cron.tz, "UTC");
	assert_true(sp->cron.hours == 1u << 2 && sp->cron.minutes == 1);
	assert_true(sp->has_trigger);
	assert_string_equal(sp->trigger_monitor, "churn_drift");
	assert_false(sp->trigger_medium);
	assert_int_equal(sp->max_concurrent_runs, 1);
	assert_int_equal(sp->ntasks, 4);

	const struct job_task *t = sp->tasks;
	assert_string_equal(t[0].name, "features");
	assert_int_equal(t[0].kind, JOB_REFRESH);
	assert_string_equal(t[0].target, "customer_features");
	assert_int_equal(t[0].nafter, 0);
	assert_int_equal(t[0].line, 4);
	assert_int_equal(t[0].col, 5);

	assert_int_equal(t[1].kind, JOB_TRAIN);
	assert_string_equal(t[1].target, "train.yaml");
	assert_string_equal(t[1].experiment, "churn");
	expect_after(&t[1], (size_t[]){ 0 }, 1);

	assert_int_equal(t[2].kind, JOB_VALIDATE);
	assert_string_equal(t[2].target, "train");
	assert_string_equal(t[2].against, "churn_prediction_model@Production");
	assert_string_equal(t[2].metric, "f1_score");
	assert_true(t[2].min_gain == 0.0);
	expect_after(&t[2], (size_t[]){ 1 }, 1);
	assert_int_equal(t[2].line, 6);

	assert_int_equal(t[3].kind, JOB_PROMOTE);
	assert_string_equal(t[3].target, "churn_prediction_model");
	assert_string_equal(t[3].alias, "Production");
	assert_string_equal(t[3].from, "train");	/* the one train task upstream */
	expect_after(&t[3], (size_t[]){ 2 }, 1);
	assert_int_equal(t[3].line, 8);

	expect_order(sp, (size_t[]){ 0, 1, 2, 3 }, 4);

	struct files f = { .stop_at = -1 };
	assert_int_equal(job_spec_files(sp, collect, &f), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.names[0], "train.yaml");
	assert_int_equal(f.kinds[0], JOB_TRAIN);
	job_spec_free(sp);
}

static void test_six_kinds(void **state)
{
	struct job_spec *sp = parse_ok(six_kinds);
	assert_string_equal(sp->cron.tz, "Europe/Berlin");
	assert_true(sp->cron.wdays == 0x3e);
	assert_true(sp->trigger_medium);
	assert_int_equal(sp->max_concurrent_runs, 3);
	assert_int_equal(sp->ntasks, 6);
	const enum job_kind kinds[] = { JOB_REFRESH, JOB_TRAIN, JOB_TUNE, JOB_VALIDATE, JOB_PROMOTE, JOB_SCORE };
	const char *names[] = { "refresh", "train", "tune", "validate", "promote", "score" };
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(sp->tasks[i].kind, kinds[i]);
		assert_string_equal(job_kind_name(sp->tasks[i].kind), names[i]);
	}
	const struct job_task *t = sp->tasks;
	assert_string_equal(t[2].target, "tune.yaml");
	assert_string_equal(t[2].experiment, "churn");
	assert_int_equal(t[2].line, 10);
	assert_int_equal(t[2].col, 5);
	assert_true(t[3].min_gain == 0.01);
	assert_string_equal(t[4].from, "train");	/* search is not upstream */
	expect_after(&t[4], (size_t[]){ 3 }, 1);
	assert_string_equal(t[5].target, "churn_prediction_model@Production");
	assert_string_equal(t[5].input, "customers");
	assert_string_equal(t[5].output, "churn_predictions");
	expect_after(&t[5], (size_t[]){ 4 }, 1);
	/* search is ready from the start but comes after features and train
	 * only because it is later in the file */
	expect_order(sp, (size_t[]){ 0, 1, 2, 3, 4, 5 }, 6);

	struct files f = { .stop_at = -1 };
	assert_int_equal(job_spec_files(sp, collect, &f), 0);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.names[0], "train.yaml");
	assert_int_equal(f.kinds[0], JOB_TRAIN);
	assert_string_equal(f.names[1], "tune.yaml");
	assert_int_equal(f.kinds[1], JOB_TUNE);
	f = (struct files){ .stop_at = 1 };
	assert_int_equal(job_spec_files(sp, collect, &f), -EINTR);
	assert_int_equal(f.n, 1);
	job_spec_free(sp);
}

/* Defaults, `after` as one name, a file shared by two train tasks, and a
 * promote told which of two train tasks to take. */
static void test_defaults_and_from(void **state)
{
	const char *text =
		"tasks:\n"
		"  - {name: a, experiment: e, spec: t.yaml}\n"
		"  - {name: b, experiment: e, spec: t.yaml}\n"
		"  - {name: p, promote: m, alias: Production, from: b, after: [a, b]}\n";
	struct job_spec *sp = parse_ok(text);
	assert_false(sp->has_schedule);
	assert_false(sp->has_trigger);
	assert_string_equal(sp->cron.tz, "UTC");
	assert_int_equal(sp->max_concurrent_runs, 1);
	assert_string_equal(sp->tasks[2].from, "b");
	expect_after(&sp->tasks[2], (size_t[]){ 0, 1 }, 2);
	struct files f = { .stop_at = -1 };
	assert_int_equal(job_spec_files(sp, collect, &f), 0);
	assert_int_equal(f.n, 1);
	job_spec_free(sp);

	text = "schedule: '@daily'\ntasks:\n  - {name: x, refresh: t}\n  - {name: y, refresh: u, after: x}\n";
	sp = parse_ok(text);
	assert_true(sp->has_schedule);
	assert_true(sp->cron.hours == 1 && sp->cron.minutes == 1);
	expect_after(&sp->tasks[1], (size_t[]){ 0 }, 1);
	job_spec_free(sp);

	struct mlfs_err err = { 0 };
	assert_int_equal(job_spec_parse("", 0, &sp, &err), -ENODATA);
	assert_null(sp);
	assert_int_equal(job_spec_parse("# nothing\n", 10, &sp, &err), -ENODATA);
	assert_string_equal(job_kind_name(JOB_SCORE), "score");
}

struct bad {
	const char *text;
	unsigned line, col;
	const char *word;
};

#define T1 "tasks:\n  - {name: a, refresh: t}\n"
#define TRAIN "tasks:\n  - {name: train, experiment: e, spec: train.yaml}\n"

static const struct bad bad_jobs[] = {
	{ "tasks:\n  - {name: a, refresh: t}\nbogus: 1\n", 3, 1, "unknown key 'bogus'" },
	{ "- a\n- b\n", 1, 1, "is a map" },
	{ "schedule: '@daily'\n", 1, 1, "tasks is missing" },
	{ "tasks: []\n", 1, 8, "empty list" },
	{ "tasks: {a: b}\n", 1, 8, "a list of tasks" },
	{ "tasks:\n  - features\n", 2, 5, "a task is a map" },
	{ "tasks:\n  - {refresh: t}\n", 2, 5, "needs a name" },
	{ "tasks:\n  - {name: a}\n", 2, 5, "has no kind" },
	{ "tasks:\n  - {name: a, refresh: t, spec: x.yaml}\n", 2, 27, "two kinds: refresh and spec" },
	{ "tasks:\n  - {name: a, refresh: t, experiment: e}\n", 2, 27, "refresh task 'a'" },
	{ "tasks:\n  - {name: a, refresh: t, colour: red}\n", 2, 27, "unknown key 'colour' in a task" },
	{ "tasks:\n  - {name: a b, refresh: t}\n", 2, 12, "not valid" },
	{ "tasks:\n  - {name: a, refresh: t}\n  - {name: a, refresh: u}\n", 3, 12, "used twice" },
	{ "tasks:\n  - {name: a, refresh: t/u}\n", 2, 24, "not a valid name" },
	{ "tasks:\n  - {name: a, refresh: t, after: [b]}\n", 2, 35, "no task 'b'" },
	{ "tasks:\n  - {name: a, refresh: t}\n  - {name: b, refresh: t, after: [a, a]}\n", 3, 38, "twice" },
	{ "tasks:\n  - {name: a, refresh: t, after: {x: y}}\n", 2, 34, "list" },
	/* cron and zones */
	{ "schedule: \"0 25 * * *\"\n" T1, 1, 11, "hour" },
	{ "schedule: \"0 2 * *\"\n" T1, 1, 11, "five" },
	{ "schedule: 0 2 * * * *\n" T1, 1, 11, "more than five" },
	{ "timezone: Mars/Olympus\n" T1, 1, 11, "unknown time zone" },
	{ "timezone: ../etc/passwd\n" T1, 1, 11, "not a zone name" },
	{ "timezone: Europe/Berlin_and_far_far_too_long_for_any_zone_name_anywhere_at_all_really\n" T1, 1, 11, "too long" },
	/* trigger and max_concurrent_runs */
	{ "trigger: {monitor: m, level: low}\n" T1, 1, 30, "high or medium" },
	{ "trigger: {level: high}\n" T1, 1, 10, "monitor is missing" },
	{ "trigger: drift\n" T1, 1, 10, "{monitor" },
	{ "trigger: {monitor: m, when: now}\n" T1, 1, 23, "unknown key 'when'" },
	{ "max_concurrent_runs: 0\n" T1, 1, 22, "outside 1..100" },
	{ "max_concurrent_runs: 101\n" T1, 1, 22, "outside 1..100" },
	{ "max_concurrent_runs: 1.5\n" T1, 1, 22, "whole" },
	{ "max_concurrent_runs: many\n" T1, 1, 22, "not a number" },
	/* train and tune */
	{ "tasks:\n  - {name: t, experiment: e, spec: train.yml}\n", 2, 36, "not a .yaml" },
	{ "tasks:\n  - {name: t, experiment: e, spec: job.yaml}\n", 2, 36, "job itself" },
	{ "tasks:\n  - {name: t, experiment: e, spec: ../train.yaml}\n", 2, 36, "not a valid file name" },
	{ "tasks:\n  - {name: t, experiment: e, tune: .yaml}\n", 2, 36, "not a valid file name" },
	{ "tasks:\n  - {name: t, spec: train.yaml}\n", 2, 5, "needs 'experiment'" },
	{ "tasks:\n  - {name: t, experiment: e, spec: x.yaml}\n  - {name: u, experiment: e, tune: x.yaml}\n", 3, 36,
	  "the train spec of task 't'" },
	/* validate */
	{ TRAIN "  - {name: v, candidate: train, against: m@p, metric: f2, after: train}\n", 3, 55, "metric: 'f2'" },
	{ TRAIN "  - {name: v, candidate: train, against: m@p, metric: rmse, min_gain: lots, after: train}\n", 3, 71,
	  "not a number" },
	{ TRAIN "  - {name: v, candidate: train, against: m, metric: rmse, after: train}\n", 3, 42, "MODEL@REF" },
	{ TRAIN "  - {name: v, candidate: train, against: m@, metric: rmse, after: train}\n", 3, 42, "MODEL@REF" },
	{ TRAIN "  - {name: v, candidate: train, metric: rmse, after: train}\n", 3, 5, "needs 'against'" },
	{ TRAIN "  - {name: v, candidate: train, against: m@p, after: train}\n", 3, 5, "needs 'metric'" },
	{ T1 "  - {name: v, candidate: a, against: m@p, metric: r2, after: a}\n", 3, 26, "'a' is a refresh task" },
	{ T1 "  - {name: v, candidate: nope, against: m@p, metric: r2}\n", 3, 26, "no task 'nope'" },
	{ TRAIN "  - {name: v, candidate: train, against: m@p, metric: r2}\n", 3, 26, "must run first" },
	/* promote */
	{ T1 "  - {name: p, promote: m, alias: Production, after: a}\n", 3, 5, "no train or tune task" },
	{ TRAIN "  - {name: p, promote: m, after: train}\n", 3, 5, "needs 'alias'" },
	{ TRAIN "  - {name: p, promote: m, alias: 'Pro duction', after: train}\n", 3, 34, "not a valid name" },
	{ TRAIN "  - {name: p, promote: m, alias: A, from: a, after: train}\n  - {name: a, refresh: t}\n", 3, 43,
	  "'a' is a refresh task" },
	{ TRAIN "  - {name: p, promote: m, alias: A, from: train}\n", 3, 43, "must run first" },
	{ TRAIN "  - {name: t2, experiment: e, spec: t2.yaml}\n"
		"  - {name: p, promote: m, alias: A, after: [train, t2]}\n", 4, 5, "'train' and 't2'" },
	/* score */
	{ "tasks:\n  - {name: s, score: m, input: i, output: o}\n", 2, 22, "MODEL@REF" },
	{ "tasks:\n  - {name: s, score: m@1, input: i}\n", 2, 5, "needs 'output'" },
	{ "tasks:\n  - {name: s, score: m@1, input: i, output: ~}\n", 2, 45, "output is empty" },
	/* the YAML itself */
	{ "tasks:\n  - {name: a, refresh: t}\n  - {name: a, refresh: t\n", 4, 1, "" },
	{ "tasks: &x [a]\nschedule: *x\n", 2, 11, "aliases" },
};

static void test_bad_jobs(void **state)
{
	int wrong = 0;
	for (size_t i = 0; i < sizeof(bad_jobs) / sizeof(bad_jobs[0]); i++) {
		const struct bad *b = &bad_jobs[i];
		struct job_spec *sp = NULL;
		struct mlfs_err err = { 0 };
		char want[64];
		int rc = job_spec_parse(b->text, strlen(b->text), &sp, &err);
		snprintf(want, sizeof(want), "line %u, column %u: ", b->line, b->col);
		if (rc != -EINVAL || sp || strncmp(err.msg, want, strlen(want)) || !strstr(err.msg, b->word)) {
			print_error("bad job %zu: rc %d, '%s'; want %s...%s\n--\n%s", i, rc, err.msg, want, b->word, b->text);
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
}

static void expect_cycle(const char *text, unsigned line, const char *cycle)
{
	struct job_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	char want[200];
	snprintf(want, sizeof(want), "line %u, column 5: tasks form a cycle: %s", line, cycle);
	assert_int_equal(job_spec_parse(text, strlen(text), &sp, &err), -EINVAL);
	assert_null(sp);
	assert_string_equal(err.msg, want);
	/* no later text undoes a cycle: refused while still arriving too */
	memset(&err, 0, sizeof(err));
	assert_int_equal(job_spec_check_partial(text, strlen(text), &err), -EINVAL);
	assert_string_equal(err.msg, want);
}

static void test_cycles(void **state)
{
	expect_cycle("tasks:\n  - {name: a, refresh: t, after: [b]}\n  - {name: b, refresh: u, after: [a]}\n",
		     2, "a -> b -> a");
	expect_cycle("tasks:\n  - {name: a, refresh: t, after: c}\n  - {name: b, refresh: u, after: a}\n"
		     "  - {name: c, refresh: v, after: b}\n", 2, "a -> b -> c -> a");
	expect_cycle("tasks:\n  - {name: a, refresh: t, after: a}\n", 2, "a -> a");
	/* d waits on the cycle but is not on it: the cycle is reported at
	 * its first task in the file, b */
	expect_cycle("tasks:\n  - {name: x, refresh: t}\n  - {name: d, refresh: t, after: [x, c]}\n"
		     "  - {name: b, refresh: t, after: [c, x]}\n  - {name: c, refresh: t, after: b}\n",
		     4, "b -> c -> b");
	/* the shortest way back */
	expect_cycle("tasks:\n  - {name: a, refresh: t, after: [c, b]}\n  - {name: b, refresh: t, after: c}\n"
		     "  - {name: c, refresh: t, after: a}\n", 2, "a -> c -> a");
}

static void test_diamond(void **state)
{
	struct job_spec *sp = parse_ok("tasks:\n  - {name: a, refresh: t}\n  - {name: b, refresh: t, after: a}\n"
				       "  - {name: c, refresh: t, after: a}\n  - {name: d, refresh: t, after: [b, c]}\n");
	expect_order(sp, (size_t[]){ 0, 1, 2, 3 }, 4);
	expect_after(&sp->tasks[3], (size_t[]){ 1, 2 }, 2);
	job_spec_free(sp);
	/* written bottom up: among the ready ones, file order (c before b) */
	sp = parse_ok("tasks:\n  - {name: d, refresh: t, after: [b, c]}\n  - {name: c, refresh: t, after: a}\n"
		      "  - {name: b, refresh: t, after: a}\n  - {name: a, refresh: t}\n");
	expect_order(sp, (size_t[]){ 3, 1, 2, 0 }, 4);
	job_spec_free(sp);
}

/* TEXT cut at every byte: parsing never crashes and says why when it
 * refuses; every cut of a valid job passes the check for text still
 * arriving.  Each cut is its own allocation, so ASan sees a read past it. */
static void cut_everywhere(const char *text)
{
	size_t len = strlen(text);
	for (size_t cut = 0; cut <= len; cut++) {
		char *part = malloc(cut ? cut : 1);
		memcpy(part, text, cut);
		struct job_spec *sp = NULL;
		struct mlfs_err err = { 0 };
		int rc = job_spec_parse(part, cut, &sp, &err);
		if (rc)
			assert_true(err.msg[0] != '\0');
		else
			job_spec_free(sp);
		memset(&err, 0, sizeof(err));
		if ((rc = job_spec_check_partial(part, cut, &err)))
			fail_msg("cut at %zu refused (%d): %s\n--\n%.*s", cut, rc, err.msg, (int)cut, part);
		free(part);
	}
}

static void test_partial(void **state)
{
	cut_everywhere(seed_job);
	cut_everywhere(six_kinds);

	struct mlfs_err err = { 0 };
	/* the middle of the last line: not refused, though whole it is wrong */
	const char *mid = T1 "max_concurrent_runs: 1000";
	assert_int_equal(job_spec_check_partial(mid, strlen(mid), &err), 0);
	mid = T1 "bogus";
	assert_int_equal(job_spec_check_partial(mid, strlen(mid), &err), 0);
	/* what later text may still supply */
	const char *ok[] = {
		"tasks:\n  - name: a\n",				/* its kind next */
		"tasks:\n  - name: a\n    refresh: t\n    after: [b]\n",	/* b later */
		"tasks:\n  - {name: v, candidate: t, against: m@p, metric: r2}\n",	/* t later */
		"tasks:\n  - name: p\n    promote: m\n",		/* alias next */
		"trigger:\n  level: high\n",			/* monitor next */
		"schedule:\n",
		"tasks:\n  -\n",
		"tasks:\n  - {name: v, candidate: train,\n",	/* a flow map still open */
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (job_spec_check_partial(ok[i], strlen(ok[i]), &err))
			fail_msg("partial %zu refused: %s\n--\n%s", i, err.msg, ok[i]);
	/* what complete lines already show */
	const struct bad bad[] = {
		{ T1 "bogus: 1\n", 3, 1, "unknown key" },
		{ "tasks:\n  - name: a\n  - name: b\n", 2, 5, "has no kind" },	/* a is complete */
		{ "tasks:\n  - {name: a, refresh: t, spec: x.yaml}\n", 2, 27, "two kinds" },
		{ "schedule: 0 2 * * * *\n", 1, 11, "more than five" },
		{ T1 "  - {name: v, candidate: a, against: m@p, metric: r2}\n", 3, 26, "refresh task" },
		{ T1 "  - name: b\n    refresh: t\n    after: [a, a]\n", 5, 16, "twice" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[64];
		memset(&err, 0, sizeof(err));
		int rc = job_spec_check_partial(bad[i].text, strlen(bad[i].text), &err);
		snprintf(want, sizeof(want), "line %u, column %u: ", bad[i].line, bad[i].col);
		if (rc != -EINVAL || strncmp(err.msg, want, strlen(want)) || !strstr(err.msg, bad[i].word))
			fail_msg("partial bad %zu: rc %d, '%s'; want %s...%s", i, rc, err.msg, want, bad[i].word);
	}
}

/* N refresh tasks, each after the one before (REVERSED: listed last
 * first). */
static char *chain(size_t n, bool reversed)
{
	struct buf b = { 0 };
	buf_puts(&b, "tasks:\n");
	for (size_t k = 0; k < n; k++) {
		size_t i = reversed ? n - 1 - k : k;
		buf_printf(&b, "  - {name: t%zu, refresh: table%zu", i, i);
		if (i)
			buf_printf(&b, ", after: t%zu", i - 1);
		buf_puts(&b, "}\n");
	}
	return buf_steal(&b, NULL);
}

static void test_task_limit(void **state)
{
	char *text = chain(JOB_MAX_TASKS, false);
	struct job_spec *sp = parse_ok(text);
	assert_int_equal(sp->ntasks, 64);
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(sp->order[i], i);
	job_spec_free(sp);
	free(text);

	text = chain(JOB_MAX_TASKS, true);
	sp = parse_ok(text);
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(sp->order[i], 63 - i);
	job_spec_free(sp);
	free(text);

	struct mlfs_err err = { 0 };
	text = chain(JOB_MAX_TASKS + 1, false);
	assert_int_equal(job_spec_parse(text, strlen(text), &sp, &err), -EINVAL);
	assert_null(sp);
	assert_string_equal(err.msg, "line 66, column 5: more than 64 tasks in one job");
	memset(&err, 0, sizeof(err));
	assert_int_equal(job_spec_check_partial(text, strlen(text), &err), -EINVAL);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_job),
		cmocka_unit_test(test_six_kinds),
		cmocka_unit_test(test_defaults_and_from),
		cmocka_unit_test(test_bad_jobs),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_diamond),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_task_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
