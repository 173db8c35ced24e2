/* blob.c - the blob kind: bytes read and written at offsets (artifact
 * files).  No per-open state: every read and write goes to the engine,
 * which also keeps the node's size, owner and times (ops->stat). */
#include <errno.h>
#include <fcntl.h>

#include "fs_int.h"

static int blob_kind_stat(struct fs *fs, const struct node *n,
			  struct stat *st, int64_t *data_mtime)
{
	st->st_mode |= S_IFREG;
	return 0;
}

static int blob_kind_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	if ((f->flags & O_ACCMODE) != O_RDONLY && !f->node.ops->pwrite)
		return mlfs_fail(err, -EACCES, "this file is read-only");
	if ((f->flags & O_ACCMODE) != O_RDONLY && (f->flags & O_TRUNC))
		return f->node.ops->truncate(fs, &f->node, 0, err);
	return 0;
}

static int blob_kind_read(struct fs *fs, struct file *f, fuse_req_t req,
			  size_t size, off_t off, struct mlfs_err *err)
{
	char *out = fs_read_buf(size);
	return fs_reply_read(req, out, f->node.ops->pread(fs, &f->node, out, size,
							  (uint64_t)off, err));
}

static int blob_kind_write(struct fs *fs, struct file *f, const char *data,
			   size_t size, off_t off, struct mlfs_err *err)
{
	uint64_t at = (uint64_t)off;
	if (f->flags & O_APPEND) {
		struct stat st;
		int rc = node_stat(fs, &f->node, &st);
		if (rc)
			return rc;
		at = (uint64_t)st.st_size;
	}
	return f->node.ops->pwrite(fs, &f->node, data, size, at, err);
}

const struct kind kind_blob = {
	.name = "blob", .cache = FS_CACHE_NONE,
	.stat = blob_kind_stat, .open = blob_kind_open,
	.read = blob_kind_read, .write = blob_kind_write,
};
