/* view.c - the view kind: text generated at open (stats.csv, runs.csv,
 * /log), read-only, stable for the handle that opened it (direct I/O: a
 * size the kernel saw later never clips or pads it). */
#include <errno.h>
#include <fcntl.h>

#include "fs_int.h"

static int view_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	if ((f->flags & O_ACCMODE) != O_RDONLY)
		return mlfs_fail(err, -EACCES, "a generated file is read-only");
	text_state_open(f);
	struct text_state *t = f->state;
	return f->node.ops->get(fs, &f->node, &t->content, err);
}

static int view_truncate(struct fs *fs, const struct node *n,
			 struct mlfs_err *err)
{
	return mlfs_fail(err, -EACCES, "a generated file cannot be written");
}

const struct kind kind_view = {
	.name = "view", .direct_io = true,
	.cache = FS_CACHE_VOLATILE, .stat = text_stat_size,
	.open = view_open, .read = text_state_read,
	.release = text_state_release, .truncate = view_truncate,
};
