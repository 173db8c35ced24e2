/* kv.c - the front of the revisioned key-value interface: picks the
 * implementation by the "meta" text, checks every commit against the
 * limits and key rules (once, here, so both implementations refuse the
 * same commits with the same errors), then calls through the vtable.
 * It holds no state of its own; kv_rocks.c and kv_etcd.c do the work. */
#include <errno.h>
#include <string.h>

#include "kv_int.h"

int kv_open(struct store *s, const char *meta, struct kv **out,
	    struct mlfs_err *err)
{
	*out = NULL;
	if (!meta || !*meta) {
		if (!s)
			return mlfs_fail(err, -EINVAL, "kv: no store to open");
		return kv_rocks_open(s, out, err);
	}
	if (!strncmp(meta, "etcd://", 7))
		return kv_etcd_open(meta + 7, out, err);
	if (!strncmp(meta, "http://", 7))
		return kv_etcd_open(meta, out, err);
	return mlfs_fail(err, -EINVAL,
			 "kv: '%s': not etcd://HOST:PORT[,HOST:PORT...]", meta);
}

void kv_close(struct kv *kv)
{
	if (kv)
		kv->ops->close(kv);
}

const char *kv_kind(const struct kv *kv)
{
	return kv->ops->name;
}

int kv_keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

bool kv_in_range(const void *key, size_t klen, const void *begin,
		 size_t blen, const void *end, size_t elen)
{
	if (kv_keycmp(key, klen, begin, blen) < 0)
		return false;
	return !elen || kv_keycmp(key, klen, end, elen) < 0;
}

void kv_prefix_end(struct buf *end, const void *prefix, size_t plen)
{
	const unsigned char *p = prefix;
	buf_reset(end);
	while (plen && p[plen - 1] == 0xff)
		plen--;
	if (!plen)
		return;
	buf_append(end, p, plen);
	end->data[plen - 1]++;
}

static int check_key(const void *key, size_t klen, const char *what,
		     struct mlfs_err *err)
{
	if (!klen || klen > KV_MAX_KEY)
		return mlfs_fail(err, -EINVAL, "kv: %s key of %zu bytes (1-%d)",
				 what, klen, KV_MAX_KEY);
	if (*(const unsigned char *)key == 0x01)
		return mlfs_fail(err, -EINVAL, "kv: %s key starts with 0x01 (reserved)",
				 what);
	return 0;
}

/* The keys op O touches: [lo, hi) with HI NULL meaning "just lo". */
static bool ops_overlap(const struct kv_op *a, const struct kv_op *b)
{
	const void *ae = a->end, *be = b->end;
	size_t ael = a->elen, bel = b->elen;
	bool ar = a->kind == KV_OP_DEL_RANGE, br = b->kind == KV_OP_DEL_RANGE;
	if (!ar && !br)
		return !kv_keycmp(a->key, a->klen, b->key, b->klen);
	if (!ar)
		return kv_in_range(a->key, a->klen, b->key, b->klen, be, bel);
	if (!br)
		return kv_in_range(b->key, b->klen, a->key, a->klen, ae, ael);
	/* [a, ae) and [b, be) meet iff a < be and b < ae. */
	return (!bel || kv_keycmp(a->key, a->klen, be, bel) < 0) &&
	       (!ael || kv_keycmp(b->key, b->klen, ae, ael) < 0);
}

static int check_ops(const struct kv_op *ops, size_t nops, size_t *bytes,
		     struct mlfs_err *err)
{
	for (size_t i = 0; i < nops; i++) {
		const struct kv_op *o = &ops[i];
		int rc = check_key(o->key, o->klen, "op", err);
		if (rc)
			return rc;
		if (o->kind > KV_OP_DEL_RANGE || o->lease < 0 ||
		    (o->kind == KV_OP_DEL_RANGE && o->elen &&
		     kv_keycmp(o->end, o->elen, o->key, o->klen) <= 0))
			return mlfs_fail(err, -EINVAL, "kv: op %zu: bad kind, lease or range", i);
		*bytes += o->klen + o->elen + (o->kind == KV_OP_PUT ? o->vlen : 0);
		for (size_t j = 0; j < i; j++)
			if (ops_overlap(&ops[j], o))
				return mlfs_fail(err, -EINVAL,
						 "kv: ops %zu and %zu touch the same key", j, i);
	}
	return 0;
}

/* The checks every implementation relies on: limits, keys, kinds. */
static int check_commit(const struct kv_cmp *cmps, size_t ncmp,
			const struct kv_op *ops, size_t nops,
			struct mlfs_err *err)
{
	size_t bytes = 0;
	if (ncmp > KV_MAX_OPS || nops > KV_MAX_OPS)
		return mlfs_fail(err, -E2BIG, "kv: %zu compares and %zu ops (at most %d each)",
				 ncmp, nops, KV_MAX_OPS);
	for (size_t i = 0; i < ncmp; i++) {
		int rc = check_key(cmps[i].key, cmps[i].klen, "compare", err);
		if (rc)
			return rc;
		if (cmps[i].kind > KV_CMP_VALUE_EQ)
			return mlfs_fail(err, -EINVAL, "kv: compare %zu: bad kind", i);
		bytes += cmps[i].klen +
			 (cmps[i].kind == KV_CMP_VALUE_EQ ? cmps[i].vlen : 0);
	}
	int rc = check_ops(ops, nops, &bytes, err);
	if (rc)
		return rc;
	if (bytes > KV_MAX_BYTES)
		return mlfs_fail(err, -E2BIG, "kv: commit of %zu bytes (at most %d)",
				 bytes, KV_MAX_BYTES);
	return 0;
}

int kv_commit(struct kv *kv, const struct kv_cmp *cmps, size_t ncmp,
	      const struct kv_op *ops, size_t nops, kv_rev *committed,
	      struct mlfs_err *err)
{
	int rc = check_commit(cmps, ncmp, ops, nops, err);
	if (rc)
		return rc;
	return kv->ops->commit(kv, cmps, ncmp, ops, nops, committed, err);
}

int kv_put(struct kv *kv, const void *key, size_t klen, const void *val,
	   size_t vlen, kv_lease lease, kv_rev *committed)
{
	struct kv_op op = { .kind = KV_OP_PUT, .key = key, .klen = klen,
			    .val = val, .vlen = vlen, .lease = lease };
	return kv_commit(kv, NULL, 0, &op, 1, committed, NULL);
}

int kv_delete(struct kv *kv, const void *key, size_t klen, kv_rev *committed)
{
	struct kv_op op = { .kind = KV_OP_DEL, .key = key, .klen = klen };
	return kv_commit(kv, NULL, 0, &op, 1, committed, NULL);
}

int kv_get(struct kv *kv, const void *key, size_t klen, struct buf *val,
	   kv_rev *mod, struct mlfs_err *err)
{
	int rc = check_key(key, klen, "get", err);
	if (rc)
		return rc;
	return kv->ops->get(kv, key, klen, val, mod, err);
}

int kv_range(struct kv *kv, const void *begin, size_t blen, const void *end,
	     size_t elen, size_t limit, bool reverse, kv_rev at,
	     kv_range_fn fn, void *ctx, kv_rev *read_at,
	     struct mlfs_err *err)
{
	if (blen > KV_MAX_KEY || elen > KV_MAX_KEY)
		return mlfs_fail(err, -EINVAL, "kv: range bound over %d bytes", KV_MAX_KEY);
	return kv->ops->range(kv, begin, blen, end, elen, limit, reverse, at,
			      fn, ctx, read_at, err);
}

int kv_watch(struct kv *kv, const void *prefix, size_t plen, kv_rev from,
	     kv_watch_fn fn, void *ctx, struct kv_watch **out,
	     struct mlfs_err *err)
{
	*out = NULL;
	if (plen > KV_MAX_KEY)
		return mlfs_fail(err, -EINVAL, "kv: watch prefix over %d bytes", KV_MAX_KEY);
	return kv->ops->watch(kv, prefix, plen, from, fn, ctx, out, err);
}

void kv_watch_cancel(struct kv_watch *w)
{
	if (w)
		w->kv->ops->watch_cancel(w);
}

int kv_lease_grant(struct kv *kv, int ttl_s, kv_lease *out,
		   struct mlfs_err *err)
{
	if (ttl_s < 1)
		return mlfs_fail(err, -EINVAL, "kv: lease of %d s (at least 1)", ttl_s);
	return kv->ops->lease_grant(kv, ttl_s, out, err);
}

int kv_lease_keepalive(struct kv *kv, kv_lease lease, struct mlfs_err *err)
{
	if (lease <= 0)
		return mlfs_fail(err, -ENOENT, "kv: no lease %lld", (long long)lease);
	return kv->ops->lease_keepalive(kv, lease, err);
}

int kv_lease_revoke(struct kv *kv, kv_lease lease, struct mlfs_err *err)
{
	if (lease <= 0)
		return mlfs_fail(err, -ENOENT, "kv: no lease %lld", (long long)lease);
	return kv->ops->lease_revoke(kv, lease, err);
}

int kv_compact(struct kv *kv, kv_rev rev, struct mlfs_err *err)
{
	return kv->ops->compact(kv, rev, err);
}
