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

int attrs_get(struct store *s, const char *name, struct attrs *out)
{
	struct buf k = { 0 }, v = { 0 };
	key_attrs(&k, name);
	int rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	if (!rc) {
		struct dec *d = codec_dec_new(v.data, v.len);
		if (!d) {
			rc = -EIO;
		} else {
			struct dval r = codec_dec_root(d);
			out->mode = (uint32_t)codec_dget_u64(r, "mode", 0644);
			out->uid = (uint32_t)codec_dget_u64(r, "uid", 0);
			out->gid = (uint32_t)codec_dget_u64(r, "gid", 0);
			out->ctime_ns = codec_dget_i64(r, "ctime", 0);
			out->mtime_ns = codec_dget_i64(r, "mtime", 0);
			codec_dec_free(d);
		}
	}
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int attrs_put(struct store *s, const char *name, const struct attrs *a,
	      struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	key_attrs(&k, name);
	codec_enc_map(&v, 5);
	codec_enc_cstr(&v, "mode");
	codec_enc_u64(&v, a->mode);
	codec_enc_cstr(&v, "uid");
	codec_enc_u64(&v, a->uid);
	codec_enc_cstr(&v, "gid");
	codec_enc_u64(&v, a->gid);
	codec_enc_cstr(&v, "ctime");
	codec_enc_i64(&v, a->ctime_ns);
	codec_enc_cstr(&v, "mtime");
	codec_enc_i64(&v, a->mtime_ns);
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
