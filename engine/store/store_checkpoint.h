/* store_checkpoint.h - checkpoints of the remote backend's replica
 * (docs/store-format.md, "Checkpoints"): a replica as of seq N dumped to
 * S3 as write batches, the record NAME/checkpoint naming them, loading it
 * into a replica, and the compaction of the log entries it makes
 * unneeded. */
#ifndef MLFS_STORE_CHECKPOINT_H
#define MLFS_STORE_CHECKPOINT_H

#include <stdint.h>

#include "buf.h"
#include "store.h"

struct kv;
struct objstore;

/* A checkpoint record: its seq and its objects ('\0'-separated). */
struct ckpt_rec {
	uint64_t seq;
	size_t nobj;
	struct buf names;
};

/* NAME's record into REC (seq 0, no objects: none); *MOD (may be NULL)
 * its mod revision (0: absent).  -EIO for a value that is not one. */
int ckpt_read(struct kv *kv, const char *name, struct ckpt_rec *rec,
	      uint64_t *mod, struct mlfs_err *err);
void ckpt_rec_free(struct ckpt_rec *rec);

/* Load NAME's newest checkpoint into the replica S when its seq is past
 * AFTER: every key but the replica's own two is replaced, and APPLIED
 * (the replica's seq key) set to its seq in the last write.  *SEQ gets
 * the seq loaded, or stays AFTER (0 returned) when there is none newer. */
int ckpt_load(struct store *s, struct kv *kv, struct objstore *os,
	      const char *name, uint64_t after, uint64_t *seq,
	      struct mlfs_err *err);

#endif
