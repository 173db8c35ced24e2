/* symlink.c - the symlink kind: a link to another node (a run's parent).
 * Opening one follows it in the kernel; here it only has a target. */
#include <errno.h>

#include "fs_int.h"

static int symlink_stat(struct fs *fs, const struct node *n, struct stat *st,
			int64_t *data_mtime)
{
	struct buf b = { 0 };
	st->st_mode = S_IFLNK | 0777;
	int rc = n->ops->readlink(fs, n, &b);
	st->st_size = (off_t)b.len;
	buf_free(&b);
	return rc;
}

static int symlink_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	return -ELOOP;
}

const struct kind kind_symlink = {
	.name = "symlink", .cache = FS_CACHE_VOLATILE,
	.stat = symlink_stat, .open = symlink_open,
};
