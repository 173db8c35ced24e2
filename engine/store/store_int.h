/* store_int.h - what store.c (the RocksDB edge) and store_remote.c (the
 * replicated log behind the same store.h) share: the remote backend's
 * hooks that store.c calls when a store has one, and the local writes
 * that bypass the log (applying an entry to the replica). */
#ifndef MLFS_STORE_INT_H
#define MLFS_STORE_INT_H

#include "store.h"

struct store_remote;
struct kv;
struct objstore;

/* store.c: attach R (NULL detaches); store_close then calls
 * store_remote_free(R) before closing RocksDB. */
void store_set_remote(struct store *s, struct store_remote *r);
/* The bytes of B's RocksDB rep, borrowed until B changes. */
const char *store_batch_rep(const struct store_batch *b, size_t *len);
/* The remote backend of S, or NULL. */
struct store_remote *store_remote_of(struct store *s);
/* Write the batch REP (LEN 0: none) and KEY = VAL (KEY NULL: none) to the local RocksDB
 * in one atomic write, past the log: 0 or -EIO. */
int store_local_apply(struct store *s, const char *rep, size_t len,
		      const void *key, size_t klen, const void *val,
		      size_t vlen, struct mlfs_err *err);
/* Tell the change hook (store_on_change) that other hosts' entries were
 * applied: moves store_change_seq and store_foreign_seq on. */
void store_changed(struct store *s);

/* The replica's own keys, past the log (docs/store-format.md): the
 * last seq applied, and the store's NAME. */
#define STORE_K_APPLIED "\x01Q"
#define STORE_K_ORIGIN "\x01O"

/* store_remote.c, called by store.c when the store has a remote. */
int store_remote_write(struct store_remote *r, const char *rep, size_t len,
		       struct mlfs_err *err);
void store_remote_note_read(struct store_remote *r, const void *lo,
			    size_t lol, const void *hi, size_t hil,
			    bool point);
int store_remote_refresh(struct store_remote *r, struct mlfs_err *err);
void store_remote_txn_begin(struct store_remote *r);
void store_remote_txn_inner(struct store_remote *r, bool on);
void store_remote_free(struct store_remote *r);
/* R's etcd, object store, store name and host name (store_checkpoint.c),
 * borrowed for R's life. */
void store_remote_parts(struct store_remote *r, struct kv **kv,
			struct objstore **os, const char **name,
			const char **host);
/* The last seq R's replica applied. */
uint64_t store_remote_applied(struct store_remote *r);

#endif
