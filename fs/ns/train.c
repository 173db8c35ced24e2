/* train.c - a run's training files: train.yaml and tune.yaml (control
 * nodes: a valid spec starts a training or a search on the session's
 * training runner and the write returns at once), progress (what the
 * training is doing now) and error (why it failed).  The run's model/ and
 * training_set.csv are files of its artifacts (experiments.c shows them).
 *
 * A training's life here: start() marks the run (train_begin) and queues
 * a job with progress "queued"; the job trains (engine/ml/train.h,
 * tune.h), updating progress; writing the run's status, or unmounting,
 * sets its cancel flag; when it ends, waiters are woken and its entry
 * goes.  The list of entries is guarded by fs->train_lock. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attrs.h"
#include "fs_int.h"
#include "registry.h"
#include "runner.h"
#include "spec.h"
#include "tracking.h"
#include "train.h"
#include "tune.h"

/* One queued or running training. */
struct training {
	struct training *next;
	char exp[FS_NAME_MAX + 1], run[FS_NAME_MAX + 1];
	char progress[200];		/* fs->train_lock */
	volatile int cancel;
};

struct train_arg {
	struct fs *fs;
	struct training *t;
	struct train_spec *sp;
	uid_t uid;		/* who wrote the spec: owns what it registers */
	gid_t gid;
};

static bool is_tune(const struct node *n)
{
	return n->ops == &ns_tune_yaml_ops;
}

/* ---- the list of trainings ---- */

static struct training *training_add(struct fs *fs, const char *exp,
				     const char *run)
{
	struct training *t = calloc(1, sizeof(*t));
	if (!t)
		mlfs_oom();
	snprintf(t->exp, sizeof(t->exp), "%s", exp);
	snprintf(t->run, sizeof(t->run), "%s", run);
	snprintf(t->progress, sizeof(t->progress), "queued");
	pthread_mutex_lock(&fs->train_lock);
	t->next = fs->trainings;
	fs->trainings = t;
	pthread_mutex_unlock(&fs->train_lock);
	return t;
}

static void training_remove(struct fs *fs, struct training *t)
{
	pthread_mutex_lock(&fs->train_lock);
	for (struct training **p = &fs->trainings; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	pthread_mutex_unlock(&fs->train_lock);
	free(t);
}

bool fs_training_active(struct fs *fs, const char *exp, const char *run)
{
	bool active = false;
	pthread_mutex_lock(&fs->train_lock);
	for (struct training *t = fs->trainings; t && !active; t = t->next)
		active = !strcmp(t->exp, exp) && !strcmp(t->run, run);
	pthread_mutex_unlock(&fs->train_lock);
	return active;
}

void fs_trainings_cancel(struct fs *fs, const char *exp, const char *run)
{
	pthread_mutex_lock(&fs->train_lock);
	for (struct training *t = fs->trainings; t; t = t->next)
		if (!exp || (!strcmp(t->exp, exp) && !strcmp(t->run, run)))
			t->cancel = 1;
	pthread_mutex_unlock(&fs->train_lock);
}

static void on_progress(void *ctx, const char *text)
{
	struct train_arg *a = ctx;
	pthread_mutex_lock(&a->fs->train_lock);
	snprintf(a->t->progress, sizeof(a->t->progress), "%s", text);
	pthread_mutex_unlock(&a->fs->train_lock);
}

/* A trial of a search is as private as the run that searches: it gets
 * the run's owner and mode (a 0700 run's trials are 0700). */
static void on_child(void *ctx, const char *run)
{
	struct train_arg *a = ctx;
	char parent[FS_PATH_MAX], child[FS_PATH_MAX];
	struct attrs at;
	snprintf(parent, sizeof(parent), "/experiments/%s/runs/%s", a->t->exp, a->t->run);
	snprintf(child, sizeof(child), "/experiments/%s/runs/%s", a->t->exp, run);
	struct timespec ts;
	struct run_info r;
	/* The parent's chmod/chown, else its own record's mode (the trial's
	 * record says 0755). */
	bool set = attrs_get(a->fs->store, parent, &at) == 0;
	if (!set && tracking_run_get(a->fs->store, a->t->exp, a->t->run, &r) == 0 &&
	    r.mode != 0755) {
		at.mode = r.mode;
		at.uid = r.uid;
		at.gid = r.gid;
		set = true;
	}
	if (set) {
		clock_gettime(CLOCK_REALTIME, &ts);
		at.ctime_ns = at.mtime_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		attrs_put(a->fs->store, child, &at, NULL);
	}
}

/* ---- the job ---- */

/* train.yaml's register: the engine's registry_register_trained. */
static int register_trained(struct train_arg *a, struct mlfs_err *err)
{
	uint64_t v;
	on_progress(a, "registering");
	int rc = registry_register_trained(a->fs->store, a->sp->register_model, a->t->exp,
					   a->t->run, a->sp->tune, a->uid, a->gid, &v, err);
	if (!rc)
		fs_namespace_changed(a->fs);
	return rc;
}

static int train_job(void *arg, const struct runner_job *job, struct mlfs_err *err)
{
	struct train_arg *a = arg;
	struct train_watch w = {
		.on_progress = on_progress, .on_child = on_child, .ctx = a,
		.cancel = &a->t->cancel,
	};
	int rc;
	if (a->sp->tune)
		rc = tune_run(a->fs->store, a->t->exp, a->t->run, a->sp, &w, err);
	else
		rc = train_run(a->fs->store, a->t->exp, a->t->run, a->sp, NULL, &w, NULL, err);
	if (!rc && a->sp->register_model)
		rc = register_trained(a, err);
	return rc;
}

static void train_done(struct fs *fs, const struct node *n, void *arg, int rc,
		       const struct mlfs_err *err)
{
	fs_waiters_kick(fs);
}

static void train_arg_free(void *arg)
{
	struct train_arg *a = arg;
	struct fs *fs = a->fs;
	training_remove(fs, a->t);
	train_spec_free(a->sp);
	free(a);
	fs_waiters_kick(fs);	/* wait answers once the job is gone */
}

/* ---- train.yaml and tune.yaml ---- */

/* Whether the caller may read every table SP trains on (the training
 * set and the model would show their rows to the run's readers). */
static int spec_may_read(struct fs *fs, const struct train_spec *sp,
			 struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	int rc = 0;
	if (sp->labels) {
		snprintf(path, sizeof(path), "/tables/%s", sp->labels);
		rc = fs_caller_may_name(fs, path, err);
	}
	if (!rc && sp->test) {
		snprintf(path, sizeof(path), "/tables/%s", sp->test);
		rc = fs_caller_may_name(fs, path, err);
	}
	for (size_t i = 0; !rc && i < sp->nlookups; i++) {
		snprintf(path, sizeof(path), "/features/%s", sp->lookups[i].table);
		rc = fs_caller_may_name(fs, path, err);
	}
	return rc;
}

int fs_train_text_may_read(struct fs *fs, const char *text, size_t len,
			   struct mlfs_err *err)
{
	struct train_spec *sp;
	if (train_spec_parse(text, len, 0, &sp, NULL) &&
	    train_spec_parse(text, len, TRAIN_SPEC_TUNE, &sp, NULL))
		return 0;
	int rc = spec_may_read(fs, sp, err);
	train_spec_free(sp);
	return rc;
}

/* The spec in DATA, parsed and checked against the store and the run:
 * whole (SO_FAR false), or as written so far, where keys still missing
 * are no error yet. */
static int spec_load(struct fs *fs, const struct node *n, const char *data,
		     size_t len, bool so_far, struct train_spec **out,
		     struct mlfs_err *err)
{
	struct run_info r;
	struct buf kind = { 0 };
	int rc;

	*out = NULL;
	if (!len && !so_far)
		return mlfs_fail(err, -EINVAL, "an empty spec: write the YAML of a %s",
				 is_tune(n) ? "tuning" : "training");
	if ((rc = tracking_run_get(fs->store, n->arg[0], n->arg[1], &r)))
		return rc;
	if (r.status != RUN_RUNNING)
		return mlfs_fail(err, -EBUSY, "the run is %s: make a new run to train",
				 run_status_name(r.status));
	if (tracking_value_get(fs->store, n->arg[0], n->arg[1], "tags", "mlfs.training", &kind) == 0) {
		buf_free(&kind);
		return mlfs_fail(err, -EBUSY, "the run already took a training spec: make a new run");
	}
	unsigned flags = (is_tune(n) ? TRAIN_SPEC_TUNE : 0) | (so_far ? TRAIN_SPEC_SO_FAR : 0);
	if ((rc = train_spec_parse(data, len, flags, out, err)))
		return rc;
	if ((rc = spec_may_read(fs, *out, err)) ||
	    (rc = train_spec_check(fs->store, *out, true, err))) {
		train_spec_free(*out);
		*out = NULL;
	}
	return rc;
}

/* In write(): the entries that later text cannot change (printf and
 * shell loops write a spec line by line); the rest at close. */
static int spec_validate(struct fs *fs, const struct node *n, const char *data,
			 size_t len, struct mlfs_err *err)
{
	struct train_spec *sp;
	int rc = spec_load(fs, n, data, train_spec_settled(data, len), true, &sp, err);
	train_spec_free(sp);
	return rc;
}

static int spec_start(struct fs *fs, const struct node *n, const char *data,
		      size_t len, struct control_job *job, struct mlfs_err *err)
{
	struct train_spec *sp;
	int rc = spec_load(fs, n, data, len, false, &sp, err);
	if (!rc)
		rc = train_begin(fs->store, n->arg[0], n->arg[1], is_tune(n) ? "tune" : "train",
				 data, len, err);
	if (rc) {
		train_spec_free(sp);
		return rc;
	}
	struct train_arg *a = calloc(1, sizeof(*a));
	if (!a)
		mlfs_oom();
	a->fs = fs;
	a->sp = sp;
	a->t = training_add(fs, n->arg[0], n->arg[1]);
	fs_caller(&a->uid, &a->gid);
	*job = (struct control_job){
		.fn = train_job, .arg = a, .free_arg = train_arg_free, .done = train_done,
	};
	return FS_CONTROL_JOB;
}

/* Reading the spec file gives the spec the run took, if any. */
static int spec_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	buf_reset(out);
	int rc = train_spec_text(fs->store, n->arg[0], n->arg[1], is_tune(n) ? "tune" : "train", out);
	return rc == -ENOENT ? 0 : rc;
}

const struct node_ops ns_train_yaml_ops = {
	.kind = NK_CONTROL, .perm = 0644, .get = spec_get,
	.validate = spec_validate, .start = spec_start, .long_job = true,
};

const struct node_ops ns_tune_yaml_ops = {
	.kind = NK_CONTROL, .perm = 0644, .get = spec_get,
	.validate = spec_validate, .start = spec_start, .long_job = true,
};

/* ---- progress and error ---- */

/* While the run is RUNNING: the training's phase (or "queued"); once it
 * ended, what its status says - the entry of a job that is finishing may
 * still be there a moment after the status changed. */
static int progress_get(struct fs *fs, const struct node *n, struct buf *out,
			struct mlfs_err *err)
{
	struct run_info r;
	struct buf kind = { 0 };
	buf_reset(out);
	int rc = tracking_run_get(fs->store, n->arg[0], n->arg[1], &r);
	if (rc)
		return rc;
	bool trained = tracking_value_get(fs->store, n->arg[0], n->arg[1], "tags", "mlfs.training", &kind) == 0;
	bool trial = trained && !strcmp(kind.data, "trial");
	buf_free(&kind);
	if (!trained)
		return 0;
	if (r.status != RUN_RUNNING) {
		buf_printf(out, "%s\n", r.status == RUN_FINISHED ? "done" : r.status == RUN_FAILED ? "failed"
			   : "killed");
		return 0;
	}
	pthread_mutex_lock(&fs->train_lock);
	const char *now = trial ? "training (a trial of the parent's search)" : "queued";
	bool ours = false;
	for (struct training *t = fs->trainings; t; t = t->next)
		if (!strcmp(t->exp, n->arg[0]) && !strcmp(t->run, n->arg[1])) {
			now = t->progress;
			ours = true;
		}
	buf_printf(out, "%s\n", now);
	pthread_mutex_unlock(&fs->train_lock);
	/* a training a job runs says its phase to the engine */
	if (!ours && !train_progress_get(fs->store, n->arg[0], n->arg[1], out))
		buf_putc(out, '\n');
	return 0;
}

static int error_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	buf_reset(out);
	int rc = train_error_text(fs->store, n->arg[0], n->arg[1], out);
	return rc == -ENOENT ? 0 : rc;
}

const struct node_ops ns_progress_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = progress_get,
};

const struct node_ops ns_error_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = error_get,
};
