/* features_int.h - what the files of feature tables share: the meta
 * record, store keys, row records and the lock every change holds
 * (features.c owns them; features_write.c, features_read.c and
 * features_lookup.c use them).  Private to engine/features. */
#ifndef MLFS_FEATURES_INT_H
#define MLFS_FEATURES_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "features.h"
#include "store.h"
#include "types.h"

#define FEAT_MAX_KEYS 16
#define NULL_LEN 0xffffffffu

/* The store's feature lock: every change reads meta and writes its batch
 * under it, so commits never interleave. */
pthread_mutex_t *features_lock(struct store *s);
#define FEAT_LOCK(s) features_lock(s)

struct fmeta {
	uint64_t id, rows, versions, fbytes, ver;
	int64_t ctime, mtime;
	uint32_t ncols;
	char **names;
	enum col_type *types;
	uint32_t nkeys;
	char **keys;
	bool keys_set;
	char *ts;
	uint32_t uid, gid, mode;	/* creator; mode 0: none recorded */
};

/* A row being built in table column order. */
struct mrow {
	uint32_t n;
	const char **p;
	size_t *len;		/* NULL_LEN: null */
	bool has_ts;
	int64_t ts;
};

/* ---- keys (features.c) ---- */

/* K = f/KIND/ID, the prefix of a table's records (KIND 'r' latest rows,
 * 'v' versions, 't' texts). */
void features_key_rows(struct buf *k, char kind, uint64_t id);
/* Append V, sign-flipped big-endian: ordered as integers. */
void features_put_i64_key(struct buf *k, int64_t v);
/* Append one key field, self-delimiting (see features.c). */
void features_enc_key_field(struct buf *k, const char *p, size_t len);
/* The key field of an int whose text is canonical (what the above
 * makes of it), and whether the text of a valid int P[0..LEN) is. */
void features_enc_int_key(struct buf *k, int64_t v);
bool features_int_canonical(const char *p, size_t len);
/* Decode the NKEYS fields at P[0..LEN) into OUT as key text (fields
 * joined by ','); the bytes taken, 0 if damaged. */
size_t features_dec_key(const char *p, size_t len, uint32_t nkeys, struct buf *out);
/* Split KEY text at ',' into NK parts (the last takes the rest).  False
 * when the count does not match. */
bool features_split_key(const char *key, uint32_t nk, const char **parts,
			size_t *lens);

/* ---- meta (features.c) ---- */

void features_meta_free(struct fmeta *m);
int features_meta_add_col(struct fmeta *m, const char *name, enum col_type t);
void features_meta_clear_cols(struct fmeta *m);
int features_meta_set_keys(struct fmeta *m, char *const *keys, uint32_t n);
/* Read NAME's meta (SNAP or NULL for the latest) into M: free with
 * features_meta_free.  -ENOENT, -EIO. */
int features_meta_load(struct store *s, const struct store_snapshot *snap,
		       const char *name, struct fmeta *m);
/* Decode a meta record's bytes P[0..LEN) into M.  -EIO when damaged. */
int features_meta_decode(const char *p, size_t len, struct fmeta *m);
/* NAME's meta (SNAP or NULL for the latest), decoded once per stored
 * record (features_meta_cache.c): *OUT is shared and read-only until
 * features_meta_release.  -ENOENT, -EIO. */
int features_meta_ref(struct store *s, const struct store_snapshot *snap,
		      const char *name, const struct fmeta **out);
void features_meta_release(struct store *s, const struct fmeta *m);
/* data.csv's header line of a shared meta M (features_meta_ref's). */
const struct buf *features_meta_header(const struct fmeta *m);
/* The rows/KEY text of KEY (as of AT when AS_OF) made before under the
 * shared meta M into OUT, or false; and keeping one (features_row_read):
 * the same meta record means the same rows (features_meta_cache.c). */
bool features_meta_row_get(struct store *s, const struct fmeta *m,
			   const char *key, bool as_of, int64_t at,
			   struct buf *out);
void features_meta_row_put(struct store *s, const struct fmeta *m,
			   const char *key, bool as_of, int64_t at,
			   const struct buf *text);
void features_meta_put(struct store_batch *b, const char *name,
		       const struct fmeta *m);
/* The column named P[0..LEN), or -1. */
int features_col_index(const struct fmeta *m, const char *name, size_t len);
/* The CSV text length of a field's bytes. */
size_t features_field_len(const char *p, size_t len);
/* OUT = data.csv's header line (empty without columns). */
void features_header_text(const struct fmeta *m, struct buf *out);
/* data.csv's size in bytes: header, fields, commas and newlines.  M is
 * shared (features_meta_ref): its header line is made once. */
uint64_t features_data_size(const struct fmeta *m);
/* Delete every f/KIND/ID/... record in B. */
void features_range_delete(struct store_batch *b, char kind, uint64_t id);
/* *OUT: the public schema of M; free with features_schema_free. */
int features_schema_from_meta(const struct fmeta *m, struct features_schema **out);
void features_free_names(char **arr, uint32_t n);
/* Put text WHAT (d, g, p, r) of table ID in B; empty deletes it. */
void features_text_put(struct store_batch *b, uint64_t id, char what,
		       const char *text, size_t len);

/* ---- row records (features.c) ---- */

int features_mrow_init(struct mrow *r, uint32_t n);
void features_mrow_clear(struct mrow *r);
void features_mrow_free(struct mrow *r);
/* Load a stored record into R (fields borrowed from D). */
int features_mrow_load(struct mrow *r, const char *v, size_t vl, struct dec **d);
/* The CSV text length of R's fields (meta.fbytes' share). */
uint64_t features_mrow_bytes(const struct mrow *r);
void features_mrow_encode(const struct mrow *r, struct buf *v);

#endif
