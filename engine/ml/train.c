/* train.c - one training from start to end state (see train.h): load and
 * split, fit with progress and cancel, evaluate on the test rows, log
 * params, metrics and tags through tracking.h, write the files
 * (train_files.c), and end the run.  The run's states:
 *
 *   RUNNING --train_begin--> RUNNING + tag mlfs.training (queued, training)
 *     --train_run ok-->        FINISHED
 *     --train_run fails-->     FAILED, tag mlfs.error = the reason
 *     --cancel-->              KILLED
 *     --daemon dies-->         (RUNNING) --train_recover--> FAILED "interrupted"
 *                                        (or, while other hosts live, the
 *                                        leader's train_sweep_dead)
 */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "blob.h"
#include "eval.h"
#include "names.h"
#include "tracking.h"
#include "train_int.h"

#define TAG_TRAINING "mlfs.training"
#define TAG_ERROR "mlfs.error"

double train_result_metric(const struct train_result *r, const char *name)
{
	for (size_t i = 0; i < r->nmetrics; i++)
		if (!strcmp(r->names[i], name))
			return r->values[i];
	return NAN;
}

static void progress(const struct train_watch *w, const char *text)
{
	if (w && w->on_progress)
		w->on_progress(w->ctx, text);
}

static bool cancelled(const struct train_watch *w)
{
	return w && w->cancel && *w->cancel;
}

static void on_tree(void *ctx, uint32_t done, uint32_t total)
{
	char text[48];
	snprintf(text, sizeof(text), "tree %u/%u", done, total);
	progress(ctx, text);
}

static int set_tag(struct store *s, const char *exp, const char *run,
		   const char *key, const char *value, struct mlfs_err *err)
{
	return tracking_value_set(s, exp, run, "tags", key, value, strlen(value), true, err);
}

int train_mark(struct store *s, const char *exp, const char *run, const char *kind,
	       struct mlfs_err *err)
{
	/* the owner first: a tagged run with no owner would be left to a
	 * lone mount's recovery */
	const char *owner = store_writer_name(s);
	int rc = owner[0] ? tracking_run_set_owner(s, exp, run, owner, err) : 0;
	return rc ? rc : set_tag(s, exp, run, TAG_TRAINING, kind, err);
}

int train_begin(struct store *s, const char *exp, const char *run,
		const char *kind, const char *spec, size_t len,
		struct mlfs_err *err)
{
	struct run_info ri;
	struct buf old = { 0 };
	int rc = tracking_run_get(s, exp, run, &ri);
	if (rc)
		return mlfs_fail(err, rc, "no run '%s' in experiment '%s'", run, exp);
	if (ri.status != RUN_RUNNING)
		return mlfs_fail(err, -EBUSY, "the run is %s: make a new run to train",
				 run_status_name(ri.status));
	if (tracking_value_get(s, exp, run, "tags", TAG_TRAINING, &old) == 0) {
		buf_free(&old);
		return mlfs_fail(err, -EBUSY, "the run already took a training spec: make a new run");
	}
	char file[32];
	snprintf(file, sizeof(file), TRAIN_DIR "/%s.yaml", kind);
	rc = train_put_artifact(s, ri.artifacts, ri.uid, ri.gid, file, spec, len, err);
	if (!rc)
		rc = train_mark(s, exp, run, kind, err);
	return rc;
}

int train_end(struct store *s, const char *exp, const char *run,
	      const char *status, const char *why)
{
	struct run_info ri;
	/* A run someone already ended (KILLED through its status file) keeps
	 * the status they gave it. */
	if (tracking_run_get(s, exp, run, &ri) || ri.status != RUN_RUNNING)
		return 0;
	if (why && *why)
		set_tag(s, exp, run, TAG_ERROR, why, NULL);
	return tracking_run_set_status(s, exp, run, status, strlen(status), clock_now_ms(),
				       true, NULL);
}

int train_error_text(struct store *s, const char *exp, const char *run,
		     struct buf *out)
{
	int rc = tracking_value_get(s, exp, run, "tags", TAG_ERROR, out);
	if (!rc)
		buf_putc(out, '\n');
	return rc;
}

int train_spec_text(struct store *s, const char *exp, const char *run,
		    const char *kind, struct buf *out)
{
	struct run_info ri;
	struct blob_stat dir, st;
	char file[32];
	int rc = tracking_run_get(s, exp, run, &ri);
	snprintf(file, sizeof(file), "%s.yaml", kind);
	if (!rc)
		rc = blob_lookup(s, ri.artifacts, TRAIN_DIR, &dir);
	if (!rc)
		rc = blob_lookup(s, dir.id, file, &st);
	if (rc)
		return rc;
	buf_reset(out);
	buf_reserve(out, st.size + 1);
	long n = blob_read(s, st.id, 0, out->data, st.size, NULL);
	if (n < 0)
		return (int)n;
	out->len = (size_t)n;
	out->data[n] = '\0';
	return 0;
}

/* ---- logging into the run ---- */

static int log_param(struct store *s, const char *exp, const char *run,
		     const char *key, const char *value, struct mlfs_err *err)
{
	return tracking_value_set(s, exp, run, "params", key, value, strlen(value), true, err);
}

static int log_params(struct store *s, const char *exp, const char *run,
		      const struct train_spec *sp, const struct forest_params *p,
		      const struct train_data *d, struct mlfs_err *err)
{
	struct buf lines = { 0 };
	char v[64];
	int rc = forest_params_format(p, &lines);
	for (char *line = lines.data, *next; !rc && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *space = strchr(line, ' ');
		if (!space)
			continue;
		*space = '\0';
		if (strcmp(line, "n_jobs"))
			rc = log_param(s, exp, run, line, space + 1, err);
	}
	buf_free(&lines);
	struct { const char *k; const char *v; } extra[] = {
		{ "model_type", d->classify ? "RandomForestClassifier" : "RandomForestRegressor" },
		{ "label", sp->label },
		{ "labels_table", sp->labels },
	};
	for (size_t i = 0; !rc && i < sizeof(extra) / sizeof(*extra); i++)
		rc = log_param(s, exp, run, extra[i].k, extra[i].v, err);
	const struct { const char *k; size_t n; } counts[] = {
		{ "n_train", frame_nrows(d->train) },
		{ "n_test", frame_nrows(d->test) },
		{ "n_features", frame_ncols(d->train) - 1 },
	};
	for (size_t i = 0; !rc && i < sizeof(counts) / sizeof(*counts); i++) {
		snprintf(v, sizeof(v), "%zu", counts[i].n);
		rc = log_param(s, exp, run, counts[i].k, v, err);
	}
	if (!rc && sp->test)
		rc = log_param(s, exp, run, "test_table", sp->test, err);
	if (!rc && !sp->test) {
		snprintf(v, sizeof(v), "%.17g", sp->test_size);
		rc = log_param(s, exp, run, "test_size", v, err);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)sp->split_seed);
		if (!rc)
			rc = log_param(s, exp, run, "split_seed", v, err);
	}
	return rc;
}

static void result_add(struct train_result *r, const char *name, double v)
{
	if (r->nmetrics < sizeof(r->values) / sizeof(*r->values)) {
		snprintf(r->names[r->nmetrics], sizeof(r->names[0]), "%s", name);
		r->values[r->nmetrics++] = v;
	}
}

static int log_metrics(struct store *s, const char *exp, const char *run,
		       const struct train_result *r, struct mlfs_err *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < r->nmetrics; i++) {
		struct buf line = { 0 };
		if (isnan(r->values[i]))
			continue;	/* e.g. roc_auc with one class in the test rows */
		buf_put_double(&line, r->values[i]);
		buf_putc(&line, '\n');
		rc = tracking_metric_log(s, exp, run, r->names[i], line.data, line.len, clock_now_ms(), err);
		buf_free(&line);
	}
	return rc;
}

/* ---- evaluation ---- */

static int evaluate(const struct forest *m, const struct train_data *d,
		    const char *label, unsigned threads, struct train_result *r,
		    uint64_t **confusion, struct mlfs_err *err)
{
	size_t n = frame_nrows(d->test), k = forest_nout(m);
	double *out = malloc(n * k * sizeof(*out) + 1);
	struct eval_report rep;
	int rc;

	if (!out)
		mlfs_oom();
	memset(r, 0, sizeof(*r));
	r->classify = forest_is_classifier(m);
	if ((rc = forest_predict(m, d->test, threads, out, err)))
		goto out;
	if (r->classify) {
		int32_t *y = malloc(n * sizeof(*y) + 1);
		*confusion = calloc(k * k, sizeof(**confusion));
		if (!y || !*confusion)
			mlfs_oom();
		rc = forest_encode_labels(m, d->test, label, y, NULL, err);
		if (!rc)
			rc = eval_classification(y, out, n, k, &rep, err);
		if (!rc) {
			int32_t *pred = malloc(n * sizeof(*pred) + 1);
			if (!pred)
				mlfs_oom();
			for (size_t i = 0; i < n; i++)
				pred[i] = (int32_t)forest_argmax(out + i * k, k);
			rc = eval_confusion(y, pred, n, k, *confusion, err);
			free(pred);
		}
		free(y);
		if (rc)
			goto out;
		bool binary = k == 2;
		result_add(r, "accuracy", rep.accuracy);
		result_add(r, "precision", binary ? rep.precision : rep.precision_macro);
		result_add(r, "recall", binary ? rep.recall : rep.recall_macro);
		result_add(r, "f1_score", binary ? rep.f1 : rep.f1_macro);
		result_add(r, "roc_auc", rep.roc_auc);
		result_add(r, "log_loss", rep.log_loss);
	} else {
		double *y = malloc(n * sizeof(*y) + 1);
		if (!y)
			mlfs_oom();
		rc = forest_encode_labels(m, d->test, label, NULL, y, err);
		if (!rc)
			rc = eval_regression(y, out, n, &rep, err);
		free(y);
		if (rc)
			goto out;
		result_add(r, "rmse", rep.rmse);
		result_add(r, "mae", rep.mae);
		result_add(r, "r2", rep.r2);
	}
	double oob;
	if (forest_oob_score(m, &oob) == 0)
		result_add(r, "oob_score", oob);
out:
	free(out);
	return rc;
}

/* ---- the run ---- */

static int fit(const struct train_data *d, const struct train_spec *sp,
	       const struct forest_params *params, const struct train_watch *w,
	       struct forest **m, struct mlfs_err *err)
{
	struct forest_params p = params ? *params : sp->params;
	p.n_jobs = w ? w->n_threads : 0;
	/* The out-of-bag score is logged whenever there is a bag. */
	p.oob_score = p.bootstrap;
	struct forest_watch fw = {
		.on_tree = on_tree, .ctx = (void *)w, .cancel = w ? w->cancel : NULL,
	};
	progress(w, "binning");
	return forest_fit_watched(d->train, sp->label, &p, &fw, m, err);
}

/* Fit, evaluate and record one training of D in EXP/RUN. */
static int train_steps(struct store *s, const char *exp, const char *run,
		       const struct train_spec *sp, const struct forest_params *params,
		       const struct train_data *d, const struct train_watch *w,
		       struct train_result *res, struct mlfs_err *err)
{
	struct forest *m = NULL;
	uint64_t *confusion = NULL;
	struct run_info ri;
	int rc;

	if ((rc = tracking_run_get(s, exp, run, &ri)))
		return mlfs_fail(err, rc, "the run is gone");
	if (cancelled(w))
		return -ECANCELED;
	rc = fit(d, sp, params, w, &m, err);
	if (!rc && cancelled(w))
		rc = -ECANCELED;
	if (!rc) {
		progress(w, "evaluating");
		rc = evaluate(m, d, sp->label, w ? w->n_threads : 0, res, &confusion, err);
	}
	if (!rc) {
		progress(w, "saving");
		rc = log_params(s, exp, run, sp, forest_params(m), d, err);
	}
	if (!rc)
		rc = log_metrics(s, exp, run, res, err);
	if (!rc)
		rc = set_tag(s, exp, run, "mlflow.source.type", "mlfs", err);
	for (size_t i = 0; !rc && i < sp->ntags; i++)
		rc = set_tag(s, exp, run, sp->tag_keys[i], sp->tag_values[i], err);
	if (!rc)
		rc = train_write_files(s, ri.artifacts, ri.uid, ri.gid, sp, d, m, confusion, err);
	free(confusion);
	forest_free(m);
	return rc;
}

/* End the run by RC: FINISHED, KILLED or FAILED with the reason. */
static int end_by(struct store *s, const char *exp, const char *run, int rc,
		  struct mlfs_err *why, struct mlfs_err *err)
{
	if (rc == -ECANCELED) {
		train_end(s, exp, run, "KILLED", NULL);
		return mlfs_fail(err, rc, "stopped: the run was KILLED");
	}
	if (rc) {
		if (!why->msg[0])
			snprintf(why->msg, sizeof(why->msg), "%s", strerror(-rc));
		train_end(s, exp, run, "FAILED", why->msg);
		return mlfs_fail(err, rc, "%s", why->msg);
	}
	return train_end(s, exp, run, "FINISHED", NULL);
}

int train_run_data(struct store *s, const char *exp, const char *run,
		   const struct train_spec *sp, const struct forest_params *params,
		   const struct train_data *d, const struct train_watch *watch,
		   struct train_result *result, struct mlfs_err *err)
{
	struct train_result scratch;
	struct mlfs_err why = { 0 };
	int rc = train_steps(s, exp, run, sp, params, d, watch,
			     result ? result : &scratch, &why);
	return end_by(s, exp, run, rc, &why, err);
}

int train_run(struct store *s, const char *exp, const char *run,
	      const struct train_spec *sp, const struct forest_params *params,
	      const struct train_watch *watch, struct train_result *result,
	      struct mlfs_err *err)
{
	struct train_data d;
	struct mlfs_err why = { 0 };
	progress(watch, "loading training set");
	int rc = train_data_load(s, sp, &d, &why);
	if (rc)
		return end_by(s, exp, run, rc, &why, err);
	rc = train_run_data(s, exp, run, sp, params, &d, watch, result, err);
	train_data_free(&d);
	return rc;
}

/* ---- after a restart, or a dead host ---- */

/* The trainings to end FAILED "interrupted": every RUNNING one (GONE
 * NULL: a mount alone with the store), or those whose owner GONE says is
 * gone (the leader's sweep). */
struct recover_ctx {
	struct store *s;
	const char *exp;
	bool (*gone)(void *ctx, const char *owner);
	void *gone_ctx;
	int count;
};

static int recover_run(void *ctx, const char *run)
{
	struct recover_ctx *c = ctx;
	struct run_info ri;
	struct buf kind = { 0 };
	int rc = 0;
	if (tracking_run_get(c->s, c->exp, run, &ri) == 0 && ri.status == RUN_RUNNING &&
	    (!c->gone || (ri.owner[0] && c->gone(c->gone_ctx, ri.owner))) &&
	    tracking_value_get(c->s, c->exp, run, "tags", TAG_TRAINING, &kind) == 0) {
		rc = train_end(c->s, c->exp, run, "FAILED", "interrupted: the daemon stopped");
		c->count += !rc;
	}
	buf_free(&kind);
	return c->gone ? rc : 0;
}

static int recover_experiment(void *ctx, const char *exp)
{
	struct recover_ctx *c = ctx;
	c->exp = exp;
	return tracking_run_list(c->s, exp, recover_run, c);
}

int train_recover(struct store *s, struct mlfs_err *err)
{
	struct recover_ctx c = { .s = s };
	int rc = tracking_experiment_list(s, recover_experiment, &c);
	return rc < 0 ? mlfs_fail(err, rc, "recovering trainings failed") : c.count;
}

int train_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
		     size_t *n, struct mlfs_err *err)
{
	struct recover_ctx c = { .s = s, .gone = gone, .gone_ctx = ctx };
	int rc = tracking_experiment_list(s, recover_experiment, &c);
	if (n)
		*n = rc ? 0 : (size_t)c.count;
	if (rc && err && !err->msg[0])
		mlfs_fail(err, rc, "trainings: %s", strerror(-rc));
	return rc < 0 ? rc : 0;
}

/* ---- progress of the trainings under way ---- */

struct progress {
	struct progress *next;
	char key[2 * NAMES_MAX + 2];	/* EXP '/' RUN */
	char text[200];
};

struct progress_table {
	pthread_mutex_t lock;
	struct progress *list;		/* guarded by lock */
};

static const int progress_key = 0;

static void *progress_make(void)
{
	struct progress_table *t = calloc(1, sizeof(*t));
	if (!t)
		mlfs_oom();
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void progress_free(void *p)
{
	struct progress_table *t = p;
	while (t->list) {
		struct progress *e = t->list;
		t->list = e->next;
		free(e);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void train_progress_set(struct store *s, const char *exp, const char *run,
			const char *text)
{
	struct progress_table *t = store_state(s, &progress_key, progress_make, progress_free);
	char key[2 * NAMES_MAX + 2];
	snprintf(key, sizeof(key), "%s/%s", exp, run);
	pthread_mutex_lock(&t->lock);
	struct progress **p = &t->list;
	while (*p && strcmp((*p)->key, key))
		p = &(*p)->next;
	if (!text && *p) {
		struct progress *e = *p;
		*p = e->next;
		free(e);
	} else if (text) {
		if (!*p) {
			if (!(*p = calloc(1, sizeof(**p))))
				mlfs_oom();
			snprintf((*p)->key, sizeof((*p)->key), "%s", key);
		}
		snprintf((*p)->text, sizeof((*p)->text), "%s", text);
	}
	pthread_mutex_unlock(&t->lock);
}

int train_progress_get(struct store *s, const char *exp, const char *run,
		       struct buf *out)
{
	struct progress_table *t = store_state(s, &progress_key, progress_make, progress_free);
	char key[2 * NAMES_MAX + 2];
	int rc = -ENOENT;
	snprintf(key, sizeof(key), "%s/%s", exp, run);
	pthread_mutex_lock(&t->lock);
	for (struct progress *e = t->list; e; e = e->next)
		if (!strcmp(e->key, key)) {
			buf_reset(out);
			buf_puts(out, e->text);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&t->lock);
	return rc;
}
