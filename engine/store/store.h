/* store.h - the ordered key-value store under all of mlfs.
 *
 * A narrow interface (get, put, delete, atomic batch, range scan,
 * snapshot) over RocksDB, so that another engine can stand behind it
 * without anything above changing.  Keys and values are opaque bytes.
 * Thread-safety: every call may run concurrently with any other, except
 * that one batch, iterator or snapshot belongs to one thread at a time. */
#ifndef MLFS_STORE_H
#define MLFS_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct store;
struct store_batch;
struct store_snapshot;
struct store_iter;

/* Space figures (docs/store-format.md, "Full disk"): the write-ahead log
 * never holds more than STORE_WAL_MB (so a reopen replays at most that),
 * and after a full disk writes resume once STORE_RESERVE_MB are free. */
#define STORE_RESERVE_MB 16
#define STORE_WAL_MB 48

/* Open the store in directory DIR, creating it when CREATE.  *OUT gets the
 * handle; close with store_close().  -ENOENT when missing and !CREATE. */
int store_open(const char *dir, bool create, struct store **out,
	       struct mlfs_err *err);
/* Open for reading only, beside a daemon that has it open for writing
 * (or when a full disk leaves no room to replay the write-ahead log):
 * writes fail with -EROFS. */
int store_open_readonly(const char *dir, struct store **out,
			struct mlfs_err *err);
/* Where messages about the store itself go (a full disk, writes working
 * again, opened read-only): FN gets each one, those said before it was
 * set first; NULL keeps them (at most 8) for the next FN.  FN runs under
 * a lock of the store: it must not call back into it. */
void store_set_notify(struct store *s, void (*fn)(void *ctx, const char *msg),
		      void *ctx);
void store_notify(struct store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Flush memtables and the WAL, then close.  NULL is a no-op. */
void store_close(struct store *s);

/* Read KEY into VAL (replacing its content) at SNAP (NULL: latest).
 * 0, -ENOENT, or -EIO. */
int store_get(struct store *s, const struct store_snapshot *snap,
	      const void *key, size_t klen, struct buf *val,
	      struct mlfs_err *err);
/* Read KEY at SNAP (NULL: latest) without copying it out: *VAL, *VLEN
 * point at the value, pinned in the store (its block or blob buffer)
 * until store_view_release(*VIEW).  The bytes have no alignment promised.
 * 0, -ENOENT (*VIEW NULL), or -EIO. */
struct store_view;
int store_get_view(struct store *s, const struct store_snapshot *snap,
		   const void *key, size_t klen, struct store_view **view,
		   const char **val, size_t *vlen, struct mlfs_err *err);
/* Unpin a value read by store_get_view.  NULL is a no-op. */
void store_view_release(struct store_view *view);
int store_put(struct store *s, const void *key, size_t klen,
	      const void *val, size_t vlen, struct mlfs_err *err);
int store_delete(struct store *s, const void *key, size_t klen,
		 struct mlfs_err *err);

/* Batches apply all or nothing.  _new never returns NULL (out of memory
 * aborts: mlfs_oom); nor do store_snapshot_new and store_iter_new. */
struct store_batch *store_batch_new(void);
void store_batch_put(struct store_batch *b, const void *key, size_t klen,
		     const void *val, size_t vlen);
/* Put a value given in two pieces (a header and a body) without copying. */
void store_batch_put2(struct store_batch *b, const void *key, size_t klen,
		      const void *v1, size_t l1, const void *v2, size_t l2);
void store_batch_delete(struct store_batch *b, const void *key, size_t klen);
/* Delete every key in [BEGIN, END). */
void store_batch_delete_range(struct store_batch *b, const void *begin,
			      size_t blen, const void *end, size_t elen);
size_t store_batch_count(const struct store_batch *b);
void store_batch_clear(struct store_batch *b);
void store_batch_free(struct store_batch *b);
/* Apply B atomically.  With SYNC the WAL is fsync'ed before returning;
 * without, the write survives a crash of the process (not of the host). */
int store_write(struct store *s, struct store_batch *b, bool sync,
		struct mlfs_err *err);

/* Bulk writes: many puts given in ascending key order, applied together
 * with a batch B as one atomic write (B first, then the puts).  On the
 * embedded store, from STORE_BULK_MIN puts on, and when B holds puts only,
 * the puts and B's go into sorted SST files written on the thread pool
 * and ingested at once (no write-ahead log, no memtable); otherwise (a
 * remote store, a small bulk, deletes in B) the puts join B and
 * store_write applies it.  Keys are copied, VALs borrowed until
 * store_bulk_write returns.  A key not above the one before fails the
 * write (-EINVAL, nothing written). */
#define STORE_BULK_MIN 4096
struct store_bulk;
struct store_bulk *store_bulk_new(void);
void store_bulk_put(struct store_bulk *bk, const void *key, size_t klen,
		    const void *val, size_t vlen);
/* Room for N more puts of KEY_BYTES bytes of keys in all, its pages
 * faulted in at once (vmem.h): for a bulk whose size is known. */
void store_bulk_reserve(struct store_bulk *bk, size_t n, size_t key_bytes);
/* MORE's puts after BK's: a bulk made in parts, each part on its own
 * thread.  MORE becomes part of BK (nothing copied; store_bulk_free of
 * BK frees it); later puts into BK follow MORE's. */
void store_bulk_join(struct store_bulk *bk, struct store_bulk *more);
size_t store_bulk_count(const struct store_bulk *bk);
int store_bulk_write(struct store *s, struct store_bulk *bk,
		     struct store_batch *b, struct mlfs_err *err);
void store_bulk_free(struct store_bulk *bk);

/* A consistent read view; free with store_snapshot_free(). */
struct store_snapshot *store_snapshot_new(struct store *s);
void store_snapshot_free(struct store *s, struct store_snapshot *snap);

/* Iterate keys in [LOWER, UPPER) at SNAP (NULL: latest).  The bounds are
 * copied.  Start it with store_iter_seek or store_iter_seek_last. */
struct store_iter *store_iter_new(struct store *s,
				  const struct store_snapshot *snap,
				  const void *lower, size_t llen,
				  const void *upper, size_t ulen);
void store_iter_seek(struct store_iter *it, const void *key, size_t klen);
void store_iter_seek_first(struct store_iter *it);
void store_iter_seek_last(struct store_iter *it);
bool store_iter_valid(const struct store_iter *it);
void store_iter_next(struct store_iter *it);
void store_iter_prev(struct store_iter *it);
/* Borrowed; valid until the next move or free of the iterator. */
const char *store_iter_key(const struct store_iter *it, size_t *klen);
const char *store_iter_value(const struct store_iter *it, size_t *vlen);
/* 0, or -EIO when the scan stopped on an error. */
int store_iter_status(const struct store_iter *it, struct mlfs_err *err);
void store_iter_free(struct store_iter *it);
/* End a walk: RC, or when RC is 0 the iterator's error; frees IT, then
 * LO and HI, the buffers of its bounds (may be NULL), which had to live
 * as long as IT. */
int store_iter_end(struct store_iter *it, int rc, struct buf *lo,
		   struct buf *hi);

/* Make everything written so far durable against power loss. */
int store_sync(struct store *s, struct mlfs_err *err);
/* Test hook: after AFTER more writes (put, delete, batch) every write
 * fails with ERR and writes nothing, as if the daemon had died there;
 * ERR 0 ends it.  For tests that a change is one batch. */
void store_test_fail_writes(struct store *s, int after, int err);
/* Call FN(ARG) after every write to S that succeeded (put, delete, batch),
 * on the writing thread, so that a cache above the store (the kernel's,
 * through fs/) learns that something changed.  FN must be cheap and must
 * not write to S.  Set once, before other threads write; NULL clears. */
void store_on_change(struct store *s, void (*fn)(void *arg), void *arg);
/* The number of writes to S that succeeded so far, moved on after each
 * write is applied (before store_on_change's FN): a cache that read this
 * before reading the store and sees it unchanged later knows that no
 * write has completed in between.  Thread-safe, lock-free. */
uint64_t store_change_seq(struct store *s);
/* True when S holds what it held when store_change_seq returned SEQ, for
 * every read made since then and before this call: no write ended since
 * nor is under way.  A single read with no snapshot is then consistent
 * with others made since SEQ (one record with another that was current
 * at SEQ).  Always false on the remote backend (its replica also takes
 * other hosts' batches).  Thread-safe, lock-free. */
bool store_unchanged_since(struct store *s, uint64_t seq);
/* The number of times other hosts' changes were applied to S (the remote
 * backend's replica; always 0 on the embedded store): a cache that only
 * its own writers keep exact (attrs.c) starts over when it moves. */
uint64_t store_foreign_seq(struct store *s);

/* ---- The remote backend (store_remote.c, docs/scale-out.md) ----
 * A store whose writes go to a replicated log in etcd (KV, kv.h) with
 * large batches in S3 (OS, objstore.h), and whose reads are served by a
 * local RocksDB replica in CACHE_DIR fed by a watch on the log.  Every
 * write (put, delete, batch) is one log entry, acknowledged once etcd
 * committed it.  A write returns -EAGAIN (nothing applied) when another
 * host changed, since the thread's store_txn_begin, a key the thread
 * read; anything else that another host committed first is rebased on.
 * NAME ([A-Za-z0-9._-], 1-64 bytes) names the store in etcd and S3.  KV
 * and OS belong to the caller and must outlive the store.  -ESTALE when
 * the log was compacted past the replica and no checkpoint covers the
 * gap.  A fresh replica, or one whose next entry was compacted away,
 * loads the newest checkpoint first (store_checkpoint). */
struct kv;
struct objstore;
int store_open_remote(const char *cache_dir, const char *name, struct kv *kv,
		      struct objstore *os, struct store **out,
		      struct mlfs_err *err);
/* Whether S is a remote store. */
bool store_is_remote(const struct store *s);
/* The name of S's process as a writer (names_session, "HOST.PID"): what
 * its batch objects are named by and what its staged records say they
 * are owned by ("o", docs/store-format.md).  "" on the embedded store
 * (one process owns it: its staging is recovered at mount only). */
#define STORE_WRITER_MAX 192
const char *store_writer_name(struct store *s);
/* Name S's writes NAME from now on: cluster_attach makes it the session's
 * name, so that a gone session says its writes are gone.  Call it before
 * writes start; a no-op on the embedded store. */
void store_set_writer_name(struct store *s, const char *name);
/* Close-to-open: catch the replica up to the log's head now (one etcd
 * read, then the missing entries).  A no-op (0) on the embedded store. */
int store_refresh(struct store *s, struct mlfs_err *err);
/* Mark the start of one operation of the calling thread (a request, a
 * task): the keys it reads from here on are what a conflicting change by
 * another host is checked against.  A no-op on the embedded store. */
void store_txn_begin(struct store *s);
/* ON: start (or, when started, restart) an inner operation of the
 * calling thread, self-contained (a counter's read-increment-write):
 * its writes are checked against its own reads only, and may be retried
 * after a store_refresh.  OFF: back to the outer operation, whose reads
 * stay checked throughout.  A no-op on the embedded store. */
void store_txn_inner(struct store *s, bool on);
/* Checkpoint the remote store S: its replica as of the seq it applied
 * (*SEQ) goes to S3, NAME/checkpoint records it (compare-guarded), then
 * the log entries up to the previous checkpoint go, with their batch
 * objects and that checkpoint's objects.  -EINVAL on the embedded
 * store; -ENODATA for an empty log; -EALREADY when the newest
 * checkpoint is as new; -EAGAIN when another host recorded one at the
 * same time (nothing recorded).  Slow: never on a FUSE worker. */
int store_checkpoint(struct store *s, uint64_t *seq, struct mlfs_err *err);
/* store_checkpoint when the replica is EVERY entries or more past the
 * newest checkpoint (read once, then remembered): 1 when one was made,
 * 0 when none was due (or another host's came first, or S is embedded),
 * else store_checkpoint's error.  For the scheduler leader's thread. */
#define STORE_CHECKPOINT_EVERY 10000
int store_checkpoint_auto(struct store *s, uint64_t every,
			  struct mlfs_err *err);
/* FN with the name of each object under NAME/batches/ or
 * NAME/checkpoints/ in OS that no log entry nor NAME/checkpoint in KV
 * names (a writer or a checkpoint that died between its objects and its
 * commit, or a compaction cut short): what `mlfs check` reports.  Stops on FN's non-zero. */
int store_remote_check(struct kv *kv, struct objstore *os, const char *name,
		       int (*fn)(void *ctx, const char *object), void *ctx,
		       struct mlfs_err *err);
/* Deletes each object store_remote_check would report whose writer (the
 * WRITER in NAME/batches/WRITER-ID, the writing store's host.pid) GONE
 * says is gone; *DELETED (may be NULL) counts them.  Objects of live
 * writers, and names of another form, are left alone.  A writer cut off
 * from etcd may still commit the entry naming its object: GONE must say
 * gone only of writers absent for longer than a grace period
 * (store_sweep.c). */
int store_remote_sweep(struct kv *kv, struct objstore *os, const char *name,
		       bool (*gone)(void *ctx, const char *writer), void *ctx,
		       size_t *deleted, struct mlfs_err *err);
/* store_remote_sweep of S's store, GONE saying which writers are gone
 * (the elected scheduler's sweep, engine/data/sweep.c), after one listing
 * of the batch objects: when no object's writer is gone, the log is not
 * read.  GONE is asked of committed objects' writers too.  0 with
 * *DELETED 0 on the embedded store. */
int store_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *writer), void *ctx,
		     size_t *deleted, struct mlfs_err *err);
/* store_remote_sweep of every writer but S itself, for a host alone with
 * the store (no other session alive, cluster_others), as the startup
 * recoveries are: the dead writers' stray batch objects go.  0 with
 * *DELETED 0 on the embedded store. */
int store_sweep_alone(struct store *s, size_t *deleted, struct mlfs_err *err);

/* The per-store state of a module above the store (its locks, caches,
 * counters), so that two stores open in one process never share any.
 * KEY is the address of a static object of that module; the first call
 * for a KEY makes the state with MAKE, and store_close frees it with
 * FREE_FN (may be NULL).  Never NULL (out of memory aborts).  Thread-safe;
 * the state lives until store_close. */
void *store_state(struct store *s, const void *key, void *(*make)(void),
		  void (*free_fn)(void *));

/* A mutex of a module in store S, made on first use (store_state with a
 * plain mutex): for modules whose only per-store state is one lock. */
pthread_mutex_t *store_lock(struct store *s, const void *key);

/* FN with the name of every key "PREFIX/NAME" (PREFIX ends in '/'; NAME
 * of 1-MAX bytes, longer ones skipped), in order: the listing of a
 * module's named records.  Stops on FN's non-zero and returns it. */
int store_list_names(struct store *s, const char *prefix, size_t max,
		     int (*fn)(void *ctx, const char *name), void *ctx);

/* The key of a module's named record, "PREFIX" NAME (e.g. "m/m/" +
 * "churn"), and of its records by id, "M/K/" + ID big-endian (e.g.
 * 'j', 'r', 7): K a kind of the module M's records.  K reset first. */
void key_named(struct buf *k, const char *prefix, const char *name);
/* The value of record "PREFIX" NAME at SNAP (NULL: now) into OUT.
 * -ENOENT, also for a NAME outside the name rule. */
int store_get_named(struct store *s, const struct store_snapshot *snap,
		    const char *prefix, const char *name, struct buf *out);
void key_kind_id(struct buf *k, char module, char kind, uint64_t id);
/* Key helpers: append a big-endian u64 (sorts numerically) or bytes. */
void key_put_u64(struct buf *k, uint64_t v);
uint64_t key_get_u64(const char *p);

#endif
