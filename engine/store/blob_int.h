/* blob_int.h - what blob.c (trees, in-place bytes) and blob_stage.c (a
 * handle's staged writes, whole at commit) share: object records, the
 * chunks of a content id, the locks.  Private to engine/store. */
#ifndef MLFS_BLOB_INT_H
#define MLFS_BLOB_INT_H

#include <pthread.h>

#include "blob.h"
#include "buf.h"
#include "store.h"

struct obj {
	struct blob_stat st;
	uint64_t parent;
	uint64_t data;		/* content id of the bytes; 0: st.id */
};

static inline uint64_t obj_data(const struct obj *o)
{
	return o->data ? o->data : o->st.id;
}

int blob_obj_load(struct store *s, uint64_t id, struct obj *o);
void blob_obj_put(struct store_batch *b, const struct obj *o);
/* Writers of one object's content; namespace changes. */
pthread_mutex_t *blob_stripe(struct store *s, uint64_t id);
pthread_mutex_t *blob_ns_lock(struct store *s);
void blob_key_chunk(struct buf *k, uint64_t cid, uint64_t seq);

/* Bytes of content CID, SIZE long: read at OFF; write at OFF into B;
 * cut to NEWSIZE into B. */
long blob_content_read(struct store *s, uint64_t cid, uint64_t size,
		       uint64_t off, char *dst, size_t len);
int blob_content_write(struct store *s, struct store_batch *b, uint64_t cid,
		       uint64_t size, uint64_t off, const char *data, size_t len);
int blob_content_cut(struct store *s, struct store_batch *b, uint64_t cid,
		     uint64_t size, uint64_t newsize);
/* Into B: delete content CID's chunks; object ID whole (record, bytes,
 * fresh mark). */
void blob_drop_content(struct store_batch *b, uint64_t cid);
void blob_drop_object(struct store *s, struct store_batch *b, uint64_t id);

/* blob_stage.c: a file made by blob_create is "fresh" (b/f/ID) until a
 * handle on it closes; into B, mark or clear it. */
void blob_fresh_mark(struct store *s, struct store_batch *b, uint64_t id);
void blob_fresh_clear(struct store_batch *b, uint64_t id);
/* Cut the content a handle is writing to ID; -ENOENT when none is. */
int blob_stage_truncate(struct store *s, uint64_t id, uint64_t size,
			struct mlfs_err *err);

/* -EFBIG when a file would end past BLOB_MAX_SIZE (off + len). */
int blob_check_size(uint64_t off, uint64_t len, struct mlfs_err *err);

#endif
