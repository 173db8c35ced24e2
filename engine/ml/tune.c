/* tune.c - the search of tune.h: rounds of PARALLELISM trials, each a
 * child run trained on the one shared training set with the parameters
 * TPE (or random search) suggests from the trials finished before the
 * round; then the parent's summary.  A trial that fails is FAILED and
 * left out of the model; the search goes on. */
#include "tune.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "par.h"
#include "blob.h"
#include "tpe.h"
#include "tracking.h"
#include "train_int.h"

struct trial {
	uint32_t index;
	char name[160];
	double *x;			/* the point, internal scale */
	struct forest_params params;
	struct train_result res;
	int rc;
	double loss;			/* NAN when it failed */
	struct mlfs_err err;
};

struct search {
	struct store *s;
	const char *exp, *run;
	const struct train_spec *sp;
	const struct train_watch *watch;
	struct train_data data;
	const char *metric;
	bool maximize;
	struct run_info parent;
	struct trial *trials;
	struct tpe_trial *done;
	size_t ndone;
	long best;			/* index into trials, -1 */
	uint32_t started;
};

void tune_trial_name(const char *run, uint32_t t, char *out, size_t n)
{
	snprintf(out, n, "%s-%03u", run, t + 1);
}

static void report(const struct search *q)
{
	char text[256];
	if (!q->watch || !q->watch->on_progress)
		return;
	if (q->best < 0)
		snprintf(text, sizeof(text), "trial %u/%u", q->started, q->sp->max_evals);
	else
		snprintf(text, sizeof(text), "trial %u/%u, best %s=%.6g (%s)", q->started,
			 q->sp->max_evals, q->metric,
			 train_result_metric(&q->trials[q->best].res, q->metric),
			 q->trials[q->best].name);
	q->watch->on_progress(q->watch->ctx, text);
}

/* The child run of trial T, with its parameters chosen. */
static int trial_prepare(struct search *q, struct trial *t, struct mlfs_err *err)
{
	const struct train_spec *sp = q->sp;
	char text[128];
	int rc;

	tune_trial_name(q->run, t->index, t->name, sizeof(t->name));
	tpe_suggest(sp->space, sp->nspace, sp->algo, sp->seed, t->index, q->done, q->ndone, t->x);
	t->params = sp->params;
	/* The run and its artifacts root in one batch (artifacts 0). */
	if ((rc = tracking_run_create(q->s, q->exp, t->name, clock_now_ms(), q->parent.uid,
				      q->parent.gid, 0, err)))
		return rc;
	if (q->watch && q->watch->on_child)
		q->watch->on_child(q->watch->ctx, t->name);
	if ((rc = tracking_run_set_parent(q->s, q->exp, t->name, q->run, err)) ||
	    (rc = train_mark(q->s, q->exp, t->name, "trial", err)))
		return rc;
	for (size_t j = 0; j < sp->nspace; j++) {
		tpe_value_text(&sp->space[j], t->x[j], text, sizeof(text));
		if ((rc = forest_params_set(&t->params, sp->space[j].param, text, err)))
			return rc;
	}
	return 0;
}

/* One round on the pool: its trials that were prepared. */
struct round {
	struct search *q;
	struct trial **ready;
};

static void trial_train(void *arg, size_t i)
{
	struct round *r = arg;
	struct search *q = r->q;
	struct trial *t = r->ready[i];
	struct train_watch w = {
		.cancel = q->watch ? q->watch->cancel : NULL,
		.n_threads = q->watch ? q->watch->n_threads : 0,
	};
	t->rc = train_run_data(q->s, q->exp, t->name, q->sp, &t->params, &q->data, &w,
			       &t->res, &t->err);
}

/* Prepare, run and collect one round of N trials from trial FIRST.  The
 * trials run at once on the shared pool, one a thread, each training its
 * forest serially there (a nested par_for); a round of one trial runs in
 * this thread and its forest takes the whole pool. */
static void run_round(struct search *q, uint32_t first, uint32_t n)
{
	struct trial *ready[64];
	struct round r = { q, ready };
	size_t nready = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct trial *t = &q->trials[first + i];
		t->index = first + i;
		t->loss = NAN;
		if ((t->rc = trial_prepare(q, t, &t->err))) {
			if (tracking_run_get(q->s, q->exp, t->name, &(struct run_info){ 0 }) == 0)
				train_end(q->s, q->exp, t->name, "FAILED", t->err.msg);
			continue;
		}
		ready[nready++] = t;
	}
	par_for(par_default(), nready, trial_train, &r);
	for (uint32_t i = 0; i < n; i++) {
		struct trial *t = &q->trials[first + i];
		double v = t->rc ? NAN : train_result_metric(&t->res, q->metric);
		if (isnan(v))
			continue;
		t->loss = q->maximize ? -v : v;
		q->done[q->ndone++] = (struct tpe_trial){ t->x, t->loss };
		if (q->best < 0 || t->loss < q->trials[q->best].loss)
			q->best = (long)(first + i);
	}
	q->started = first + n;
	report(q);
}

struct param_copy {
	struct search *q;
	const char *from;
	int rc;
	struct mlfs_err *err;
};

static int copy_param(void *ctx, const char *k)
{
	struct param_copy *c = ctx;
	struct buf v = { 0 };
	if (tracking_value_get(c->q->s, c->q->exp, c->from, "params", k, &v) == 0)
		c->rc = tracking_value_set(c->q->s, c->q->exp, c->q->run, "params", k,
					   v.data, v.len, true, c->err);
	buf_free(&v);
	return c->rc;
}

/* The parent's summary: the best trial's params, best_METRIC, tags. */
static int summarize(struct search *q, struct mlfs_err *err)
{
	const struct trial *b = &q->trials[q->best];
	struct buf v = { 0 };
	char key[64], text[32];
	int rc = 0;

	struct param_copy c = { q, b->name, 0, err };
	rc = tracking_value_list(q->s, q->exp, b->name, "params", copy_param, &c);
	if (!rc)
		rc = c.rc;
	snprintf(key, sizeof(key), "best_%s", q->metric);
	buf_put_double(&v, train_result_metric(&b->res, q->metric));
	buf_putc(&v, '\n');
	if (!rc)
		rc = tracking_metric_log(q->s, q->exp, q->run, key, v.data, v.len, clock_now_ms(), err);
	buf_free(&v);
	snprintf(text, sizeof(text), "%u", q->started);
	if (!rc)
		rc = tracking_value_set(q->s, q->exp, q->run, "tags", "best_run", b->name, strlen(b->name), true, err);
	if (!rc)
		rc = tracking_value_set(q->s, q->exp, q->run, "tags", "trials", text, strlen(text), true, err);
	if (!rc)
		rc = tracking_value_set(q->s, q->exp, q->run, "tags", "mlflow.source.type", "mlfs", 4, true, err);
	return rc;
}

static int search_all(struct search *q, struct mlfs_err *why)
{
	const struct train_spec *sp = q->sp;
	q->trials = calloc(sp->max_evals, sizeof(*q->trials));
	q->done = calloc(sp->max_evals, sizeof(*q->done));
	double *points = calloc((size_t)sp->max_evals * sp->nspace + 1, sizeof(double));
	if (!q->trials || !q->done || !points)
		mlfs_oom();
	for (uint32_t t = 0; t < sp->max_evals; t++)
		q->trials[t].x = points + (size_t)t * sp->nspace;
	q->best = -1;
	report(q);
	for (uint32_t t = 0; t < sp->max_evals;) {
		if (q->watch && q->watch->cancel && *q->watch->cancel)
			break;
		uint32_t n = sp->max_evals - t < sp->parallelism ? sp->max_evals - t : sp->parallelism;
		run_round(q, t, n);
		t += n;
	}
	int rc = 0;
	if (q->watch && q->watch->cancel && *q->watch->cancel)
		rc = -ECANCELED;
	else if (q->best < 0) {
		const struct trial *last = &q->trials[q->started ? q->started - 1 : 0];
		rc = mlfs_fail(why, -EINVAL, "no trial finished with %s%s%s", q->metric,
			       last->err.msg[0] ? ": " : "", last->err.msg);
	} else {
		rc = summarize(q, why);
	}
	free(points);
	free(q->trials);
	free(q->done);
	return rc;
}

int tune_run(struct store *s, const char *exp, const char *run,
	     const struct train_spec *sp, const struct train_watch *watch,
	     struct mlfs_err *err)
{
	struct search q = { .s = s, .exp = exp, .run = run, .sp = sp, .watch = watch };
	struct mlfs_err why = { 0 };
	int rc = tracking_run_get(s, exp, run, &q.parent);
	if (rc)
		return mlfs_fail(err, rc, "the run is gone");
	if (watch && watch->on_progress)
		watch->on_progress(watch->ctx, "loading training set");
	rc = train_data_load(s, sp, &q.data, &why);
	if (!rc) {
		q.metric = train_spec_metric(sp, q.data.classify, &q.maximize);
		bool regression_metric = !strcmp(q.metric, "rmse") || !strcmp(q.metric, "mae") ||
					 !strcmp(q.metric, "r2");
		if (regression_metric == q.data.classify)
			rc = mlfs_fail(&why, -EINVAL, "metric %s is not logged by a %s", q.metric,
				       q.data.classify ? "classifier" : "regressor");
	}
	if (!rc)
		rc = search_all(&q, &why);
	train_data_free(&q.data);
	if (rc == -ECANCELED) {
		train_end(s, exp, run, "KILLED", NULL);
		return mlfs_fail(err, rc, "stopped: the search was KILLED");
	}
	if (rc) {
		train_end(s, exp, run, "FAILED", why.msg);
		return mlfs_fail(err, rc, "%s", why.msg);
	}
	return train_end(s, exp, run, "FINISHED", NULL);
}
