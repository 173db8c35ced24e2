/* ns_experiments.c - /experiments: experiments, their runs, and each
 * run's params, metrics, tags, artifacts, status, wait and parent link.
 * Maps the tree onto engine/tracking.h and engine/blob.h; no storage
 * logic here.  Node args: arg[0] experiment, arg[1] run, arg[2] key. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attrs.h"
#include "blob.h"
#include "fs_int.h"
#include "table.h"
#include "tracking.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int nothing_to_remove(struct fs *fs, const struct node *n,
			     struct mlfs_err *err)
{
	return 0;	/* goes with its run: `rm -r runs/RUN` must work */
}

/* Text values are stored without their trailing newline and read with
 * one, so `cat` output ends a line and `cp` of it writes the same value. */
static void with_newline(struct buf *out)
{
	if (out->len && out->data[out->len - 1] != '\n')
		buf_putc(out, '\n');
}

/* ---- artifacts: a tree in engine/blob.h ---- */

static const struct node_ops blob_dir_ops, blob_file_ops;

static void blob_node(struct node *out, const struct node *dir,
		      const char *name, const struct blob_stat *st)
{
	node_child(out, dir, name, st->dir ? &blob_dir_ops : &blob_file_ops);
	out->id = st->id;
	out->parent_id = dir->id;
	snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
}

static int blob_lookup_op(struct fs *fs, const struct node *dir,
			  const char *name, struct node *out)
{
	struct blob_stat st;
	int rc = blob_lookup(fs->store, dir->id, name, &st);
	if (!rc)
		blob_node(out, dir, name, &st);
	return rc;
}

static int blob_list_op(struct fs *fs, const struct node *dir, fs_add_fn add,
			void *ctx)
{
	return blob_list(fs->store, dir->id, add, ctx);
}

static int blob_mkdir_op(struct fs *fs, const struct node *dir,
			 const char *name, struct mlfs_err *err)
{
	uid_t uid;
	gid_t gid;
	if (!name_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': use 1-128 of [A-Za-z0-9._-], not starting with '.'", name);
	fs_caller(&uid, &gid);
	return blob_make(fs->store, dir->id, name, true, 0755, uid, gid, NULL, err);
}

static int blob_rmdir_op(struct fs *fs, const struct node *dir,
			 const char *name, struct mlfs_err *err)
{
	return blob_remove(fs->store, dir->id, name, true, err);
}

static int blob_create_op(struct fs *fs, const struct node *dir,
			  const char *name, mode_t mode, struct node *out,
			  bool *pending, struct mlfs_err *err)
{
	uid_t uid;
	gid_t gid;
	struct blob_stat st;
	if (!name_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': use 1-128 of [A-Za-z0-9._-], not starting with '.'", name);
	fs_caller(&uid, &gid);
	int rc = blob_make(fs->store, dir->id, name, false, mode & 07777, uid, gid, &st, err);
	if (!rc)
		blob_node(out, dir, name, &st);
	return rc;
}

static int blob_rename_op(struct fs *fs, const struct node *dir,
			  const char *name, const struct node *newdir,
			  const char *newname, unsigned int flags,
			  struct mlfs_err *err)
{
	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;
	if (!name_valid(newname))
		return mlfs_fail(err, -EINVAL, "invalid name '%s'", newname);
	return blob_rename(fs->store, dir->id, name, newdir->id, newname,
			   flags & RENAME_NOREPLACE, err);
}

static int blob_stat_op(struct fs *fs, const struct node *n, struct stat *st)
{
	struct blob_stat b;
	int rc = blob_stat(fs->store, n->id, &b);
	if (rc)
		return rc;
	memset(st, 0, sizeof(*st));
	st->st_mode = (b.dir ? S_IFDIR : S_IFREG) | (b.mode & 07777);
	st->st_nlink = b.dir ? 2 : 1;
	st->st_uid = b.uid;
	st->st_gid = b.gid;
	st->st_size = (off_t)b.size;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_blksize = BLOB_CHUNK;
	st->st_mtim.tv_sec = b.mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = b.mtime_ns % 1000000000;
	st->st_ctim.tv_sec = b.ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = b.ctime_ns % 1000000000;
	st->st_atim = st->st_mtim;
	return 0;
}

static int blob_setattr_op(struct fs *fs, const struct node *n,
			   const struct stat *a, int to_set,
			   struct mlfs_err *err)
{
	int64_t mtime = -1;
	if (to_set & FUSE_SET_ATTR_MTIME)
		mtime = (int64_t)a->st_mtim.tv_sec * 1000000000 + a->st_mtim.tv_nsec;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		mtime = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	return blob_setattr(fs->store, n->id,
			    to_set & FUSE_SET_ATTR_MODE ? (uint32_t)a->st_mode : (uint32_t)-1,
			    to_set & FUSE_SET_ATTR_UID ? (uint32_t)a->st_uid : (uint32_t)-1,
			    to_set & FUSE_SET_ATTR_GID ? (uint32_t)a->st_gid : (uint32_t)-1,
			    mtime, err);
}

static long blob_pread_op(struct fs *fs, const struct node *n, char *dst,
			  size_t len, uint64_t off, struct mlfs_err *err)
{
	return blob_read(fs->store, n->id, off, dst, len, err);
}

static int blob_pwrite_op(struct fs *fs, const struct node *n,
			  const char *data, size_t len, uint64_t off,
			  struct mlfs_err *err)
{
	return blob_write(fs->store, n->id, off, data, len, err);
}

static int blob_truncate_op(struct fs *fs, const struct node *n,
			    uint64_t size, struct mlfs_err *err)
{
	return blob_truncate(fs->store, n->id, size, err);
}

static int blob_remove_op(struct fs *fs, const struct node *n,
			  struct mlfs_err *err)
{
	return blob_remove(fs->store, n->parent_id, n->arg[2], false, err);
}

static const struct node_ops blob_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = blob_lookup_op, .list = blob_list_op,
	.mkdir = blob_mkdir_op, .rmdir = blob_rmdir_op,
	.create = blob_create_op, .rename = blob_rename_op,
	.stat = blob_stat_op, .setattr = blob_setattr_op,
};

static const struct node_ops blob_file_ops = {
	.kind = NK_BLOB, .perm = 0644,
	.pread = blob_pread_op, .pwrite = blob_pwrite_op,
	.truncate = blob_truncate_op, .remove = blob_remove_op,
	.stat = blob_stat_op, .setattr = blob_setattr_op,
};

/* ---- params and tags ---- */

static const char *item_kind(const struct node *n)
{
	/* The item's directory is the last-but-one path component. */
	return strstr(n->path, "/params/") ? "params" : "tags";
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

static int value_remove(struct fs *fs, const struct node *n,
			struct mlfs_err *err)
{
	if (!strcmp(item_kind(n), "params"))
		return 0;	/* params are written once; they go with the run */
	return tracking_value_delete(fs->store, n->arg[0], n->arg[1], "tags",
				     n->arg[2], err);
}

static const struct node_ops value_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = value_get, .set = value_set, .remove = value_remove,
};

struct add_ctx {
	fs_add_fn add;
	void *ctx;
	bool dirs;
};

static int add_name(void *ctx, const char *name)
{
	struct add_ctx *ac = ctx;
	return ac->add(ac->ctx, name, ac->dirs);
}

static int check_key(const char *name, struct mlfs_err *err)
{
	if (!name_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid key '%s': use 1-128 of [A-Za-z0-9._-], not starting with '.'", name);
	return 0;
}

static int values_lookup(struct fs *fs, const struct node *dir,
			 const char *name, struct node *out)
{
	struct buf b = { 0 };
	int rc = tracking_value_get(fs->store, dir->arg[0], dir->arg[1],
				    strstr(dir->path, "/params") ? "params" : "tags",
				    name, &b);
	buf_free(&b);
	if (rc)
		return rc;
	node_child(out, dir, name, &value_ops);
	snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
	return 0;
}

static int values_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		       void *ctx)
{
	struct add_ctx ac = { add, ctx, false };
	return tracking_value_list(fs->store, dir->arg[0], dir->arg[1],
				   strstr(dir->path, "/params") ? "params" : "tags",
				   add_name, &ac);
}

static int values_create(struct fs *fs, const struct node *dir,
			 const char *name, mode_t mode, struct node *out,
			 bool *pending, struct mlfs_err *err)
{
	int rc = check_key(name, err);
	if (rc)
		return rc;
	node_child(out, dir, name, &value_ops);
	snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
	*pending = true;
	return 0;
}

static const struct node_ops values_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
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
				   data, len, now_ms(), err);
}

static const struct node_ops metric_ops = {
	.kind = NK_SERIES, .perm = 0644,
	.get = metric_get, .size = metric_size, .append = metric_append,
	.remove = nothing_to_remove,
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
	struct add_ctx ac = { add, ctx, false };
	return tracking_metric_list(fs->store, dir->arg[0], dir->arg[1], add_name, &ac);
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

static const struct node_ops metrics_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = metrics_lookup, .list = metrics_list, .create = metrics_create,
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
					 len, now_ms(), apply, err);
	if (!rc && apply)
		fs_waiters_kick(fs);
	return rc;
}

static const struct node_ops status_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = status_get, .set = status_set, .remove = nothing_to_remove,
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
	if (rc || r.status == RUN_RUNNING)
		return -EAGAIN;
	buf_reset(out);
	buf_puts(out, run_status_name(r.status));
	buf_putc(out, '\n');
	return 0;
}

static const struct node_ops wait_ops = {
	.kind = NK_WAITER, .perm = 0444, .poll = wait_poll,
	.remove = nothing_to_remove,
};

static int time_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	struct run_info r;
	char t[32];
	int rc = tracking_run_get(fs->store, n->arg[0], n->arg[1], &r);
	if (rc)
		return rc;
	int64_t ms = strstr(n->path, "/start_time") ? r.start_ms : r.end_ms;
	buf_reset(out);
	if (ms) {
		tracking_fmt_time(t, ms);
		buf_puts(out, t);
		buf_putc(out, '\n');
	}
	return 0;
}

static const struct node_ops time_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = time_get,
	.remove = nothing_to_remove,
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

/* Directories of a run (params/, metrics/, tags/, artifacts/) cannot be
 * removed on their own; rmdir is a no-op so that `rm -r` of a run works. */
static int run_rmdir(struct fs *fs, const struct node *dir, const char *name,
		     struct mlfs_err *err)
{
	return 0;
}

static const struct {
	const char *name;
	const struct node_ops *ops;
} run_files[] = {
	{ "artifacts", &blob_dir_ops },
	{ "end_time", &time_ops },
	{ "metrics", &metrics_dir_ops },
	{ "params", &values_dir_ops },
	{ "parent", &parent_ops },
	{ "start_time", &time_ops },
	{ "status", &status_ops },
	{ "tags", &values_dir_ops },
	{ "wait", &wait_ops },
};

static int run_lookup(struct fs *fs, const struct node *dir, const char *name,
		      struct node *out)
{
	struct run_info r;
	int rc = tracking_run_get(fs->store, dir->arg[0], dir->arg[1], &r);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(run_files) / sizeof(run_files[0]); i++) {
		if (strcmp(name, run_files[i].name))
			continue;
		if (run_files[i].ops == &parent_ops && !r.parent[0])
			return -ENOENT;
		node_child(out, dir, name, run_files[i].ops);
		if (run_files[i].ops == &blob_dir_ops)
			out->id = r.artifacts;
		return 0;
	}
	return -ENOENT;
}

static int run_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		    void *ctx)
{
	struct run_info r;
	int rc = tracking_run_get(fs->store, dir->arg[0], dir->arg[1], &r);
	for (size_t i = 0; !rc && i < sizeof(run_files) / sizeof(run_files[0]); i++) {
		if (run_files[i].ops == &parent_ops && !r.parent[0])
			continue;
		rc = add(ctx, run_files[i].name, run_files[i].ops->kind == NK_DIR);
	}
	return rc;
}

static int run_symlink(struct fs *fs, const struct node *dir, const char *name,
		       const char *target, struct mlfs_err *err)
{
	if (strcmp(name, "parent"))
		return mlfs_fail(err, -EPERM, "only 'parent' can be a link here");
	const char *t = target;
	if (!strncmp(t, "../", 3))
		t += 3;
	size_t n = strlen(t);
	while (n && t[n - 1] == '/')
		n--;
	char parent[FS_NAME_MAX + 1];
	if (n == 0 || n > FS_NAME_MAX || memchr(t, '/', n))
		return mlfs_fail(err, -EINVAL, "parent must name a run of this experiment (../RUN), not '%s'", target);
	memcpy(parent, t, n);
	parent[n] = '\0';
	return tracking_run_set_parent(fs->store, dir->arg[0], dir->arg[1], parent, err);
}

static const struct node_ops run_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = run_lookup, .list = run_list, .rmdir = run_rmdir,
	.symlink = run_symlink,
};

/* ---- runs/ ---- */

static int runs_lookup(struct fs *fs, const struct node *dir, const char *name,
		       struct node *out)
{
	struct run_info r;
	if (!name_valid(name) ||
	    tracking_run_get(fs->store, dir->arg[0], name, &r))
		return -ENOENT;
	node_child(out, dir, name, &run_dir_ops);
	snprintf(out->arg[1], sizeof(out->arg[1]), "%s", name);
	snprintf(out->owner_path, sizeof(out->owner_path), "%s", out->path);
	return 0;
}

static int runs_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		     void *ctx)
{
	struct add_ctx ac = { add, ctx, true };
	return tracking_run_list(fs->store, dir->arg[0], add_name, &ac);
}

static int runs_mkdir(struct fs *fs, const struct node *dir, const char *name,
		      struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	uid_t uid;
	gid_t gid;
	uint64_t art;
	struct run_info r;
	if (!name_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': use 1-128 of [A-Za-z0-9._-], not starting with '.'", name);
	if (tracking_run_get(fs->store, dir->arg[0], name, &r) == 0)
		return -EEXIST;
	fs_caller(&uid, &gid);
	int rc = blob_root_new(fs->store, 0755, uid, gid, &art, err);
	if (!rc)
		rc = tracking_run_create(fs->store, dir->arg[0], name, now_ms(),
					 uid, gid, art, err);
	if (rc) {
		blob_drop_tree(fs->store, art, NULL);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", dir->path, name);
	return fs_attrs_create(fs, path, 0755, err);
}

static int runs_rmdir(struct fs *fs, const struct node *dir, const char *name,
		      struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	struct run_info r;
	int rc = tracking_run_get(fs->store, dir->arg[0], name, &r);
	if (rc)
		return rc;
	if ((rc = tracking_run_drop(fs->store, dir->arg[0], name, err)))
		return rc;
	blob_drop_tree(fs->store, r.artifacts, NULL);
	snprintf(path, sizeof(path), "%s/%s", dir->path, name);
	attrs_delete_tree(fs->store, path, NULL);
	fs_waiters_kick(fs);
	return 0;
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
	int rc = tracking_experiment_text(fs->store, n->arg[0], n->arg[2], out);
	if (!rc)
		with_newline(out);
	return rc;
}

static int text_set(struct fs *fs, const struct node *n, const char *data,
		    size_t len, bool apply, struct mlfs_err *err)
{
	return tracking_experiment_set_text(fs->store, n->arg[0], n->arg[2],
					    data, len, apply, err);
}

static const struct node_ops text_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = text_get, .set = text_set, .remove = nothing_to_remove,
};

static int runs_csv_get(struct fs *fs, const struct node *n, struct buf *out,
			struct mlfs_err *err)
{
	return tracking_runs_csv(fs->store, n->arg[0], out, err);
}

static const struct node_ops runs_csv_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = runs_csv_get,
	.remove = nothing_to_remove,
};

static const struct {
	const char *name;
	const struct node_ops *ops;
} exp_files[] = {
	{ "description", &text_ops },
	{ "runs", &runs_dir_ops },
	{ "runs.csv", &runs_csv_ops },
	{ "tags", &text_ops },
};

static int exp_lookup(struct fs *fs, const struct node *dir, const char *name,
		      struct node *out)
{
	for (size_t i = 0; i < sizeof(exp_files) / sizeof(exp_files[0]); i++) {
		if (!strcmp(name, exp_files[i].name)) {
			node_child(out, dir, name, exp_files[i].ops);
			snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
			return 0;
		}
	}
	return -ENOENT;
}

static int exp_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		    void *ctx)
{
	for (size_t i = 0; i < sizeof(exp_files) / sizeof(exp_files[0]); i++) {
		int rc = add(ctx, exp_files[i].name, exp_files[i].ops->kind == NK_DIR);
		if (rc)
			return rc;
	}
	return 0;
}

static int exp_rmdir(struct fs *fs, const struct node *dir, const char *name,
		     struct mlfs_err *err)
{
	return 0;	/* runs/ goes with the experiment */
}

static const struct node_ops exp_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = exp_lookup, .list = exp_list, .rmdir = exp_rmdir,
};

/* ---- /experiments ---- */

static int experiments_lookup(struct fs *fs, const struct node *dir,
			      const char *name, struct node *out)
{
	if (!tracking_experiment_exists(fs->store, name))
		return -ENOENT;
	node_child(out, dir, name, &exp_dir_ops);
	snprintf(out->arg[0], sizeof(out->arg[0]), "%s", name);
	snprintf(out->owner_path, sizeof(out->owner_path), "%s", out->path);
	return 0;
}

static int experiments_list(struct fs *fs, const struct node *dir,
			    fs_add_fn add, void *ctx)
{
	struct add_ctx ac = { add, ctx, true };
	return tracking_experiment_list(fs->store, add_name, &ac);
}

static int experiments_mkdir(struct fs *fs, const struct node *dir,
			     const char *name, struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	int rc = tracking_experiment_create(fs->store, name, err);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/experiments/%s", name);
	return fs_attrs_create(fs, path, 0755, err);
}

static int experiments_rmdir(struct fs *fs, const struct node *dir,
			     const char *name, struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	int rc = tracking_experiment_drop(fs->store, name, err);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/experiments/%s", name);
	return attrs_delete_tree(fs->store, path, err);
}

const struct node_ops ns_experiments_dir = {
	.kind = NK_DIR, .perm = 01777,
	.lookup = experiments_lookup, .list = experiments_list,
	.mkdir = experiments_mkdir, .rmdir = experiments_rmdir,
};
