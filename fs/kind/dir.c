/* dir.c - the directory kind, and the two shapes of directory that
 * namespaces declare: fixed children (a table's files, a run's files) and
 * collections of named engine objects (/tables, /features, ...).  What a directory
 * holds is its namespace's business; listing lives in ops.c (opendir). */
#include <errno.h>
#include <string.h>

#include "fs_int.h"
#include "names.h"

int fs_dir_lookup(struct fs *fs, const struct node *dir, const char *name,
		  struct node *out)
{
	for (const struct fs_entry *e = dir->ops->children; e && e->name; e++) {
		if (!strcmp(name, e->name)) {
			node_child(out, dir, name, e->ops);
			return 0;
		}
	}
	return -ENOENT;
}

int fs_dir_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		void *ctx)
{
	for (const struct fs_entry *e = dir->ops->children; e && e->name; e++) {
		int rc = add(ctx, e->name, e->ops->kind == NK_DIR);
		if (rc)
			return rc;
	}
	return 0;
}

int fs_collection_lookup(struct fs *fs, const struct node *dir,
			 const char *name, struct node *out)
{
	const struct fs_collection *c = dir->ops->data;
	if (!names_valid(name) || !c->exists(fs->store, name))
		return -ENOENT;
	node_object(out, dir, name, c->child, 0);
	return 0;
}

int fs_collection_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		       void *ctx)
{
	const struct fs_collection *c = dir->ops->data;
	struct fs_lister l = { add, ctx, true };
	return c->list(fs->store, fs_list_name, &l);
}

int fs_collection_mkdir(struct fs *fs, const struct node *dir,
			const char *name, mode_t mode, struct mlfs_err *err)
{
	const struct fs_collection *c = dir->ops->data;
	char path[FS_PATH_MAX];
	uid_t uid;
	gid_t gid;
	node_child_path(path, sizeof(path), dir, name);
	fs_caller(&uid, &gid);
	return c->make(fs->store, name, uid, gid, mode, path, err);
}

int fs_collection_rmdir(struct fs *fs, const struct node *dir,
			const char *name, struct mlfs_err *err)
{
	const struct fs_collection *c = dir->ops->data;
	char path[FS_PATH_MAX];
	node_child_path(path, sizeof(path), dir, name);
	return c->remove(fs->store, name, path, err);
}

static int dir_stat(struct fs *fs, const struct node *n, struct stat *st,
		    int64_t *data_mtime)
{
	st->st_mode |= S_IFDIR;
	st->st_nlink = 2;
	st->st_size = 0;
	return 0;
}

static int dir_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	return -EISDIR;
}

const struct kind kind_dir = {
	.name = "dir", .cache = FS_CACHE_STAMPED,
	.stat = dir_stat, .open = dir_open,
};
