/* attrs.c - the a/NAME records: mode, owner and times set by users. */
#include "attrs.h"

#include <errno.h>
#include <string.h>

#include "codec.h"

static void key_attrs(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_puts(k, "a/");
	buf_puts(k, name);
}

#define F(key, m, t, d) CODEC_FIELD(key, struct attrs, m, CODEC_##t, d)
static const struct codec_field attrs_fields[] = {
	CODEC_OWNER_FIELDS(struct attrs, 0644), F("ctime", ctime_ns, INT, 0),
	F("mtime", mtime_ns, INT, 0),
};
#undef F

int attrs_get(struct store *s, const char *name, struct attrs *out)
{
	struct buf k = { 0 };
	key_attrs(&k, name);
	int rc = codec_load_fields(s, NULL, &k, out, attrs_fields, 5);
	buf_free(&k);
	return rc;
}

int attrs_put(struct store *s, const char *name, const struct attrs *a,
	      struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	key_attrs(&k, name);
	codec_enc_fields(&v, a, attrs_fields, 5, 0);
	int rc = store_put(s, k.data, k.len, v.data, v.len, err);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int attrs_delete(struct store *s, const char *name, struct mlfs_err *err)
{
	struct buf k = { 0 };
	key_attrs(&k, name);
	int rc = store_delete(s, k.data, k.len, err);
	buf_free(&k);
	return rc;
}

void attrs_batch_delete_tree(struct store_batch *b, const char *name)
{
	struct buf k = { 0 }, lo = { 0 }, hi = { 0 };
	key_attrs(&k, name);
	key_attrs(&lo, name);
	buf_putc(&lo, '/');
	key_attrs(&hi, name);
	buf_putc(&hi, '/' + 1);
	store_batch_delete(b, k.data, k.len);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&k);
	buf_free(&lo);
	buf_free(&hi);
}

int attrs_delete_tree(struct store *s, const char *name, struct mlfs_err *err)
{
	struct store_batch *b = store_batch_new();
	attrs_batch_delete_tree(b, name);
	int rc = store_write(s, b, false, err);
	store_batch_free(b);
	return rc;
}

int attrs_batch_write(struct store *s, struct store_batch *b,
		      const char *attrs, bool sync, struct mlfs_err *err)
{
	if (attrs)
		attrs_batch_delete_tree(b, attrs);
	int rc = store_write(s, b, sync, err);
	store_batch_free(b);
	return rc;
}
