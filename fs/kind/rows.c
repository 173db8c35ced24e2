/* rows.c - the rows kind: CSV rows streamed from and to a rows_source (a
 * table's or a feature table's data.csv).  A reader gets a snapshot at
 * open, stable for its handle; a writer streams ('>' replaces, '>>'
 * appends) and its rows become visible at commit. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "fs_int.h"

struct rows_state {
	void *reader;		/* snapshot reader, made at open or first read */
	void *writer;		/* streaming writer, when open for writing */
	pid_t opener;		/* the process that opened it */
};

static int rows_stat(struct fs *fs, const struct node *n, struct stat *st,
		     int64_t *data_mtime)
{
	uint64_t size;
	st->st_mode |= S_IFREG;
	if (n->pending)
		return 0;
	int rc = n->ops->rows->stat(fs->store, n->arg[0], &size, data_mtime);
	if (!rc)
		st->st_size = (off_t)size;
	return rc;
}

static int rows_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	const struct rows_source *src = f->node.ops->rows;
	struct rows_state *r = calloc(1, sizeof(*r));
	int acc = f->flags & O_ACCMODE, rc = 0;
	if (!r)
		mlfs_oom();
	f->state = r;
	r->opener = fs_caller_pid();
	if (acc != O_WRONLY)
		rc = src->reader_open(fs->store, f->node.arg[0], &r->reader, err);
	if (!rc && acc != O_RDONLY)
		rc = src->writer_open(fs->store, f->node.arg[0],
				      (f->flags & O_TRUNC) != 0, &r->writer, err);
	return rc;
}

static int rows_read(struct fs *fs, struct file *f, fuse_req_t req,
		     size_t size, off_t off, struct mlfs_err *err)
{
	const struct rows_source *src = f->node.ops->rows;
	struct rows_state *r = f->state;
	int rc = 0;
	if (!r->reader)
		rc = src->reader_open(fs->store, f->node.arg[0], &r->reader, err);
	if (rc)
		return rc;
	char *out = fs_read_buf(size);
	return fs_reply_read(req, out, src->reader_read(r->reader, out, size,
							(uint64_t)off, err));
}

static int rows_write(struct fs *fs, struct file *f, const char *data,
		      size_t size, off_t off, struct mlfs_err *err)
{
	struct rows_state *r = f->state;
	if (!r->writer)
		return -EBADF;
	return f->node.ops->rows->writer_write(r->writer, data, size, err);
}

static bool rows_failed(struct file *f)
{
	struct rows_state *r = f->state;
	return r && r->writer && f->node.ops->rows->writer_failed(r->writer);
}

static int rows_commit(struct fs *fs, struct file *f, bool final,
		       fuse_req_t req, struct mlfs_err *err)
{
	struct rows_state *r = f->state;
	if (!r->writer)
		return 0;
	/* A flush from another process is a forked child closing the copy
	 * of the handle it inherited (subprocess's close_fds, a shell's
	 * pipeline) while the opener may be mid-row: commit nothing then; the
	 * opener's own close, or the release, commits. */
	if (!final && fs_caller_pid() != r->opener)
		return 0;
	return f->node.ops->rows->writer_commit(r->writer, final, err);
}

static void rows_release(struct fs *fs, struct file *f)
{
	const struct rows_source *src = f->node.ops->rows;
	struct rows_state *r = f->state;
	if (!r)
		return;
	if (r->reader)
		src->reader_free(r->reader);
	if (r->writer)
		src->writer_free(r->writer);
	free(r);
	f->state = NULL;
}

int fs_rows_clear(struct fs *fs, const struct node *n, struct mlfs_err *err)
{
	const struct rows_source *src = n->ops->rows;
	void *w;
	int rc = src->writer_open(fs->store, n->arg[0], true, &w, err);
	if (rc)
		return rc;
	rc = src->writer_commit(w, true, err);
	src->writer_free(w);
	return rc;
}

const struct kind kind_rows = {
	.name = "rows", .direct_io = true, .pageable = true,
	.cache = FS_CACHE_STAMPED, .stat = rows_stat,
	.open = rows_open, .read = rows_read, .write = rows_write,
	.failed = rows_failed, .commit = rows_commit,
	.release = rows_release, .truncate = fs_rows_clear,
};
