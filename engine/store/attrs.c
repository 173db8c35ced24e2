/* attrs.c - the a/NAME records: mode, owner and times set by users, and
 * the per-store cache that spares a stat, a lookup or an open its store
 * reads of them.
 *
 * The cache (store_state, an LRU bounded in bytes) holds, by name, a
 * record or its absence ('n' + NAME), and by directory whether any
 * record lies below it ('d' + DIR: a name under a directory with none
 * needs no read, so the rows/KEY of a big table cost one probe in all).
 * Every write of a/ records goes through this file and, once written,
 * moves the cache's generation on and empties it (attrs_batch_written
 * for a batch that attrs_batch_delete_tree filled); a reader keeps what
 * it read only when the generation it saw before reading is still the
 * current one.  So a reader that starts after a write has returned never
 * sees what the write replaced, whichever thread wrote; and a remount
 * opens a new store, whose cache starts empty.  On the remote backend
 * other hosts' a/ records arrive through the replica: the cache starts
 * over whenever store_foreign_seq moves. */
#include "attrs.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "lru.h"

/* The cache's bound: some 10,000 names or directories. */
#define ATTRS_CACHE_BYTES (1u << 20)

struct attrs_cache {
	pthread_mutex_t lock;
	uint64_t gen;		/* guarded by lock: writes seen */
	uint64_t foreign;	/* guarded by lock: store_foreign_seq seen */
	struct lru *lru;	/* guarded by lock */
};

static const char attrs_cache_key;

static void *attrs_cache_make(void)
{
	struct attrs_cache *c = calloc(1, sizeof(*c));
	if (!c)
		mlfs_oom();
	pthread_mutex_init(&c->lock, NULL);
	c->lru = lru_new(ATTRS_CACHE_BYTES);
	return c;
}

static void attrs_cache_free(void *p)
{
	struct attrs_cache *c = p;
	lru_free(c->lru);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct attrs_cache *attrs_cache(struct store *s)
{
	return store_state(s, &attrs_cache_key, attrs_cache_make, attrs_cache_free);
}

/* Under C's lock: start over when other hosts' changes came in since. */
static void sync_foreign(struct store *s, struct attrs_cache *c)
{
	uint64_t f = store_foreign_seq(s);
	if (f == c->foreign)
		return;
	c->foreign = f;
	c->gen++;
	lru_clear(c->lru);
}

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

/* A name's two cache keys in one buffer: 'n' + NAME, and 'd' + NAME's
 * directory (the bytes before its last '/'), which is a prefix of it. */
struct ckey {
	char *p;		/* tag, then NAME; SMALL or malloc'ed */
	size_t len;		/* of NAME */
	size_t dlen;		/* of its directory; SIZE_MAX: it has none */
	char small[200];
};

static void ckey_init(struct ckey *k, const char *name)
{
	const char *slash = strrchr(name, '/');
	k->len = strlen(name);
	k->dlen = slash ? (size_t)(slash - name) : SIZE_MAX;
	k->p = k->len < sizeof(k->small) ? k->small : malloc(k->len + 1);
	if (!k->p)
		mlfs_oom();
	memcpy(k->p + 1, name, k->len);
}

static void ckey_free(struct ckey *k)
{
	if (k->p != k->small)
		free(k->p);
}

/* The key of the name ('n') or its directory ('d'): *LEN its length. */
static const char *ckey(struct ckey *k, char tag, size_t *len)
{
	k->p[0] = tag;
	*len = 1 + (tag == 'n' ? k->len : k->dlen);
	return k->p;
}

/* Whether any a/ record lies below the directory of K: one bounded
 * seek. */
static bool dir_has_attrs(struct store *s, const struct ckey *k)
{
	struct buf lo = { 0 }, hi = { 0 };
	buf_puts(&lo, "a/");
	buf_append(&lo, k->p + 1, k->dlen);
	buf_putc(&lo, '/');
	buf_append(&hi, lo.data, lo.len - 1);
	buf_putc(&hi, '/' + 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	store_iter_seek_first(it);
	bool any = store_iter_valid(it) || store_iter_status(it, NULL);
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return any;
}

/* K's record from the cache: 0 or -ENOENT, or 1 when not known.
 * *DIR_KNOWN: whether its directory's entry is cached (true when it has
 * no directory). */
static int get_cached(struct attrs_cache *c, struct ckey *k,
		      struct attrs *out, bool *dir_known)
{
	size_t klen, vlen;
	const char *key = ckey(k, 'n', &klen);
	const char *v = lru_get(c->lru, key, klen, &vlen);
	if (v && vlen == sizeof(*out)) {
		memcpy(out, v, sizeof(*out));
		return 0;
	}
	if (v)
		return -ENOENT;
	*dir_known = true;
	if (k->dlen == SIZE_MAX)
		return 1;
	key = ckey(k, 'd', &klen);
	v = lru_get(c->lru, key, klen, &vlen);
	*dir_known = v != NULL;
	return v && !v[0] ? -ENOENT : 1;
}

/* Keep what was read of K, under the lock. */
static void put_cached(struct attrs_cache *c, struct ckey *k, bool dir_known,
		       bool any, const struct attrs *a)
{
	size_t klen;
	const char *key;
	char has = any;
	if (!dir_known) {
		key = ckey(k, 'd', &klen);
		lru_put(c->lru, key, klen, &has, 1);
	}
	if (any) {
		key = ckey(k, 'n', &klen);
		lru_put(c->lru, key, klen, a, a ? sizeof(*a) : 0);
	}
}

int attrs_get(struct store *s, const char *name, struct attrs *out)
{
	struct attrs_cache *c = attrs_cache(s);
	struct ckey k;
	bool dir_known = false, any = true;
	ckey_init(&k, name);
	pthread_mutex_lock(&c->lock);
	sync_foreign(s, c);
	uint64_t gen = c->gen;
	int rc = get_cached(c, &k, out, &dir_known);
	pthread_mutex_unlock(&c->lock);
	if (rc <= 0)
		goto out;

	/* Read it (the generation was taken first), then keep it. */
	if (!dir_known)
		any = dir_has_attrs(s, &k);
	rc = -ENOENT;
	if (any) {
		struct buf rk = { 0 };
		key_attrs(&rk, name);
		rc = codec_load_fields(s, NULL, &rk, out, attrs_fields, 5);
		buf_free(&rk);
	}
	pthread_mutex_lock(&c->lock);
	sync_foreign(s, c);
	if (c->gen == gen && (rc == 0 || rc == -ENOENT))
		put_cached(c, &k, dir_known, any, rc ? NULL : out);
	pthread_mutex_unlock(&c->lock);
out:
	ckey_free(&k);
	return rc;
}

void attrs_batch_written(struct store *s)
{
	struct attrs_cache *c = attrs_cache(s);
	pthread_mutex_lock(&c->lock);
	c->gen++;
	lru_clear(c->lru);
	pthread_mutex_unlock(&c->lock);
}

int attrs_put(struct store *s, const char *name, const struct attrs *a,
	      struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	key_attrs(&k, name);
	codec_enc_fields(&v, a, attrs_fields, 5, 0);
	int rc = store_put(s, k.data, k.len, v.data, v.len, err);
	attrs_batch_written(s);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int attrs_delete(struct store *s, const char *name, struct mlfs_err *err)
{
	struct buf k = { 0 };
	key_attrs(&k, name);
	int rc = store_delete(s, k.data, k.len, err);
	attrs_batch_written(s);
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
	attrs_batch_written(s);
	store_batch_free(b);
	return rc;
}

int attrs_batch_write(struct store *s, struct store_batch *b,
		      const char *attrs, bool sync, struct mlfs_err *err)
{
	if (attrs)
		attrs_batch_delete_tree(b, attrs);
	int rc = store_write(s, b, sync, err);
	if (attrs)
		attrs_batch_written(s);
	store_batch_free(b);
	return rc;
}
