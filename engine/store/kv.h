/* kv.h - the revisioned key-value interface for metadata (issue 19).
 *
 * One narrow interface, two implementations behind a vtable: the
 * embedded RocksDB store (kv_rocks.c, the default) and an etcd v3
 * cluster (kv_etcd.c).  Nothing above engine/store knows which is in
 * use: kv_open picks by the "meta" text.  Every change is one commit of
 * at most KV_MAX_OPS operations and KV_MAX_BYTES bytes, guarded by
 * compares; each commit that changes something makes one store-wide
 * revision; watches deliver the changes in revision order.
 *
 * Keys are 1..KV_MAX_KEY bytes and never start with the byte 0x01 (the
 * RocksDB implementation keeps its own records there); values are any
 * bytes.  Revisions start at 1 (an empty store); a key's mod revision is
 * the revision of the commit that last wrote it, 0 when absent.
 * Thread-safety: every call may run concurrently with any other on the
 * same struct kv, except kv_close.  docs/store-format.md ("Revisioned
 * KV") has the contracts and the RocksDB records; docs/scale-out.md how
 * to run it on etcd. */
#ifndef MLFS_KV_H
#define MLFS_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct store;
struct kv;
struct kv_watch;

typedef uint64_t kv_rev;	/* store-wide revision; 0: none / absent */
typedef int64_t kv_lease;	/* lease id; 0: no lease */

/* The limits every implementation enforces, before anything is sent:
 * etcd's own (--max-txn-ops 128, --max-request-bytes 1.5 MiB, of which
 * this leaves room for the framing of 128+128 entries). */
#define KV_MAX_OPS 128		/* operations per commit, and compares */
#define KV_MAX_BYTES 1500000	/* keys + values + compared values */
#define KV_MAX_KEY 4096

/* Open the metadata store named by META: NULL or "" for the embedded
 * one over S (which must outlive the kv; the kv shares S's records), or
 * "etcd://HOST:PORT[,HOST:PORT...]" (also "http://..." endpoints, comma
 * separated) for an etcd v3 cluster, tried in order with fail-over on
 * connection errors.  -EINVAL for a META of another form, -EHOSTUNREACH
 * when no etcd endpoint answers. */
int kv_open(struct store *s, const char *meta, struct kv **out,
	    struct mlfs_err *err);
/* Free the handle (cancel its watches first).  The embedded kv's state
 * (commit lock, watch ring, lease timers) is the store's: every kv_open
 * of one store shares it, and store_close ends it.  NULL is a no-op. */
void kv_close(struct kv *kv);
/* "rocksdb" or "etcd": for messages and benchmarks only. */
const char *kv_kind(const struct kv *kv);

/* Read KEY now (linearizable) into VAL (replaced); *MOD (may be NULL)
 * gets its mod revision.  0 or -ENOENT; -EIO, -ETIMEDOUT (etcd). */
int kv_get(struct kv *kv, const void *key, size_t klen, struct buf *val,
	   kv_rev *mod, struct mlfs_err *err);

/* FN for each key in [BEGIN, END) (ELEN 0: to the end of the key space)
 * in key order (REVERSE: descending), at most LIMIT keys (0: no limit),
 * as of revision AT (0: now).  *READ_AT (may be NULL) gets the revision
 * read, so that further pages can be read at the same one.  KEY and VAL
 * are borrowed for the call of FN only.  A non-zero return of FN stops
 * the walk and is returned.  -ESTALE when AT is no longer readable
 * (compacted; the RocksDB implementation keeps the last 8 revisions
 * reported by kv_range readable); -EINVAL for a revision in the future. */
typedef int (*kv_range_fn)(void *ctx, const char *key, size_t klen,
			   const char *val, size_t vlen, kv_rev mod);
int kv_range(struct kv *kv, const void *begin, size_t blen, const void *end,
	     size_t elen, size_t limit, bool reverse, kv_rev at,
	     kv_range_fn fn, void *ctx, kv_rev *read_at,
	     struct mlfs_err *err);

enum kv_cmp_kind {
	KV_CMP_ABSENT,		/* the key does not exist */
	KV_CMP_MOD_EQ,		/* its mod revision is REV (0: absent) */
	KV_CMP_VALUE_EQ,	/* it exists and its value is VAL */
};
struct kv_cmp {
	enum kv_cmp_kind kind;
	const void *key;
	size_t klen;
	kv_rev rev;
	const void *val;
	size_t vlen;
};

enum kv_op_kind {
	KV_OP_PUT,		/* KEY = VAL, attached to LEASE (0: none) */
	KV_OP_DEL,		/* remove KEY (absent: nothing) */
	KV_OP_DEL_RANGE,	/* remove every key in [KEY, END) */
};
struct kv_op {
	enum kv_op_kind kind;
	const void *key;
	size_t klen;
	const void *end;	/* KV_OP_DEL_RANGE; ELEN 0: to the end */
	size_t elen;
	const void *val;	/* KV_OP_PUT */
	size_t vlen;
	kv_lease lease;		/* KV_OP_PUT */
};

/* If every compare holds, apply every op atomically as one new revision
 * (none when nothing changed) and put it in *COMMITTED (may be NULL);
 * else apply nothing and return -ECANCELED (*COMMITTED: the revision
 * the compares were read at; re-read and retry).  -E2BIG beyond the
 * limits; -EINVAL for a bad key or two ops touching one key; -ENOENT
 * for a lease that does not exist; -ETIMEDOUT or -EIO (etcd) when the
 * outcome is not known: re-read before retrying. */
int kv_commit(struct kv *kv, const struct kv_cmp *cmps, size_t ncmp,
	      const struct kv_op *ops, size_t nops, kv_rev *committed,
	      struct mlfs_err *err);
/* One op, no compare: shorthands over kv_commit. */
int kv_put(struct kv *kv, const void *key, size_t klen, const void *val,
	   size_t vlen, kv_lease lease, kv_rev *committed);
int kv_delete(struct kv *kv, const void *key, size_t klen, kv_rev *committed);

enum kv_event_kind { KV_EV_PUT, KV_EV_DEL };
struct kv_event {
	enum kv_event_kind kind;
	const char *key;	/* borrowed for the call of the watch's FN */
	size_t klen;
	const char *val;	/* KV_EV_PUT */
	size_t vlen;
};
/* Called with all the events under the watched prefix of revision REV
 * together (N >= 1, ERR 0), revisions in increasing order, on a thread of
 * the kv; FN may call into KV (even commit).  ERR -ESTALE (N 0) once
 * when the events the watch needs were compacted away (the caller drops
 * what it cached and re-lists); the watch then delivers no more. */
typedef void (*kv_watch_fn)(void *ctx, const struct kv_event *ev, size_t n,
			    kv_rev rev, int err);
/* Watch keys starting with PREFIX (PLEN 0: all keys) for changes after
 * revision FROM (0: from now on).  -ESTALE when FROM is compacted
 * already.  Stop with kv_watch_cancel, which returns after any call of
 * FN in progress and before FN is called again. */
int kv_watch(struct kv *kv, const void *prefix, size_t plen, kv_rev from,
	     kv_watch_fn fn, void *ctx, struct kv_watch **out,
	     struct mlfs_err *err);
void kv_watch_cancel(struct kv_watch *w);

/* Leases: a lease lives TTL_S seconds (at least 1) after its grant or
 * last keepalive; when it expires or is revoked, every key attached to
 * it is deleted in one revision.  -ENOENT for a lease gone already. */
int kv_lease_grant(struct kv *kv, int ttl_s, kv_lease *out,
		   struct mlfs_err *err);
int kv_lease_keepalive(struct kv *kv, kv_lease lease, struct mlfs_err *err);
int kv_lease_revoke(struct kv *kv, kv_lease lease, struct mlfs_err *err);

/* The end of the range of keys starting with PREFIX into END (reset
 * first), for kv_range: PREFIX with its last byte below 0xff incremented;
 * empty (the end of the key space) when there is none. */
void kv_prefix_end(struct buf *end, const void *prefix, size_t plen);

/* Forget the history before revision REV: reads at, and watches from,
 * earlier revisions get -ESTALE.  -EINVAL for a future revision. */
int kv_compact(struct kv *kv, kv_rev rev, struct mlfs_err *err);

#endif
