/* property.c - the property kind: a small text value (a schema, a key
 * list, a param) read whole at open, checked on every write (so that even
 * echo sees the error) and stored whole at commit. */
#include <errno.h>

#include "fs_int.h"

static int property_check(struct fs *fs, const struct node *n,
			  const char *data, size_t len, struct mlfs_err *err)
{
	return n->ops->set(fs, n, data, len, false, err);
}

static int property_write(struct fs *fs, struct file *f, const char *data,
			  size_t size, off_t off, struct mlfs_err *err)
{
	return text_state_write(fs, f, data, size, off, property_check, err);
}

static int property_commit(struct fs *fs, struct file *f, bool final,
			   fuse_req_t req, struct mlfs_err *err)
{
	struct text_state *t = f->state;
	if (!text_state_take(f, final))
		return 0;
	return f->node.ops->set(fs, &f->node, t->content.data ? t->content.data : "",
				t->content.len, true, err);
}

static int property_truncate(struct fs *fs, const struct node *n,
			     struct mlfs_err *err)
{
	int rc = n->ops->set(fs, n, "", 0, false, err);
	return rc ? rc : n->ops->set(fs, n, "", 0, true, err);
}

const struct kind kind_property = {
	.name = "property", .direct_io = true,
	.cache = FS_CACHE_VOLATILE, .stat = text_stat_size,
	.open = text_state_open_value, .read = text_state_read,
	.write = property_write, .commit = property_commit,
	.release = text_state_release, .truncate = property_truncate,
};
