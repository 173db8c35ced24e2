/* artifacts.c - a run's artifacts/: a tree of directories and files kept
 * by engine/blob.h (bytes at offsets, own owners, modes and times).  The
 * run's node gives the tree's root id; below it nodes carry their blob id
 * and their directory's.  A frozen tree (ns_frozen_dir) is the same
 * tree shown read-only.  No storage logic here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "blob.h"
#include "fs_int.h"
#include "table.h"

static const struct node_ops blob_file_ops, frozen_file_ops;

/* A child of DIR: read-only below a frozen directory. */
static void blob_node(struct node *out, const struct node *dir,
		      const char *name, const struct blob_stat *st)
{
	bool frozen = dir->ops == &ns_frozen_dir;
	node_child(out, dir, name, st->dir ? (frozen ? &ns_frozen_dir : &ns_artifacts_dir) :
		   (frozen ? &frozen_file_ops : &blob_file_ops));
	out->id = st->id;
	out->parent_id = dir->id;
	snprintf(out->arg[2], sizeof(out->arg[2]), "%s", name);
}

/* Names starting with '.' (which users cannot make) are the platform's:
 * a run's training keeps its files under .mlfs/, shown as the run's
 * model/ and training_set.csv, never twice. */
static int blob_lookup_op(struct fs *fs, const struct node *dir,
			  const char *name, struct node *out)
{
	struct blob_stat st;
	int rc = name[0] == '.' ? -ENOENT : blob_lookup(fs->store, dir->id, name, &st);
	if (!rc)
		blob_node(out, dir, name, &st);
	return rc;
}

struct visible {
	fs_add_fn add;
	void *ctx;
};

static int add_visible(void *ctx, const char *name, bool is_dir)
{
	struct visible *v = ctx;
	return name[0] == '.' ? 0 : v->add(v->ctx, name, is_dir);
}

static int blob_list_op(struct fs *fs, const struct node *dir, fs_add_fn add,
			void *ctx)
{
	struct visible v = { add, ctx };
	return blob_list(fs->store, dir->id, add_visible, &v);
}

static int blob_mkdir_op(struct fs *fs, const struct node *dir,
			 const char *name, mode_t mode, struct mlfs_err *err)
{
	uid_t uid;
	gid_t gid;
	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, name);
	fs_caller(&uid, &gid);
	return blob_make(fs->store, dir->id, name, true, mode & 07777, uid, gid, NULL, err);
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
	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, name);
	fs_caller(&uid, &gid);
	int rc = blob_create(fs->store, dir->id, name, mode & 07777, uid, gid, &st, err);
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
	if (!names_valid(newname))
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
	st->st_blocks = (blkcnt_t)(b.size / 512 + (b.size % 512 != 0));
	st->st_blksize = BLOB_CHUNK;
	st->st_mtim.tv_sec = b.mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = b.mtime_ns % 1000000000;
	st->st_ctim.tv_sec = b.ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = b.ctime_ns % 1000000000;
	st->st_atim = st->st_mtim;
	return 0;
}

/* Frozen trees show no write bits and refuse chmod, chown, truncate. */
static int frozen_stat_op(struct fs *fs, const struct node *n, struct stat *st)
{
	int rc = blob_stat_op(fs, n, st);
	st->st_mode &= ~(mode_t)0222;
	return rc;
}

static int frozen_setattr_op(struct fs *fs, const struct node *n,
			     const struct stat *a, int to_set,
			     struct mlfs_err *err)
{
	return mlfs_fail(err, -EPERM, "a trained model's files are read-only");
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

/* A handle's writes go to a blob_writer: whole at close or not at all. */
static int handle_open(struct fs *fs, const struct node *n, bool write,
		       bool trunc, void **w, struct mlfs_err *err)
{
	if (!write)
		return blob_settle(fs->store, n->id, err);
	return blob_writer_open(fs->store, n->id, trunc, (struct blob_writer **)w, err);
}

static long handle_read(void *w, char *dst, size_t len, uint64_t off,
			struct mlfs_err *err)
{
	return blob_writer_read(w, off, dst, len, err);
}

static int handle_write(void *w, const char *data, size_t len, uint64_t off,
			struct mlfs_err *err)
{
	return blob_writer_write(w, off, data, len, err);
}

static int handle_commit(void *w, bool final, struct mlfs_err *err)
{
	return blob_writer_commit(w, final, err);
}

static uint64_t handle_size(void *w)
{
	return blob_writer_size(w);
}

static bool handle_failed(void *w)
{
	return blob_writer_failed(w);
}

static void handle_free(void *w)
{
	blob_writer_free(w);
}

static const struct blob_handle_ops blob_handle = {
	.open = handle_open, .read = handle_read, .write = handle_write,
	.commit = handle_commit, .size = handle_size, .failed = handle_failed,
	.free = handle_free,
};

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

const struct node_ops ns_artifacts_dir = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = blob_lookup_op, .list = blob_list_op,
	.mkdir = blob_mkdir_op, .rmdir = blob_rmdir_op,
	.create = blob_create_op, .rename = blob_rename_op,
	.stat = blob_stat_op, .setattr = blob_setattr_op,
};

static const struct node_ops blob_file_ops = {
	.kind = NK_BLOB, .perm = 0644,
	.pread = blob_pread_op, .handle = &blob_handle,
	.truncate = blob_truncate_op, .remove = blob_remove_op,
	.stat = blob_stat_op, .setattr = blob_setattr_op,
};

/* A trained model's files (a run's model/, a registered version's):
 * read-only, and they go with the run or version that shows them. */
const struct node_ops ns_frozen_dir = {
	.kind = NK_DIR, .perm = 0555,
	.lookup = blob_lookup_op, .list = blob_list_op,
	.children_go_with_dir = true,
	.stat = frozen_stat_op, .setattr = frozen_setattr_op,
};

static const struct node_ops frozen_file_ops = {
	.kind = NK_BLOB, .perm = 0444, .pread = blob_pread_op,
	.stat = frozen_stat_op, .setattr = frozen_setattr_op,
};
