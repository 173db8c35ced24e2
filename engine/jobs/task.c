/* task.c - a job's tasks, one function per kind: refresh a feature table,
 * train or tune in a run named after the job run and task (registering
 * what the spec says), validate a candidate version against MODEL@REF on
 * the candidate's held-out rows, promote an alias, score a table.  Each
 * calls the engine module that owns the work; none touches the keys of
 * another module. */
#include "job_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "blob.h"
#include "clock.h"
#include "eval.h"
#include "forest/forest.h"
#include "frame.h"
#include "pipeline.h"
#include "registry.h"
#include "tracking.h"
#include "train.h"
#include "train_spec.h"
#include "tune.h"

/* ---- refresh ---- */

static int do_refresh(const struct task_ctx *tc, const struct job_task *t, char *out,
		      size_t outlen, struct mlfs_err *err)
{
	struct pipeline_opts opts = { 0 };
	int rc = pipeline_refresh(tc->s, t->target, &opts, err);
	if (!rc)
		snprintf(out, outlen, "features/%s", t->target);
	return rc;
}

/* ---- train, tune ---- */

struct progress_ctx {
	struct store *s;
	const char *exp, *run;
};

static void on_progress(void *ctx, const char *text)
{
	struct progress_ctx *pc = ctx;
	train_progress_set(pc->s, pc->exp, pc->run, text);
}

static int do_train(const struct task_ctx *tc, size_t ti, char *out, size_t outlen,
		    struct mlfs_err *err)
{
	const struct job_task *t = &tc->sp->tasks[ti];
	bool tune = t->kind == JOB_TUNE;
	struct buf text = { 0 };
	struct train_spec *sp = NULL;
	char run[NAMES_MAX + 1];
	uint64_t version = 0;
	snprintf(run, sizeof(run), "%s-%" PRIu64 "-%s", tc->job, tc->run, t->name);
	struct progress_ctx pc = { tc->s, t->experiment, run };
	struct train_watch w = { .on_progress = on_progress, .ctx = &pc, .cancel = tc->cancel };
	int rc = job_spec_file(tc->s, tc->job_id, t->target, &text);
	if (rc)
		return mlfs_fail(err, -EINVAL, "%s: no such file in the job's folder", t->target);
	if (!(rc = train_spec_parse(text.data, text.len, tune ? TRAIN_SPEC_TUNE : 0, &sp, err)))
		rc = train_spec_check(tc->s, sp, true, err);
	if (!rc && (rc = tracking_experiment_create(tc->s, t->experiment, NULL)) == -EEXIST)
		rc = 0;
	/* JOB-ID-TASK; a job deleted and made again counts its runs from 1
	 * once more: its later namesakes get .2, .3, ... */
	for (int n = 2; !rc; n++) {
		struct run_info ri;
		if (tracking_run_get(tc->s, t->experiment, run, &ri))
			break;
		if (n > 1000)
			rc = mlfs_fail(err, -EEXIST, "run '%s' exists", run);
		else
			snprintf(run, sizeof(run), "%s-%" PRIu64 "-%s.%d", tc->job, tc->run, t->name, n);
	}
	if (!rc)
		rc = tracking_run_create(tc->s, t->experiment, run, clock_now_ms(), tc->uid, tc->gid,
					 0, err);	/* its artifacts root in the same batch */
	if (!rc)
		rc = train_begin(tc->s, t->experiment, run, tune ? "tune" : "train", text.data,
				 text.len, err);
	if (!rc)
		rc = tune ? tune_run(tc->s, t->experiment, run, sp, &w, err)
			  : train_run(tc->s, t->experiment, run, sp, NULL, &w, NULL, err);
	train_progress_set(tc->s, t->experiment, run, NULL);
	if (!rc && sp->register_model)
		rc = registry_register_trained(tc->s, sp->register_model, t->experiment, run, tune,
					       tc->uid, tc->gid, &version, err);
	if (!rc) {
		struct task_state *ts = &tc->rec->tasks[ti];
		pthread_mutex_lock(tc->rec_lock);
		snprintf(ts->res_exp, sizeof(ts->res_exp), "%s", t->experiment);
		snprintf(ts->res_run, sizeof(ts->res_run), "%s", run);
		snprintf(ts->res_model, sizeof(ts->res_model), "%s", sp->register_model ? sp->register_model : "");
		ts->res_version = version;
		pthread_mutex_unlock(tc->rec_lock);
		if (version)
			snprintf(out, outlen, "experiments/%s/runs/%s %s@%" PRIu64, t->experiment, run,
				 sp->register_model, version);
		else
			snprintf(out, outlen, "experiments/%s/runs/%s", t->experiment, run);
	}
	train_spec_free(sp);
	buf_free(&text);
	return rc;
}

/* The train or tune task named FROM: its state (copied). */
static int upstream(const struct task_ctx *tc, const char *from, struct task_state *out,
		    struct mlfs_err *err)
{
	for (size_t i = 0; i < tc->sp->ntasks; i++)
		if (!strcmp(tc->sp->tasks[i].name, from)) {
			pthread_mutex_lock(tc->rec_lock);
			*out = tc->rec->tasks[i];
			pthread_mutex_unlock(tc->rec_lock);
			if (!out->res_version)
				return mlfs_fail(err, -EINVAL, "task '%s' registered no version (its spec has no register:)", from);
			return 0;
		}
	return mlfs_fail(err, -EINVAL, "no task '%s'", from);
}

/* ---- validate ---- */

/* A line in the run's log. */
static void tc_log(const struct task_ctx *tc, const char *task, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(tc->rec_lock);
	run_rec_log(tc->rec, task, "%s", msg);
	pthread_mutex_unlock(tc->rec_lock);
}

/* The test rows of version V's training_set.csv (the run's, pinned with
 * the version) as a frame. */
static int test_rows(struct store *s, const char *model, uint64_t v, struct frame **out,
		     struct mlfs_err *err)
{
	struct registry_version rv;
	struct blob_stat st;
	struct buf all = { 0 }, test = { 0 };
	int rc = registry_version_get(s, model, v, &rv);
	if (!rc && (blob_lookup(s, rv.run_id, TRAIN_DIR, &st) ||
		    blob_lookup(s, st.id, "training_set.csv", &st)))
		rc = mlfs_fail(err, -EINVAL, "%s@%" PRIu64 " has no training_set.csv", model, v);
	if (!rc) {
		buf_reserve(&all, st.size + 1);
		long n = blob_read(s, st.id, 0, all.data, st.size, err);
		rc = n < 0 ? (int)n : 0;
		all.len = n > 0 ? (size_t)n : 0;
	}
	/* the header, then the lines whose last field is "test" */
	size_t rows = 0;
	for (size_t at = 0, line = 0; !rc && at < all.len; line++) {
		const char *nl = memchr(all.data + at, '\n', all.len - at);
		size_t end = nl ? (size_t)(nl - all.data) : all.len;
		if (!line || (end - at >= 5 && !memcmp(all.data + end - 5, ",test", 5))) {
			/* drop the split column: ",test" / ",split" */
			const char *comma = NULL;
			for (size_t i = end; i > at; i--)
				if (all.data[i - 1] == ',') {
					comma = all.data + i - 1;
					break;
				}
			buf_append(&test, all.data + at, comma ? (size_t)(comma - all.data) - at : end - at);
			buf_putc(&test, '\n');
			rows += line > 0;
		}
		at = end + 1;
	}
	if (!rc && !rows)
		rc = mlfs_fail(err, -EINVAL, "%s@%" PRIu64 " has no test rows (split: test_size 0)", model, v);
	if (!rc)
		rc = frame_load_csv_buf(test.data, test.len, NULL, out, err);
	buf_free(&all);
	buf_free(&test);
	return rc;
}

static bool lower_is_better(const char *metric)
{
	return !strcmp(metric, "log_loss") || !strcmp(metric, "rmse") || !strcmp(metric, "mae");
}

/* METRIC of version V of MODEL on frame F. */
static int score_version(struct store *s, const char *model, uint64_t v, const struct frame *f,
			 const char *metric, double *out, struct mlfs_err *err)
{
	struct registry_version rv;
	struct buf b = { 0 };
	struct forest *m = NULL;
	struct eval_report rep = { 0 };
	size_t n = frame_nrows(f);
	double *p = NULL;
	int rc = registry_version_get(s, model, v, &rv);
	if (!rc)
		rc = registry_version_file(s, &rv, "model.forest", &b, err);
	if (!rc)
		rc = forest_load(b.data, b.len, &m, err);
	if (!rc) {
		size_t k = forest_nout(m);
		if (!(p = malloc((n * k + 1) * sizeof(*p))))
			mlfs_oom();
		rc = forest_predict(m, f, 1, p, err);
		if (!rc && forest_is_classifier(m)) {
			int32_t *y = malloc((n + 1) * sizeof(*y));
			if (!y)
				mlfs_oom();
			rc = forest_encode_labels(m, f, forest_label(m), y, NULL, err);
			if (!rc)
				rc = eval_classification(y, p, n, k, &rep, err);
			free(y);
		} else if (!rc) {
			double *y = malloc((n + 1) * sizeof(*y));
			if (!y)
				mlfs_oom();
			rc = forest_encode_labels(m, f, forest_label(m), NULL, y, err);
			if (!rc)
				rc = eval_regression(y, p, n, &rep, err);
			free(y);
		}
	}
	if (!rc) {
		bool binary = rep.k == 2;
		double v2 = !strcmp(metric, "accuracy") ? rep.accuracy :
			    !strcmp(metric, "precision") ? (binary ? rep.precision : rep.precision_macro) :
			    !strcmp(metric, "recall") ? (binary ? rep.recall : rep.recall_macro) :
			    !strcmp(metric, "f1_score") ? (binary ? rep.f1 : rep.f1_macro) :
			    !strcmp(metric, "roc_auc") ? rep.roc_auc :
			    !strcmp(metric, "log_loss") ? rep.log_loss :
			    !strcmp(metric, "rmse") ? rep.rmse :
			    !strcmp(metric, "mae") ? rep.mae : rep.r2;
		if (rep.classification != (strcmp(metric, "rmse") && strcmp(metric, "mae") && strcmp(metric, "r2")))
			rc = mlfs_fail(err, -EINVAL, "metric %s does not apply to %s@%" PRIu64 " (a %s)", metric,
				       model, v, rep.classification ? "classifier" : "regressor");
		*out = v2;
	}
	free(p);
	forest_free(m);
	buf_free(&b);
	return rc;
}

static int do_validate(const struct task_ctx *tc, const struct job_task *t, char *out,
		       size_t outlen, struct mlfs_err *err)
{
	struct task_state cand;
	struct frame *f = NULL;
	char model[NAMES_MAX + 1];
	const char *at = strchr(t->against, '@');
	uint64_t base_v;
	double mc, mb;
	int rc = upstream(tc, t->target, &cand, err);
	if (rc)
		return rc;
	snprintf(model, sizeof(model), "%.*s", (int)(at - t->against), t->against);
	if (registry_resolve(tc->s, model, at + 1, &base_v, NULL)) {
		snprintf(out, outlen, "no %s yet: the first deployment passes", t->against);
		return 0;
	}
	rc = test_rows(tc->s, cand.res_model, cand.res_version, &f, err);
	if (!rc)
		rc = score_version(tc->s, cand.res_model, cand.res_version, f, t->metric, &mc, err);
	if (!rc)
		rc = score_version(tc->s, model, base_v, f, t->metric, &mb, err);
	frame_free(f);
	if (rc)
		return rc;
	double gain = lower_is_better(t->metric) ? mb - mc : mc - mb;
	snprintf(out, outlen, "%s %.6g against %.6g (gain %.6g)", t->metric, mc, mb, gain);
	tc_log(tc, t->name, "%s@%" PRIu64 " against %s@%" PRIu64 ": %s", cand.res_model,
	       cand.res_version, model, base_v, out);
	if (!(gain >= t->min_gain))
		return mlfs_fail(err, -EINVAL, "%s: the gain is below min_gain %g", out, t->min_gain);
	return 0;
}

/* ---- promote, score ---- */

static int do_promote(const struct task_ctx *tc, const struct job_task *t, char *out,
		      size_t outlen, struct mlfs_err *err)
{
	struct task_state from;
	int rc = upstream(tc, t->from, &from, err);
	if (rc)
		return rc;
	if (strcmp(from.res_model, t->target))
		return mlfs_fail(err, -EINVAL, "task '%s' registered %s@%" PRIu64 ", not a version of %s",
				 t->from, from.res_model, from.res_version, t->target);
	char by[2 * NAMES_MAX + 32];
	snprintf(by, sizeof(by), "job:%s/%" PRIu64, tc->job, tc->run);
	rc = registry_alias_set_by(tc->s, t->target, t->alias, from.res_version, tc->uid, by, err);
	if (!rc)
		snprintf(out, outlen, "%s@%s -> %" PRIu64, t->target, t->alias, from.res_version);
	return rc;
}

static int do_score(const struct task_ctx *tc, const struct job_task *t, char *out,
		    size_t outlen, struct mlfs_err *err)
{
	char model[NAMES_MAX + 1];
	const char *at = strchr(t->target, '@');
	uint64_t v, rows = 0;
	snprintf(model, sizeof(model), "%.*s", (int)(at - t->target), t->target);
	int rc = registry_resolve(tc->s, model, at + 1, &v, err);
	if (!rc)
		rc = batch_score_table(tc->s, model, v, t->input, t->output, &rows, err);
	if (!rc)
		snprintf(out, outlen, "tables/%s: %" PRIu64 " rows by %s@%" PRIu64, t->output, rows, model, v);
	return rc;
}

int task_execute(const struct task_ctx *tc, size_t t, char *output, size_t outlen,
		 struct mlfs_err *err)
{
	const struct job_task *task = &tc->sp->tasks[t];
	if (*tc->cancel)
		return -ECANCELED;
	switch (task->kind) {
	case JOB_REFRESH:
		return do_refresh(tc, task, output, outlen, err);
	case JOB_TRAIN:
	case JOB_TUNE:
		return do_train(tc, t, output, outlen, err);
	case JOB_VALIDATE:
		return do_validate(tc, task, output, outlen, err);
	case JOB_PROMOTE:
		return do_promote(tc, task, output, outlen, err);
	case JOB_SCORE:
		return do_score(tc, task, output, outlen, err);
	}
	return mlfs_fail(err, -EINVAL, "unknown task kind");
}
