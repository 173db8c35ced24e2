/* property.c - the property kind: a small text value (a schema, a key
 * list, a param) read whole at open, checked on every write (so that even
 * echo sees the error) and stored whole at commit. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "fs_int.h"

static int property_open(struct fs *fs, struct file *f, struct mlfs_err *err)
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

static int property_write(struct fs *fs, struct file *f, const char *data,
			  size_t size, off_t off, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	struct buf next;
	int rc = text_state_splice(f, data, size, off, &next, err);
	if (!rc)
		rc = f->node.ops->set(fs, &f->node, next.data, next.len, false, err);
	if (rc) {
		/* A rejected write leaves everything as it was, O_TRUNC too. */
		t->trunc_pending = false;
		buf_free(&next);
		return rc;
	}
	buf_free(&t->content);
	t->content = next;
	t->written = true;
	return 0;
}

static int property_commit(struct fs *fs, struct file *f, bool final,
			   fuse_req_t req, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	if (!t->written && !(final && t->trunc_pending))
		return 0;
	int rc = f->node.ops->set(fs, &f->node, t->content.data ? t->content.data : "",
				  t->content.len, true, err);
	t->written = false;
	t->trunc_pending = false;
	return rc;
}

static int property_truncate(struct fs *fs, const struct node *n,
			     struct mlfs_err *err)
{
	int rc = n->ops->set(fs, n, "", 0, false, err);
	return rc ? rc : n->ops->set(fs, n, "", 0, true, err);
}

const struct kind kind_property = {
	.name = "property", .stat = text_stat_size,
	.open = property_open, .read = text_state_read,
	.write = property_write, .commit = property_commit,
	.release = text_state_release, .truncate = property_truncate,
};
