/* objstore.h - immutable named objects: the blob half of scale-out.
 *
 * A flat namespace of objects that are written once and never changed
 * (put-once is create-only), read whole or by byte range, listed by
 * prefix in byte order, and deleted.  Two implementations stand behind
 * one vtable: the embedded store (keys o/, docs/store-format.md) and any
 * S3 service (objstore_s3.c: Ceph radosgw, AWS, MinIO).  This is not the
 * artifact tree (blob.h), whose files change in place.
 *
 * Names: 1-OBJSTORE_NAME_MAX bytes of [A-Za-z0-9._~/-], not starting or
 * ending with '/', no "//", no "." or ".." component; anything else is
 * -EINVAL (so a name needs no escaping in a URL or a key).
 * Thread-safety: every call may run concurrently with any other on the
 * same handle.  Errors: 0 or a negative errno; ERR (may be NULL) gets a
 * message naming the object and, for S3, the service's error code. */
#ifndef MLFS_OBJSTORE_H
#define MLFS_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

#define OBJSTORE_NAME_MAX 1024
/* The largest object put_once takes (S3's limit of one PUT): -EFBIG. */
#define OBJSTORE_SIZE_MAX (5ull << 30)
/* The most names one list page returns (S3's own page size). */
#define OBJSTORE_PAGE_MAX 1000

struct objstore;

/* One listed object: NAME (borrowed, valid during the call) and SIZE.
 * Non-zero stops the listing, and the list call returns it. */
typedef int (*objstore_list_fn)(void *ctx, const char *name, uint64_t size);

/* The objects of one store, the embedded one: keys o/ of S, which must
 * outlive the handle.  Never fails (out of memory aborts). */
struct objstore *objstore_open_store(struct store *s);

/* An S3 bucket.  URL is s3://BUCKET@ENDPOINT, ENDPOINT HOST[:PORT] (https)
 * or http://HOST[:PORT] / https://HOST[:PORT]; requests are path-style
 * (ENDPOINT/BUCKET/NAME), signed with SigV4.  Credentials come from
 * CRED_FILE when not NULL (lines KEY=VALUE of AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION; the file must
 * belong to this user and be unreadable by group and others: -EACCES
 * otherwise), else from the environment (the same names; AWS_REGION
 * falls back to AWS_DEFAULT_REGION, then us-east-1).  Nothing is
 * contacted yet: a wrong key or a missing bucket shows at the first
 * call.  -EINVAL for a bad URL, -ENOKEY when no key is found. */
int objstore_open_s3(const char *url, const char *cred_file,
		     struct objstore **out, struct mlfs_err *err);

/* Close and free; NULL is a no-op.  No call may be running on OS. */
void objstore_close(struct objstore *os);
/* "store" or "s3": which implementation OS is. */
const char *objstore_kind(const struct objstore *os);

/* Create NAME with the LEN bytes at DATA, or -EEXIST when NAME exists
 * (nothing changes then).  Atomic: a reader sees all of it or nothing. */
int objstore_put_once(struct objstore *os, const char *name, const void *data,
		      size_t len, struct mlfs_err *err);
/* Bytes [OFF, OFF + LEN) of NAME into OUT (reset first), clipped to the
 * object's end; LEN 0 reads to the end; OFF at or past the end reads
 * nothing.  -ENOENT. */
int objstore_get(struct objstore *os, const char *name, uint64_t off,
		 uint64_t len, struct buf *out, struct mlfs_err *err);
/* The size of NAME.  -ENOENT. */
int objstore_head(struct objstore *os, const char *name, uint64_t *size,
		  struct mlfs_err *err);
/* Remove NAME.  -ENOENT when it did not exist (for S3, which does not
 * say, a head first tells; a concurrent delete may still return 0). */
int objstore_delete(struct objstore *os, const char *name,
		    struct mlfs_err *err);
/* One page: FN for each object whose name starts with PREFIX ("" for
 * all) and sorts after AFTER (byte order; NULL or "" for the first),
 * in order, at most LIMIT of them (1-OBJSTORE_PAGE_MAX; 0 means
 * OBJSTORE_PAGE_MAX).  *MORE (may be NULL) says whether a next page may
 * hold more: continue with AFTER the last name given. */
int objstore_list(struct objstore *os, const char *prefix, const char *after,
		  size_t limit, objstore_list_fn fn, void *ctx, bool *more,
		  struct mlfs_err *err);
/* Every page of objstore_list, AFTER to the end. */
int objstore_list_all(struct objstore *os, const char *prefix,
		      const char *after, objstore_list_fn fn, void *ctx,
		      struct mlfs_err *err);

/* 0 when NAME follows the name rule above, else -EINVAL with a message. */
int objstore_check_name(const char *name, struct mlfs_err *err);

#endif
