/* dir.c - the directory kind, and lookup/list of directories whose
 * children are fixed (a table's files, a run's files).  What a directory
 * holds is its namespace's business; listing lives in ops.c (opendir). */
#include <errno.h>
#include <string.h>

#include "fs_int.h"

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
	.name = "dir", .stat = dir_stat, .open = dir_open,
};
