/* blob.c - the blob kind: bytes read and written at offsets (artifact
 * files).  A handle opened to write has the node's writer as its state
 * (node_ops.handle) and bypasses the page cache: its writes and its own
 * reads go to the writer and appear whole at flush or close, while other
 * handles read the last closed version through the engine, which also
 * keeps the node's size, owner and times (ops->stat). */
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
	const struct blob_handle_ops *h = f->node.ops->handle;
	bool write = (f->flags & O_ACCMODE) != O_RDONLY;
	if (write && !h)
		return mlfs_fail(err, -EACCES, "this file is read-only");
	f->direct_io = write;
	return h ? h->open(fs, &f->node, write, f->flags & O_TRUNC, &f->state, err) : 0;
}

static int blob_kind_read(struct fs *fs, struct file *f, fuse_req_t req,
			  size_t size, off_t off, struct mlfs_err *err)
{
	char *out = fs_read_buf(size);
	long n = f->state ?
		f->node.ops->handle->read(f->state, out, size, (uint64_t)off, err) :
		f->node.ops->pread(fs, &f->node, out, size, (uint64_t)off, err);
	return fs_reply_read(req, out, n);
}

static int blob_kind_write(struct fs *fs, struct file *f, const char *data,
			   size_t size, off_t off, struct mlfs_err *err)
{
	uint64_t at = (uint64_t)off;
	if (!f->state)
		return mlfs_fail(err, -EBADF, "this handle was not opened to write");
	if (f->flags & O_APPEND)
		at = f->node.ops->handle->size(f->state);
	return f->node.ops->handle->write(f->state, data, size, at, err);
}

static int blob_kind_commit(struct fs *fs, struct file *f, bool final,
			    fuse_req_t req, struct mlfs_err *err)
{
	return f->state ? f->node.ops->handle->commit(f->state, final, err) : 0;
}

static bool blob_kind_failed(struct file *f)
{
	return f->state && f->node.ops->handle->failed(f->state);
}

static void blob_kind_release(struct fs *fs, struct file *f)
{
	if (f->state)
		f->node.ops->handle->free(f->state);
	f->state = NULL;
}

const struct kind kind_blob = {
	.name = "blob", .cache = FS_CACHE_NONE,
	.stat = blob_kind_stat, .open = blob_kind_open,
	.read = blob_kind_read, .write = blob_kind_write,
	.failed = blob_kind_failed, .commit = blob_kind_commit,
	.release = blob_kind_release,
};
