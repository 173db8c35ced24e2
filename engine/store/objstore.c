/* objstore.c - the object-store front: checks names and arguments once,
 * then calls the implementation (objstore_store.c, objstore_s3.c).  The
 * paging loop of objstore_list_all lives here, so both implementations
 * page the same way. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "objstore_int.h"

int objstore_check_name(const char *name, struct mlfs_err *err)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > OBJSTORE_NAME_MAX)
		return mlfs_fail(err, -EINVAL,
				 "object name must be 1-%d bytes",
				 OBJSTORE_NAME_MAX);
	const char *seg = name;
	for (size_t i = 0; i <= n; i++) {
		char c = name[i];
		if (c == '/' || c == '\0') {
			size_t sl = (size_t)(name + i - seg);
			if (sl == 0 || (sl == 1 && seg[0] == '.') ||
			    (sl == 2 && seg[0] == '.' && seg[1] == '.'))
				return mlfs_fail(err, -EINVAL,
						 "object name '%.64s': empty, "
						 "'.' or '..' component", name);
			seg = name + i + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '~'))
			return mlfs_fail(err, -EINVAL,
					 "object name '%.64s': byte 0x%02x at "
					 "%zu is not one of [A-Za-z0-9._~/-]",
					 name, (unsigned char)c, i);
	}
	return 0;
}

/* A prefix or marker: the name's bytes, but may be empty and end in '/'. */
static int check_part(const char *what, const char *s, struct mlfs_err *err)
{
	if (!s || !*s)
		return 0;
	size_t n = strlen(s);
	if (n > OBJSTORE_NAME_MAX)
		return mlfs_fail(err, -EINVAL, "list %s longer than %d bytes",
				 what, OBJSTORE_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("._-~/", c)))
			return mlfs_fail(err, -EINVAL,
					 "list %s '%.64s': byte 0x%02x is not "
					 "one of [A-Za-z0-9._~/-]", what, s,
					 (unsigned char)c);
	}
	return 0;
}

void objstore_close(struct objstore *os)
{
	if (os)
		os->ops->close(os);
}

const char *objstore_kind(const struct objstore *os)
{
	return os->ops->kind;
}

int objstore_put_once(struct objstore *os, const char *name, const void *data,
		      size_t len, struct mlfs_err *err)
{
	int rc = objstore_check_name(name, err);
	if (rc)
		return rc;
	if ((uint64_t)len > OBJSTORE_SIZE_MAX)
		return mlfs_fail(err, -EFBIG, "object %s: %zu bytes, more than "
				 "one put takes (5 GiB)", name, len);
	return os->ops->put_once(os, name, len ? data : "", len, err);
}

int objstore_get(struct objstore *os, const char *name, uint64_t off,
		 uint64_t len, struct buf *out, struct mlfs_err *err)
{
	buf_reset(out);
	int rc = objstore_check_name(name, err);
	if (rc)
		return rc;
	if (len && off + len < off)
		len = 0;	/* to the end: no range wraps around */
	return os->ops->get(os, name, off, len, out, err);
}

int objstore_head(struct objstore *os, const char *name, uint64_t *size,
		  struct mlfs_err *err)
{
	int rc = objstore_check_name(name, err);
	return rc ? rc : os->ops->head(os, name, size, err);
}

int objstore_delete(struct objstore *os, const char *name,
		    struct mlfs_err *err)
{
	int rc = objstore_check_name(name, err);
	return rc ? rc : os->ops->del(os, name, err);
}

int objstore_list(struct objstore *os, const char *prefix, const char *after,
		  size_t limit, objstore_list_fn fn, void *ctx, bool *more,
		  struct mlfs_err *err)
{
	bool m = false;
	int rc = check_part("prefix", prefix, err);
	if (!rc)
		rc = check_part("marker", after, err);
	if (rc)
		return rc;
	if (limit == 0 || limit > OBJSTORE_PAGE_MAX)
		limit = OBJSTORE_PAGE_MAX;
	rc = os->ops->list(os, prefix ? prefix : "", after ? after : "", limit,
			   fn, ctx, &m, err);
	if (more)
		*more = rc == 0 && m;
	return rc;
}

/* objstore_list_all: pass each name on and remember the last one. */
struct page_ctx {
	objstore_list_fn fn;
	void *ctx;
	char last[OBJSTORE_NAME_MAX + 1];
	size_t n;
};

static int page_one(void *ctx, const char *name, uint64_t size)
{
	struct page_ctx *p = ctx;
	snprintf(p->last, sizeof(p->last), "%s", name);
	p->n++;
	return p->fn(p->ctx, name, size);
}

int objstore_list_all(struct objstore *os, const char *prefix,
		      const char *after, objstore_list_fn fn, void *ctx,
		      struct mlfs_err *err)
{
	struct page_ctx p = { .fn = fn, .ctx = ctx };
	snprintf(p.last, sizeof(p.last), "%s", after ? after : "");
	bool more = true;
	while (more) {
		p.n = 0;
		int rc = objstore_list(os, prefix, p.last, 0, page_one, &p,
				       &more, err);
		if (rc)
			return rc;
		if (p.n == 0)
			break;
	}
	return 0;
}
