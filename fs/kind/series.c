/* series.c - the series kind: a metric's points.  A read sees the text
 * generated at open; each complete line written appends a point ('>'
 * too: a series only grows), a trailing partial line waits for the next
 * write or the commit. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "fs_int.h"

static int series_stat(struct fs *fs, const struct node *n, struct stat *st,
		       int64_t *data_mtime)
{
	uint64_t size;
	st->st_mode |= S_IFREG;
	if (n->pending)
		return 0;
	int rc = n->ops->size(fs, n, &size, data_mtime);
	if (!rc)
		st->st_size = (off_t)size;
	return rc;
}

static int series_open(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	text_state_open(f);
	struct text_state *t = f->state;
	if ((f->flags & O_ACCMODE) == O_WRONLY || f->node.pending)
		return 0;
	return f->node.ops->get(fs, &f->node, &t->content, err);
}

/* A read past what the handle holds reads the points appended since (a
 * series only grows, so the old text is a prefix of the new): `tail -f`
 * sees new points, and a read is always of whole lines. */
static int series_read(struct fs *fs, struct file *f, fuse_req_t req,
		       size_t size, off_t off, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	if ((size_t)off >= t->content.len && (f->flags & O_ACCMODE) != O_WRONLY &&
	    !f->node.pending) {
		struct buf now = { 0 };
		int rc = f->node.ops->get(fs, &f->node, &now, err);
		if (rc) {
			buf_free(&now);
			return rc;
		}
		if (now.len > t->content.len) {
			buf_free(&t->content);
			t->content = now;
		} else {
			buf_free(&now);
		}
	}
	return text_state_read(fs, f, req, size, off, err);
}

static int series_write(struct fs *fs, struct file *f, const char *data,
			size_t size, off_t off, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	if (t->partial.len + size > FS_PROPERTY_MAX && !memchr(data, '\n', size))
		return mlfs_fail(err, -EFBIG, "line longer than %u bytes", FS_PROPERTY_MAX);
	struct buf all = { 0 };
	if (buf_append(&all, t->partial.data, t->partial.len) ||
	    buf_append(&all, data, size)) {
		buf_free(&all);
		return -ENOMEM;
	}
	const char *last = memrchr(all.data, '\n', all.len);
	size_t whole = last ? (size_t)(last - all.data) + 1 : 0;
	int rc = whole ? f->node.ops->append(fs, &f->node, all.data, whole, err) : 0;
	if (!rc) {
		buf_reset(&t->partial);
		buf_append(&t->partial, all.data + whole, all.len - whole);
		t->written = true;
	}
	buf_free(&all);
	return rc;
}

static int series_commit(struct fs *fs, struct file *f, bool final,
			 fuse_req_t req, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	if (!t->partial.len)
		return 0;
	int rc = f->node.ops->append(fs, &f->node, t->partial.data,
				     t->partial.len, err);
	buf_reset(&t->partial);
	return rc;
}

/* truncate(2): a series is append-only, as a file under chattr +a,
 * whose truncate is EPERM too ('>' opens still append). */
static int series_truncate(struct fs *fs, const struct node *n,
			   struct mlfs_err *err)
{
	return mlfs_fail(err, -EPERM, "a metric is append-only: its points cannot be removed (rm -r the run, or log under another key)");
}

const struct kind kind_series = {
	.name = "series", .direct_io = true,
	.cache = FS_CACHE_STAMPED, .stat = series_stat,
	.open = series_open, .read = series_read,
	.write = series_write, .commit = series_commit,
	.release = text_state_release, .truncate = series_truncate,
};
