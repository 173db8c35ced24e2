/* experiments.c - /experiments: experiments, their runs, and each
 * run's params, metrics, tags, artifacts, status, wait and parent link.
 * Maps the tree onto engine/tracking.h (artifacts/: artifacts.c); no storage
 * logic here.  Node args: arg[0] experiment, arg[1] run, arg[2] key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "blob.h"
#include "fs_int.h"
#include "table.h"
#include "tracking.h"
#include "train.h"

/* Text values are stored without their trailing newline and read with
 * one, so `cat` output ends a line and `cp` of it writes the same value. */
static void with_newline(struct buf *out)
{
	if (out->len && out->data[out->len - 1] != '\n')
		buf_putc(out, '\n');
}

/* ---- params and tags ---- */

/* Which of a run's key-value sets a node or directory belongs to. */
static const char *item_kind(const struct node *n)
{
	return n->ops->data;
}

static int value_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	int rc = tracking_value_get(fs->store, n->arg[0], n->arg[1],
				    item_kind(n), n->arg[2], out);
	if (!rc)
		with_newline(out);
	return rc;
}

static int value_set(struct fs *fs, const struct node *n, const char *data,
		     size_t len, bool apply, struct mlfs_err *err)
{
	return tracking_value_set(fs->store, n->arg[0], n->arg[1], item_kind(n),
				  n->arg[2], data, len, apply, err);
}

static int tag_remove(struct fs *fs, const struct node *n,
		      struct mlfs_err *err)
{
	return tracking_value_delete(fs->store, n->arg[0], n->arg[1], "tags",
				     n->arg[2], err);
}

/* Params are written once: unlinking one does nothing, it goes with its
 * run (params/ lets its children go with it). */
static const struct node_ops param_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "params",
	.get = value_get, .set = value_set,
};

static const struct node_ops tag_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "tags",
	.get = value_get, .set = value_set, .remove = tag_remove,
};

/* The value node of a key-value directory DIR. */
static const struct node_ops *value_ops(const struct node *dir)
{
	return !strcmp(item_kind(dir), "params") ? &param_ops : &tag_ops;
}

static int check_key(const char *name, struct mlfs_err *err)
{
	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid key '%s': " NAMES_RULE, name);
	return 0;
}

static int values_lookup(struct fs *fs, const struct node *dir,
			 const char *name, struct node *out)
{
	struct buf b = { 0 };
	int rc = tracking_value_get(fs->store, dir->arg[0], dir->arg[1],
				    item_kind(dir), name, &b);
	buf_free(&b);
	if (rc)
		return rc;
	node_child(out, dir, name, value_ops(dir));
	snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
	return 0;
}

static int values_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		       void *ctx)
{
	struct fs_lister ac = { add, ctx, false };
	return tracking_value_list(fs->store, dir->arg[0], dir->arg[1],
				   item_kind(dir), fs_list_name, &ac);
}

static int values_create(struct fs *fs, const struct node *dir,
			 const char *name, mode_t mode, struct node *out,
			 bool *pending, struct mlfs_err *err)
{
	int rc = check_key(name, err);
	if (rc)
		return rc;
	node_child(out, dir, name, value_ops(dir));
	snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
	*pending = true;
	return 0;
}

static const struct node_ops params_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .data = "params",
	.lookup = values_lookup, .list = values_list, .create = values_create,
	.children_go_with_dir = true,
};

static const struct node_ops tags_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .data = "tags",
	.lookup = values_lookup, .list = values_list, .create = values_create,
};

/* ---- metrics ---- */

static int metric_get(struct fs *fs, const struct node *n, struct buf *out,
		      struct mlfs_err *err)
{
	return tracking_metric_text(fs->store, n->arg[0], n->arg[1], n->arg[2], out);
}

static int metric_size(struct fs *fs, const struct node *n, uint64_t *size,
		       int64_t *mtime_ns)
{
	int64_t ms = 0;
	int rc = tracking_metric_size(fs->store, n->arg[0], n->arg[1], n->arg[2],
				      size, &ms);
	*mtime_ns = ms * 1000000;
	return rc;
}

static int metric_append(struct fs *fs, const struct node *n,
			 const char *data, size_t len, struct mlfs_err *err)
{
	return tracking_metric_log(fs->store, n->arg[0], n->arg[1], n->arg[2],
				   data, len, clock_now_ms(), err);
}

static const struct node_ops metric_ops = {
	.kind = NK_SERIES, .perm = 0644,
	.get = metric_get, .size = metric_size, .append = metric_append,
};

static int metrics_lookup(struct fs *fs, const struct node *dir,
			  const char *name, struct node *out)
{
	uint64_t size;
	int64_t ms;
	int rc = tracking_metric_size(fs->store, dir->arg[0], dir->arg[1], name,
				      &size, &ms);
	if (rc)
		return rc;
	node_child(out, dir, name, &metric_ops);
	snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
	return 0;
}

static int metrics_list(struct fs *fs, const struct node *dir, fs_add_fn add,
			void *ctx)
{
	struct fs_lister ac = { add, ctx, false };
	return tracking_metric_list(fs->store, dir->arg[0], dir->arg[1], fs_list_name, &ac);
}

static int metrics_create(struct fs *fs, const struct node *dir,
			  const char *name, mode_t mode, struct node *out,
			  bool *pending, struct mlfs_err *err)
{
	int rc = check_key(name, err);
	if (rc)
		return rc;
	node_child(out, dir, name, &metric_ops);
	snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
	*pending = true;
	return 0;
}

/* A metric goes with its run: unlinking one does nothing. */
static const struct node_ops metrics_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = metrics_lookup, .list = metrics_list, .create = metrics_create,
	.children_go_with_dir = true,
};

/* ---- the run's own files ---- */

static int status_get(struct fs *fs, const struct node *n, struct buf *out,
		      struct mlfs_err *err)
{
	struct run_info r;
	int rc = tracking_run_get(fs->store, n->arg[0], n->arg[1], &r);
	if (rc)
		return rc;
	buf_reset(out);
	buf_puts(out, run_status_name(r.status));
	buf_putc(out, '\n');
	return 0;
}

static int status_set(struct fs *fs, const struct node *n, const char *data,
		      size_t len, bool apply, struct mlfs_err *err)
{
	int rc = tracking_run_set_status(fs->store, n->arg[0], n->arg[1], data,
					 len, clock_now_ms(), apply, err);
	if (!rc && apply) {
		/* An ended run trains no more: a training stops between trees. */
		fs_trainings_cancel(fs, n->arg[0], n->arg[1]);
		fs_waiters_kick(fs);
	}
	return rc;
}

static const struct node_ops status_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = status_get, .set = status_set,
};

static int wait_poll(struct fs *fs, const struct node *n, struct buf *out)
{
	struct run_info r;
	int rc = tracking_run_get(fs->store, n->arg[0], n->arg[1], &r);
	if (rc == -ENOENT) {
		buf_reset(out);
		buf_puts(out, "DELETED\n");
		return 0;
	}
	if (rc || r.status == RUN_RUNNING ||
	    fs_training_active(fs, n->arg[0], n->arg[1]))
		return -EAGAIN;
	buf_reset(out);
	buf_puts(out, run_status_name(r.status));
	buf_putc(out, '\n');
	return 0;
}

static const struct node_ops wait_ops = {
	.kind = NK_WAITER, .perm = 0444, .poll = wait_poll,
};

static const struct node_ops start_time_ops;

static int time_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	struct run_info r;
	char t[32];
	int rc = tracking_run_get(fs->store, n->arg[0], n->arg[1], &r);
	if (rc)
		return rc;
	int64_t ms = n->ops == &start_time_ops ? r.start_ms : r.end_ms;
	buf_reset(out);
	if (ms) {
		tracking_fmt_time(t, ms);
		buf_puts(out, t);
		buf_putc(out, '\n');
	}
	return 0;
}

static const struct node_ops start_time_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = time_get,
};

static const struct node_ops end_time_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = time_get,
};

static int parent_readlink(struct fs *fs, const struct node *n,
			   struct buf *out)
{
	struct run_info r;
	int rc = tracking_run_get(fs->store, n->arg[0], n->arg[1], &r);
	if (rc)
		return rc;
	if (!r.parent[0])
		return -ENOENT;
	buf_reset(out);
	buf_printf(out, "../%s", r.parent);
	return 0;
}

static int parent_remove(struct fs *fs, const struct node *n,
			 struct mlfs_err *err)
{
	return tracking_run_set_parent(fs->store, n->arg[0], n->arg[1], NULL, err);
}

static const struct node_ops parent_ops = {
	.kind = NK_SYMLINK, .perm = 0777, .readlink = parent_readlink,
	.remove = parent_remove,
};

/* model/ and training_set.csv: what a training left in the artifacts. */
static const struct node_ops trained_ops;

static const struct fs_entry run_files[] = {
	{ "artifacts", &ns_artifacts_dir },
	{ "end_time", &end_time_ops },
	{ "error", &ns_error_ops },
	{ "metrics", &metrics_dir_ops },
	{ "model", &trained_ops },
	{ "params", &params_dir_ops },
	{ "parent", &parent_ops },
	{ "progress", &ns_progress_ops },
	{ "start_time", &start_time_ops },
	{ "status", &status_ops },
	{ "tags", &tags_dir_ops },
	{ "train.yaml", &ns_train_yaml_ops },
	{ "training_set.csv", &trained_ops },
	{ "tune.yaml", &ns_tune_yaml_ops },
	{ "wait", &wait_ops },
	{ NULL, NULL },
};

/* NAME of what the training of run DIR left (model/, training_set.csv):
 * kept in the platform's folder of the artifacts tree rooted at ROOT
 * (train.h), shown here in the run itself. */
static int trained_lookup(struct fs *fs, const struct node *dir, uint64_t root,
			  const char *name, struct node *out)
{
	struct blob_stat st;
	struct node d = *dir;
	int rc = blob_lookup(fs->store, root, TRAIN_DIR, &st);
	if (rc)
		return rc;
	d.id = st.id;
	d.ops = &ns_frozen_dir;		/* what training made is read-only */
	return ns_frozen_dir.lookup(fs, &d, name, out);
}

/* The run's fixed files; parent only when set, artifacts/ at the root of
 * the run's blob tree. */
static int run_lookup(struct fs *fs, const struct node *dir, const char *name,
		      struct node *out)
{
	struct run_info r;
	int rc = tracking_run_get(fs->store, dir->arg[0], dir->arg[1], &r);
	if (!rc)
		rc = fs_dir_lookup(fs, dir, name, out);
	if (rc)
		return rc;
	if (out->ops == &parent_ops && !r.parent[0])
		return -ENOENT;
	if (out->ops == &trained_ops)
		return trained_lookup(fs, dir, r.artifacts, name, out);
	if (out->ops == &ns_artifacts_dir)
		out->id = r.artifacts;
	return 0;
}

static int run_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		    void *ctx)
{
	struct run_info r;
	int rc = tracking_run_get(fs->store, dir->arg[0], dir->arg[1], &r);
	for (const struct fs_entry *e = run_files; !rc && e->name; e++) {
		struct node child;
		if (e->ops == &parent_ops && !r.parent[0])
			continue;
		if (e->ops == &trained_ops) {
			if (trained_lookup(fs, dir, r.artifacts, e->name, &child) == 0)
				rc = add(ctx, e->name, child.ops->kind == NK_DIR);
			continue;
		}
		rc = add(ctx, e->name, e->ops->kind == NK_DIR);
	}
	return rc;
}

static int run_symlink(struct fs *fs, const struct node *dir, const char *name,
		       const char *target, struct mlfs_err *err)
{
	bool temp = fs_templink_name(name);	/* ln -sfn ... parent */
	if (strcmp(name, "parent") && !temp)
		return mlfs_fail(err, -EINVAL, "'%s': only 'parent' can be a link here", name);
	const char *t = target;
	if (!strncmp(t, "../", 3))
		t += 3;
	size_t n = strlen(t);
	while (n && t[n - 1] == '/')
		n--;
	char parent[FS_NAME_MAX + 1];
	if (n == 0 || n > FS_NAME_MAX || memchr(t, '/', n))
		return mlfs_fail(err, -EINVAL, "parent must name a run of this experiment (../RUN), not '%s'", target);
	if (temp)
		return -EPERM;	/* held until renamed onto parent */
	memcpy(parent, t, n);
	parent[n] = '\0';
	return tracking_run_set_parent(fs->store, dir->arg[0], dir->arg[1], parent, err);
}

static const struct node_ops trained_ops = { .kind = NK_VIEW };

/* The run's creator, mode and start, from its record (arg 0, 1). */
static int run_owner(struct fs *fs, const struct node *n, uid_t *uid,
		     gid_t *gid, mode_t *mode, int64_t *ctime_ns)
{
	struct run_info r;
	int rc = tracking_run_get(fs->store, n->arg[0], n->arg[1], &r);
	if (rc)
		return rc;
	*uid = r.uid;
	*gid = r.gid;
	*mode = r.mode;
	*ctime_ns = r.start_ms * 1000000;
	return 0;
}

/* Its files and directories cannot be removed on their own: they go
 * with the run, so that `rm -r runs/RUN` works. */
static const struct node_ops run_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .owner = run_owner,
	.lookup = run_lookup, .list = run_list, .children = run_files,
	.children_go_with_dir = true, .symlink = run_symlink,
};

/* ---- runs/ ---- */

static int runs_lookup(struct fs *fs, const struct node *dir, const char *name,
		       struct node *out)
{
	struct run_info r;
	if (!names_valid(name) ||
	    tracking_run_get(fs->store, dir->arg[0], name, &r))
		return -ENOENT;
	node_object(out, dir, name, &run_dir_ops, 1);
	return 0;
}

static int runs_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		     void *ctx)
{
	struct fs_lister ac = { add, ctx, true };
	return tracking_run_list(fs->store, dir->arg[0], fs_list_name, &ac);
}

/* A new RUNNING run of the caller with mode MODE and an empty artifacts
 * tree: one batch (tracking_run_make), which also clears what a chmod of
 * an earlier run of the name left in attrs. */
static int runs_mkdir(struct fs *fs, const struct node *dir, const char *name,
		      mode_t mode, struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	struct run_info r;
	uid_t uid;
	gid_t gid;
	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, name);
	if (tracking_run_get(fs->store, dir->arg[0], name, &r) == 0)
		return -EEXIST;
	fs_caller(&uid, &gid);
	node_child_path(path, sizeof(path), dir, name);
	return tracking_run_make(fs->store, dir->arg[0], name, clock_now_ms(),
				 uid, gid, mode, path, err);
}

/* The run, its attrs and its hold on its artifacts go in one batch;
 * released, not dropped: a registered version may still use its model
 * files (blob.h, pins). */
static int runs_rmdir(struct fs *fs, const struct node *dir, const char *name,
		      struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	node_child_path(path, sizeof(path), dir, name);
	int rc = tracking_run_remove(fs->store, dir->arg[0], name, path, err);
	if (!rc)
		fs_waiters_kick(fs);
	return rc;
}

/* Anyone may start a run in an experiment; only its owner may remove it. */
static const struct node_ops runs_dir_ops = {
	.kind = NK_DIR, .perm = 01777,
	.lookup = runs_lookup, .list = runs_list,
	.mkdir = runs_mkdir, .rmdir = runs_rmdir,
};

/* ---- /experiments/NAME ---- */

static int text_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	int rc = tracking_experiment_text(fs->store, n->arg[0], n->ops->data, out);
	if (!rc)
		with_newline(out);
	return rc;
}

static int text_set(struct fs *fs, const struct node *n, const char *data,
		    size_t len, bool apply, struct mlfs_err *err)
{
	return tracking_experiment_set_text(fs->store, n->arg[0], n->ops->data,
					    data, len, apply, err);
}

static const struct node_ops description_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "description",
	.get = text_get, .set = text_set,
};

static const struct node_ops exp_tags_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "tags",
	.get = text_get, .set = text_set,
};

struct runs_reader {
	struct fs *fs;
	struct fs_reader *r;
	const struct node *exp;
};

static bool run_visible(void *ctx, const char *run)
{
	struct runs_reader *rr = ctx;
	char path[FS_PATH_MAX];
	snprintf(path, sizeof(path), "/experiments/%s/runs/%s", rr->exp->arg[0], run);
	return fs_reader_may(rr->fs, rr->r, path);
}

/* A row for each run the reader may list (root: every run). */
static int runs_csv_get(struct fs *fs, const struct node *n, struct buf *out,
			struct mlfs_err *err)
{
	struct runs_reader rr = { fs, fs_reader_new(), n };
	int rc = fs_reader_is_root(rr.r) ?
		tracking_runs_csv(fs->store, n->arg[0], out, err) :
		tracking_runs_csv_visible(fs->store, n->arg[0], run_visible, &rr, out, err);
	free(rr.r);
	return rc;
}

static const struct node_ops runs_csv_ops = {
	.kind = NK_VIEW, .perm = 0444, .per_reader = true, .get = runs_csv_get,
};

static const struct fs_entry exp_files[] = {
	{ "description", &description_ops },
	{ "runs", &runs_dir_ops },
	{ "runs.csv", &runs_csv_ops },
	{ "tags", &exp_tags_ops },
	{ NULL, NULL },
};

/* The experiment's creator, mode and creation time, from its record
 * (arg 0); one with none recorded (made by a job) is the daemon's. */
static int exp_owner(struct fs *fs, const struct node *n, uid_t *uid,
		     gid_t *gid, mode_t *mode, int64_t *ctime_ns)
{
	uint32_t u, g, m;
	int64_t ms;
	int rc = tracking_experiment_owner(fs->store, n->arg[0], &u, &g, &m, &ms);
	if (rc)
		return rc;
	*uid = u;
	*gid = g;
	*mode = m;
	*ctime_ns = ms * 1000000;
	return 0;
}

/* runs/ and the files go with the experiment (rm -r). */
static const struct node_ops exp_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .owner = exp_owner,
	.lookup = fs_dir_lookup, .list = fs_dir_list,
	.children = exp_files, .children_go_with_dir = true,
};

/* ---- /experiments ---- */

static const struct fs_collection experiments = {
	.exists = tracking_experiment_exists, .list = tracking_experiment_list,
	.make = tracking_experiment_make, .remove = tracking_experiment_remove,
	.child = &exp_dir_ops,
};

const struct node_ops ns_experiments_dir = {
	.kind = NK_DIR, .perm = 01777, .data = &experiments,
	.lookup = fs_collection_lookup, .list = fs_collection_list,
	.mkdir = fs_collection_mkdir, .rmdir = fs_collection_rmdir,
};
