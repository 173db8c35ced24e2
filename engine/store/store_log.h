/* store_log.h - the records of the remote backend's replicated log
 * (docs/store-format.md, "Replicated log"): the keys NAME/head and
 * NAME/log/SEQ in etcd, a log entry's value (a write batch inline, or
 * the name of the S3 object holding it), and a walk over the keys a
 * write batch touches, for the conflict check of store_remote.c. */
#ifndef MLFS_STORE_LOG_H
#define MLFS_STORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Batches up to this size ride in the log entry; larger ones go to an
 * object NAME/batches/HOST-ID first, and the entry names it. */
#define LOG_INLINE_MAX (256u << 10)
#define LOG_ID_LEN 16
enum log_entry_kind { LOG_ENTRY_INLINE = 'B', LOG_ENTRY_OBJECT = 'O' };

/* NAME "/head" and NAME "/log/" SEQ (8 bytes big-endian); K reset first. */
void log_key_head(struct buf *k, const char *name);
void log_key_entry(struct buf *k, const char *name, uint64_t seq);
/* The SEQ of an entry key of NAME: false for any other key. */
bool log_key_seq(const char *name, const char *k, size_t kl, uint64_t *seq);

/* An entry: KIND, the writer's random ID, then the batch (inline) or the
 * object's name.  V reset first. */
void log_entry_encode(struct buf *v, enum log_entry_kind kind,
		      const unsigned char id[LOG_ID_LEN], const void *p,
		      size_t n);
/* The parts of an entry, borrowed from V: -EINVAL when it is not one. */
int log_entry_decode(const char *v, size_t vl, enum log_entry_kind *kind,
		     const unsigned char **id, const char **p, size_t *n);

/* FN for each key or range a RocksDB write batch (its rep bytes) writes:
 * [B, E) for a range delete, E NULL for one key.  A non-zero return of
 * FN stops the walk and is returned.  -EINVAL for a record this walk
 * does not know (the caller then assumes the batch touches anything). */
typedef int (*log_key_fn)(void *ctx, const char *b, size_t bl,
			  const char *e, size_t el);
int log_batch_keys(const char *rep, size_t len, log_key_fn fn, void *ctx);

#endif
