/* text.c - per-open state of the kinds that hold a whole text in memory
 * (property, view, series, waiter, control): the content read at open,
 * what was written, and reading it back at offsets.  Not a kind itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

int text_state_open(struct file *f)
{
	struct text_state *t = calloc(1, sizeof(*t));
	if (!t)
		mlfs_oom();
	f->state = t;
	return 0;
}

void text_state_release(struct fs *fs, struct file *f)
{
	struct text_state *t = f->state;
	if (!t)
		return;
	buf_free(&t->content);
	buf_free(&t->partial);
	free(t);
	f->state = NULL;
}

void fs_reply_slice(fuse_req_t req, const struct buf *b, size_t size,
		    off_t off)
{
	if ((size_t)off >= b->len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, b->data + off,
			       b->len - (size_t)off < size ? b->len - (size_t)off : size);
}

int text_state_read(struct fs *fs, struct file *f, fuse_req_t req,
		    size_t size, off_t off, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	fs_reply_slice(req, &t->content, size, off);
	return FS_REPLIED;
}

int text_stat_size(struct fs *fs, const struct node *n, struct stat *st,
		   int64_t *data_mtime)
{
	struct buf b = { 0 };
	st->st_mode |= S_IFREG;
	if (n->pending)
		return 0;
	if (n->ops->size) {	/* a large view that knows its size */
		uint64_t size = 0;
		int rc = n->ops->size(fs, n, &size, data_mtime);
		st->st_size = rc ? 0 : (off_t)size;
		return rc;
	}
	int rc = n->ops->get(fs, n, &b, NULL);
	st->st_size = rc ? 0 : (off_t)b.len;
	buf_free(&b);
	return rc == -ENODATA ? 0 : rc;
}

static int text_state_splice(struct file *f, const char *data, size_t size,
		      off_t off, struct buf *next, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	if (f->flags & O_APPEND)
		off = (off_t)t->content.len;
	if ((uint64_t)off + size > FS_PROPERTY_MAX)
		return mlfs_fail(err, -EFBIG, "value larger than %u bytes", FS_PROPERTY_MAX);
	size_t end = (size_t)off + size;
	memset(next, 0, sizeof(*next));
	if (buf_reserve(next, end > t->content.len ? end : t->content.len))
		return -ENOMEM;
	buf_append(next, t->content.data, t->content.len);
	if (end > next->len) {
		memset(next->data + next->len, 0, end - next->len);
		next->len = end;
		next->data[end] = '\0';
	}
	memcpy(next->data + off, data, size);
	return 0;
}

int text_state_open_value(struct fs *fs, struct file *f, struct mlfs_err *err)
{
	const struct node *n = &f->node;
	text_state_open(f);
	struct text_state *t = f->state;
	if (n->pending)
		return 0;
	if ((f->flags & O_ACCMODE) != O_RDONLY && (f->flags & O_TRUNC)) {
		t->trunc_pending = true;
		return 0;
	}
	int rc = n->ops->get(fs, n, &t->content, err);
	return rc == -ENODATA ? 0 : rc;
}

int text_state_write(struct fs *fs, struct file *f, const char *data,
		     size_t size, off_t off, text_check_fn check,
		     struct mlfs_err *err)
{
	struct text_state *t = f->state;
	struct buf next = { 0 };
	int rc = text_state_splice(f, data, size, off, &next, err);
	if (!rc && check)
		rc = check(fs, &f->node, next.data, next.len, err);
	if (rc) {
		/* A rejected write leaves everything as it was, O_TRUNC too;
		 * and what this handle wrote before it is not applied either. */
		t->trunc_pending = false;
		t->rejected = true;
		buf_free(&next);
		return rc;
	}
	buf_free(&t->content);
	t->content = next;
	t->written = true;
	return 0;
}

bool text_state_take(struct file *f, bool final)
{
	struct text_state *t = f->state;
	bool apply = !t->rejected && (t->written || (final && t->trunc_pending));
	if (apply)
		t->written = t->trunc_pending = false;
	return apply;
}

char *fs_read_buf(size_t size)
{
	char *out = malloc(size ? size : 1);
	if (!out)
		mlfs_oom();
	return out;
}

int fs_reply_read(fuse_req_t req, char *out, long n)
{
	if (n >= 0)
		fuse_reply_buf(req, out, (size_t)n);
	free(out);
	return n < 0 ? (int)n : FS_REPLIED;
}
