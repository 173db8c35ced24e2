/* kv_int.h - what the implementations of kv.h share: the vtable each
 * fills, and the checks kv.c makes before calling it (so that every
 * implementation refuses exactly the same commits). */
#ifndef MLFS_KV_INT_H
#define MLFS_KV_INT_H

#include "kv.h"

struct kv_ops {
	const char *name;
	void (*close)(struct kv *kv);
	int (*get)(struct kv *kv, const void *key, size_t klen,
		   struct buf *val, kv_rev *mod, struct mlfs_err *err);
	int (*range)(struct kv *kv, const void *begin, size_t blen,
		     const void *end, size_t elen, size_t limit, bool reverse,
		     kv_rev at, kv_range_fn fn, void *ctx, kv_rev *read_at,
		     struct mlfs_err *err);
	int (*commit)(struct kv *kv, const struct kv_cmp *cmps, size_t ncmp,
		      const struct kv_op *ops, size_t nops, kv_rev *committed,
		      struct mlfs_err *err);
	int (*watch)(struct kv *kv, const void *prefix, size_t plen,
		     kv_rev from, kv_watch_fn fn, void *ctx,
		     struct kv_watch **out, struct mlfs_err *err);
	void (*watch_cancel)(struct kv_watch *w);
	int (*lease_grant)(struct kv *kv, int ttl_s, kv_lease *out,
			   struct mlfs_err *err);
	int (*lease_keepalive)(struct kv *kv, kv_lease lease,
			       struct mlfs_err *err);
	int (*lease_revoke)(struct kv *kv, kv_lease lease,
			    struct mlfs_err *err);
	int (*compact)(struct kv *kv, kv_rev rev, struct mlfs_err *err);
};

/* The head of every implementation's handle and watch. */
struct kv {
	const struct kv_ops *ops;
};
struct kv_watch {
	struct kv *kv;
};

int kv_rocks_open(struct store *s, struct kv **out, struct mlfs_err *err);
int kv_etcd_open(const char *endpoints, struct kv **out,
		 struct mlfs_err *err);

/* Whether KEY lies in [BEGIN, END) (ELEN 0: no upper bound). */
bool kv_in_range(const void *key, size_t klen, const void *begin,
		 size_t blen, const void *end, size_t elen);
/* Compare two byte strings as RocksDB's default comparator and etcd do. */
int kv_keycmp(const void *a, size_t al, const void *b, size_t bl);

#endif
