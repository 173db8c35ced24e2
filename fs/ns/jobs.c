/* jobs.c - /jobs: jobs as files.  A job is a directory holding job.yaml
 * and the specs its tasks name (properties; any NAME.yaml), run (a
 * control: write to start a run, read the last run's id), runs/ID/
 * (status, wait, log, tasks.csv), next and history.csv.  Maps the tree
 * onto engine/jobs/job.h; no job logic here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"
#include "job.h"
#include "job_spec.h"

/* ---- job.yaml and the specs ---- */

static int file_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	return job_file_get(fs->store, n->arg[0], n->ops->data ? n->ops->data : n->arg[1], out);
}

/* "/DIR/NAME" for NAME, or the MODEL of "MODEL@REF", into PATH; then
 * fs_caller_may_name. */
static int may_name(struct fs *fs, const char *dir, const char *name,
		    struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	int n = (int)strcspn(name, "@");
	snprintf(path, sizeof(path), "/%s/%.*s", dir, n, name);
	return fs_caller_may_name(fs, path, err);
}

/* What a task of a job reads, by its kind: the feature table it
 * refreshes, the experiment and the tables of the spec it trains with,
 * the models it compares, promotes or scores with, the table it scores. */
static int task_may_read(struct fs *fs, const char *job,
			 const struct job_task *t, struct mlfs_err *err)
{
	struct buf spec = { 0 };
	int rc = 0;
	switch (t->kind) {
	case JOB_REFRESH:
		return may_name(fs, "features", t->target, err);
	case JOB_TRAIN:
	case JOB_TUNE:
		if ((rc = may_name(fs, "experiments", t->experiment, err)))
			return rc;
		if (job_file_get(fs->store, job, t->target, &spec) == 0)
			rc = fs_train_text_may_read(fs, spec.data ? spec.data : "", spec.len, err);
		buf_free(&spec);
		return rc;
	case JOB_VALIDATE:
		return may_name(fs, "models", t->against, err);
	case JOB_PROMOTE:
		return may_name(fs, "models", t->target, err);
	case JOB_SCORE:
		if ((rc = may_name(fs, "models", t->target, err)))
			return rc;
		return may_name(fs, "tables", t->input, err);
	}
	return 0;
}

/* A job runs as its owner, later: what it names must be readable by the
 * one who writes job.yaml, or a spec file (a train spec's tables). */
static int file_may_read(struct fs *fs, const struct node *n, const char *data,
			 size_t len, struct mlfs_err *err)
{
	struct job_spec *sp;
	if (n->ops->data == NULL)
		return fs_train_text_may_read(fs, data, len, err);
	if (job_spec_parse(data, len, &sp, NULL))
		return 0;
	int rc = sp->has_trigger ? may_name(fs, "monitors", sp->trigger_monitor, err) : 0;
	for (size_t i = 0; !rc && i < sp->ntasks; i++)
		rc = task_may_read(fs, n->arg[0], &sp->tasks[i], err);
	job_spec_free(sp);
	return rc;
}

static int file_set(struct fs *fs, const struct node *n, const char *data,
		    size_t len, bool apply, struct mlfs_err *err)
{
	int rc = apply ? file_may_read(fs, n, data, len, err) : 0;
	if (!rc)
		rc = job_file_set(fs->store, n->arg[0], n->ops->data ? n->ops->data : n->arg[1],
				  data, len, apply, err);
	if (!rc && apply)
		fs_namespace_changed(fs);
	return rc;
}

static int spec_remove(struct fs *fs, const struct node *n, struct mlfs_err *err)
{
	int rc = job_file_delete(fs->store, n->arg[0], n->arg[1], err);
	if (!rc)
		fs_namespace_changed(fs);
	return rc;
}

static const struct node_ops job_yaml_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "job.yaml",
	.get = file_get, .set = file_set,
};

static const struct node_ops spec_file_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = file_get, .set = file_set, .remove = spec_remove,
};

/* ---- run ---- */

static int run_get(struct fs *fs, const struct node *n, struct buf *out,
		   struct mlfs_err *err)
{
	struct job_info ji;
	int rc = job_stat(fs->store, n->arg[0], &ji);
	buf_reset(out);
	if (!rc && ji.last_run)
		buf_printf(out, "%" PRIu64 "\n", ji.last_run);
	return rc;
}

/* Whether a run can start is seen in write(): a job.yaml that fits. */
static int run_validate(struct fs *fs, const struct node *n, const char *data,
			size_t len, struct mlfs_err *err)
{
	struct buf spec = { 0 };
	int rc = job_file_get(fs->store, n->arg[0], "job.yaml", &spec);
	if (!rc && !spec.len)
		rc = mlfs_fail(err, -EINVAL, "no job.yaml: write one first");
	buf_free(&spec);
	return rc;
}

static int run_start(struct fs *fs, const struct node *n, const char *data,
		     size_t len, struct control_job *job, struct mlfs_err *err)
{
	uint64_t id;
	int rc = job_run_start(fs->store, n->arg[0], "manual", &id, err);
	if (!rc) {
		fs_log(fs, n->path, "run %" PRIu64 " started", id);
		fs_namespace_changed(fs);
	}
	return rc;
}

/* close() returns at once: the run goes on (runs/ID/wait waits). */
static const struct node_ops run_ops = {
	.kind = NK_CONTROL, .perm = 0644, .get = run_get,
	.validate = run_validate, .start = run_start,
};

/* ---- runs/ID ---- */

static uint64_t run_id(const struct node *n)
{
	return strtoull(n->arg[1], NULL, 10);
}

static int status_get(struct fs *fs, const struct node *n, struct buf *out,
		      struct mlfs_err *err)
{
	enum job_status st;
	int rc = job_run_status(fs->store, n->arg[0], run_id(n), &st);
	if (!rc) {
		buf_reset(out);
		buf_printf(out, "%s\n", job_status_name(st));
	}
	return rc;
}

static int status_set(struct fs *fs, const struct node *n, const char *data,
		      size_t len, bool apply, struct mlfs_err *err)
{
	while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		len--;
	if (len != 6 || memcmp(data, "KILLED", 6))
		return len ? mlfs_fail(err, -EINVAL, "write KILLED to stop the run") : 0;
	if (!apply)
		return 0;
	int rc = job_run_kill(fs->store, n->arg[0], run_id(n), err);
	fs_waiters_kick(fs);
	return rc;
}

static const struct node_ops status_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .get = status_get, .set = status_set,
};

static int wait_poll(struct fs *fs, const struct node *n, struct buf *out)
{
	enum job_status st;
	int rc = job_run_status(fs->store, n->arg[0], run_id(n), &st);
	if (rc == -ENOENT) {
		buf_reset(out);
		buf_puts(out, "DELETED\n");
		return 0;
	}
	if (rc || st == JOB_QUEUED || st == JOB_RUNNING)
		return -EAGAIN;
	buf_reset(out);
	buf_printf(out, "%s\n", job_status_name(st));
	return 0;
}

static const struct node_ops wait_ops = {
	.kind = NK_WAITER, .perm = 0444, .poll = wait_poll,
};

static int log_get(struct fs *fs, const struct node *n, struct buf *out,
		   struct mlfs_err *err)
{
	return job_run_log(fs->store, n->arg[0], run_id(n), out);
}

static int tasks_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	return job_run_tasks_csv(fs->store, n->arg[0], run_id(n), out);
}

static const struct node_ops log_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = log_get,
};

static const struct node_ops tasks_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = tasks_get,
};

static const struct fs_entry run_files[] = {
	{ "log", &log_ops },
	{ "status", &status_ops },
	{ "tasks.csv", &tasks_ops },
	{ "wait", &wait_ops },
	{ NULL, NULL },
};

static const struct node_ops run_dir_ops = {
	.kind = NK_DIR, .perm = 0555,
	.lookup = fs_dir_lookup, .list = fs_dir_list, .children = run_files,
	.children_go_with_dir = true,
};

static int runs_lookup(struct fs *fs, const struct node *dir, const char *name,
		       struct node *out)
{
	enum job_status st;
	char *end;
	unsigned long long id = strtoull(name, &end, 10);
	if (*end || !id || job_run_status(fs->store, dir->arg[0], id, &st))
		return -ENOENT;
	node_child(out, dir, name, &run_dir_ops);
	snprintf(out->arg[1], sizeof(out->arg[1]), "%s", name);
	return 0;
}

struct runs_list_ctx {
	fs_add_fn add;
	void *ctx;
};

static int runs_add(void *ctx, uint64_t id)
{
	struct runs_list_ctx *rl = ctx;
	char name[24];
	snprintf(name, sizeof(name), "%" PRIu64, id);
	return rl->add(rl->ctx, name, true);
}

static int runs_list(struct fs *fs, const struct node *dir, fs_add_fn add, void *ctx)
{
	struct runs_list_ctx rl = { add, ctx };
	return job_run_list(fs->store, dir->arg[0], runs_add, &rl);
}

static const struct node_ops runs_dir_ops = {
	.kind = NK_DIR, .perm = 0555,
	.lookup = runs_lookup, .list = runs_list, .children_go_with_dir = true,
};

/* ---- next, history.csv ---- */

static int next_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	return job_next_text(fs->store, n->arg[0], out);
}

static int history_get(struct fs *fs, const struct node *n, struct buf *out,
		       struct mlfs_err *err)
{
	return job_history_csv(fs->store, n->arg[0], out);
}

static const struct node_ops next_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = next_get,
};

static const struct node_ops history_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = history_get,
};

/* ---- /jobs/NAME ---- */

static const struct fs_entry job_files[] = {
	{ "history.csv", &history_ops },
	{ "job.yaml", &job_yaml_ops },
	{ "next", &next_ops },
	{ "run", &run_ops },
	{ "runs", &runs_dir_ops },
	{ NULL, NULL },
};

static int job_dir_lookup(struct fs *fs, const struct node *dir, const char *name,
			  struct node *out)
{
	struct buf text = { 0 };
	if (!fs_dir_lookup(fs, dir, name, out))
		return 0;
	if (!job_file_name_ok(name) || job_file_get(fs->store, dir->arg[0], name, &text))
		return -ENOENT;
	buf_free(&text);
	node_child(out, dir, name, &spec_file_ops);
	snprintf(out->arg[1], sizeof(out->arg[1]), "%s", name);
	return 0;
}

static int job_dir_list(struct fs *fs, const struct node *dir, fs_add_fn add, void *ctx)
{
	struct fs_lister fl = { add, ctx, false };
	int rc = fs_dir_list(fs, dir, add, ctx);
	return rc ? rc : job_file_list(fs->store, dir->arg[0], fs_list_name, &fl);
}

static int job_dir_create(struct fs *fs, const struct node *dir, const char *name,
			  mode_t mode, struct node *out, bool *pending,
			  struct mlfs_err *err)
{
	if (!job_file_name_ok(name))
		return mlfs_fail(err, -EINVAL, "'%s': a job's folder holds job.yaml and NAME.yaml specs", name);
	node_child(out, dir, name, &spec_file_ops);
	snprintf(out->arg[1], sizeof(out->arg[1]), "%s", name);
	*pending = true;
	return 0;
}

/* The job's maker, mode and creation time, from its record. */
static int job_owner(struct fs *fs, const struct node *n, uid_t *uid,
		     gid_t *gid, mode_t *mode, int64_t *ctime_ns)
{
	struct job_info ji;
	int rc = job_stat(fs->store, n->arg[0], &ji);
	if (rc)
		return rc;
	*uid = ji.uid;
	*gid = ji.gid;
	*mode = ji.mode;
	*ctime_ns = ji.ctime_ms * 1000000;
	return 0;
}

static const struct node_ops job_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .owner = job_owner,
	.lookup = job_dir_lookup, .list = job_dir_list, .create = job_dir_create,
	.children = job_files, .children_go_with_dir = true,
};

/* ---- /jobs ---- */

static bool job_exists(struct store *s, const char *name)
{
	struct job_info ji;
	return job_stat(s, name, &ji) == 0;
}

/* A job belongs to its maker: runs train and promote as them. */
static const struct fs_collection jobs = {
	.exists = job_exists, .list = job_list,
	.make = job_create, .remove = job_delete,
	.child = &job_dir_ops,
};

const struct node_ops ns_jobs_dir = {
	.kind = NK_DIR, .perm = 0755, .data = &jobs,
	.lookup = fs_collection_lookup, .list = fs_collection_list,
	.mkdir = fs_collection_mkdir, .rmdir = fs_collection_rmdir,
};
