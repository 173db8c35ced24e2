/* objstore_store.c - immutable objects in the embedded store: the
 * default implementation of objstore.h, owner of the keys o/.
 *
 * An object NAME is its size record o/m/NAME (8 bytes big-endian; its
 * presence is the object's existence) and its bytes in chunks of
 * OBJ_CHUNK, o/c/NAME\0 + 4-byte big-endian index, all written in one
 * batch, so a reader sees all or nothing.  Names hold no '\0', so the
 * chunks of NAME are exactly the range [o/c/NAME\0, o/c/NAME\1).
 * put_once and delete check and write under one lock of the store. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_int.h"

#define OBJ_CHUNK (1u << 20)

struct objstore_store {
	struct objstore base;
	struct store *s;
};

static int lock_key;	/* store_lock: put_once and delete of one store */

static struct store *st(struct objstore *os)
{
	return ((struct objstore_store *)os)->s;
}

static void key_meta(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_puts(k, "o/m/");
	buf_puts(k, name);
}

/* The chunk key of NAME at IDX; with IDX UINT32_MAX + 1 impossible, the
 * range end of NAME's chunks is made by key_chunks_end. */
static void key_chunk(struct buf *k, const char *name, uint32_t idx)
{
	buf_reset(k);
	buf_puts(k, "o/c/");
	buf_append(k, name, strlen(name) + 1);
	unsigned char be[4] = { idx >> 24, idx >> 16, idx >> 8, idx };
	buf_append(k, be, 4);
}

static void key_chunks_end(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_puts(k, "o/c/");
	buf_puts(k, name);
	buf_putc(k, '\1');
}

/* The size of NAME: 0, -ENOENT, -EIO (a size record of the wrong length
 * is damage, not absence). */
static int read_size(struct store *s, const char *name, uint64_t *size,
		     struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	key_meta(&k, name);
	int rc = store_get(s, NULL, k.data, k.len, &v, err);
	if (rc == 0 && v.len != 8)
		rc = mlfs_fail(err, -EIO, "object %s: size record of %zu "
			       "bytes, not 8", name, v.len);
	else if (rc == 0)
		*size = key_get_u64(v.data);
	else if (rc == -ENOENT)
		mlfs_fail(err, rc, "object %s: no such object", name);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

static int os_put_once(struct objstore *os, const char *name,
		       const void *data, size_t len, struct mlfs_err *err)
{
	struct store *s = st(os);
	pthread_mutex_t *lock = store_lock(s, &lock_key);
	struct buf k = { 0 };
	uint64_t size;

	pthread_mutex_lock(lock);
	int rc = read_size(s, name, &size, NULL);
	if (rc == 0) {
		rc = mlfs_fail(err, -EEXIST, "object %s exists", name);
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	struct store_batch *b = store_batch_new();
	for (size_t off = 0, i = 0; off < len; off += OBJ_CHUNK, i++) {
		size_t n = len - off < OBJ_CHUNK ? len - off : OBJ_CHUNK;
		key_chunk(&k, name, (uint32_t)i);
		store_batch_put(b, k.data, k.len, (const char *)data + off, n);
	}
	key_meta(&k, name);
	struct buf v = { 0 };
	key_put_u64(&v, len);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&v);
	rc = store_write(s, b, false, err);
	store_batch_free(b);
out:
	pthread_mutex_unlock(lock);
	buf_free(&k);
	return rc;
}

static int os_get(struct objstore *os, const char *name, uint64_t off,
		  uint64_t len, struct buf *out, struct mlfs_err *err)
{
	struct store *s = st(os);
	uint64_t size;
	int rc = read_size(s, name, &size, err);
	if (rc || off >= size)
		return rc;
	uint64_t end = len == 0 || len > size - off ? size : off + len;
	struct buf k = { 0 }, v = { 0 };
	buf_reserve(out, end - off);
	for (uint64_t i = off / OBJ_CHUNK; i * OBJ_CHUNK < end; i++) {
		key_chunk(&k, name, (uint32_t)i);
		rc = store_get(s, NULL, k.data, k.len, &v, err);
		uint64_t c0 = i * OBJ_CHUNK;
		uint64_t want = end - c0 < OBJ_CHUNK ? end - c0 : OBJ_CHUNK;
		if (rc == 0 && v.len < want)
			rc = mlfs_fail(err, -EIO, "object %s: chunk %llu holds "
				       "%zu bytes, not %llu", name,
				       (unsigned long long)i, v.len,
				       (unsigned long long)want);
		if (rc == -ENOENT)	/* deleted while we read */
			mlfs_fail(err, rc, "object %s: no such object", name);
		if (rc)
			break;
		uint64_t from = off > c0 ? off - c0 : 0;
		buf_append(out, v.data + from, want - from);
	}
	if (rc)
		buf_reset(out);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

static int os_head(struct objstore *os, const char *name, uint64_t *size,
		   struct mlfs_err *err)
{
	return read_size(st(os), name, size, err);
}

static int os_del(struct objstore *os, const char *name, struct mlfs_err *err)
{
	struct store *s = st(os);
	pthread_mutex_t *lock = store_lock(s, &lock_key);
	struct buf k = { 0 }, e = { 0 };
	uint64_t size;

	pthread_mutex_lock(lock);
	int rc = read_size(s, name, &size, err);
	if (rc == 0) {
		struct store_batch *b = store_batch_new();
		key_chunk(&k, name, 0);
		key_chunks_end(&e, name);
		store_batch_delete_range(b, k.data, k.len, e.data, e.len);
		key_meta(&k, name);
		store_batch_delete(b, k.data, k.len);
		rc = store_write(s, b, false, err);
		store_batch_free(b);
	}
	pthread_mutex_unlock(lock);
	buf_free(&k);
	buf_free(&e);
	return rc;
}

static int os_list(struct objstore *os, const char *prefix, const char *after,
		   size_t limit, objstore_list_fn fn, void *ctx, bool *more,
		   struct mlfs_err *err)
{
	struct buf lo = { 0 }, hi = { 0 }, seek = { 0 };
	key_meta(&lo, prefix);
	/* The keys starting with o/m/PREFIX end before the same with its
	 * last byte one higher (never 0xff: names are ASCII). */
	buf_append(&hi, lo.data, lo.len);
	hi.data[hi.len - 1]++;
	key_meta(&seek, after);
	struct store_iter *it = store_iter_new(st(os), NULL, lo.data, lo.len,
					       hi.data, hi.len);
	/* from AFTER, or from the prefix when AFTER sorts before it (a
	 * seek below an iterator's lower bound is not RocksDB's to take) */
	int c = memcmp(seek.data, lo.data, seek.len < lo.len ? seek.len : lo.len);
	if (c < 0 || (c == 0 && seek.len < lo.len))
		store_iter_seek(it, lo.data, lo.len);
	else
		store_iter_seek(it, seek.data, seek.len);
	int rc = 0;
	size_t n = 0;
	for (; store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *key = store_iter_key(it, &kl);
		const char *val = store_iter_value(it, &vl);
		if (kl == seek.len && memcmp(key, seek.data, kl) == 0)
			continue;	/* AFTER itself */
		if (n == limit) {
			*more = true;
			break;
		}
		char name[OBJSTORE_NAME_MAX + 1];
		if (kl - 4 > OBJSTORE_NAME_MAX || vl != 8)
			continue;	/* not one of ours: skip */
		memcpy(name, key + 4, kl - 4);
		name[kl - 4] = '\0';
		n++;
		rc = fn(ctx, name, key_get_u64(val));
		if (rc)
			break;
	}
	rc = store_iter_end(it, rc, &lo, &hi);
	buf_free(&seek);
	return rc;
}

static void os_close(struct objstore *os)
{
	free(os);
}

static const struct objstore_ops store_ops = {
	.kind = "store",
	.put_once = os_put_once,
	.get = os_get,
	.head = os_head,
	.del = os_del,
	.list = os_list,
	.close = os_close,
};

struct objstore *objstore_open_store(struct store *s)
{
	struct objstore_store *o = calloc(1, sizeof(*o));
	if (!o)
		mlfs_oom();
	o->base.ops = &store_ops;
	o->s = s;
	return &o->base;
}
