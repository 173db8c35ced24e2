/* codec.h - how records become bytes: a small msgpack writer and reader.
 *
 * The only msgpack-facing API of the engine (forest models have their own
 * codec in engine/forest).  Writers append to a struct buf; the reader
 * parses a value once and hands out borrowed views (struct dval) that live
 * as long as their struct dec. */
#ifndef MLFS_CODEC_H
#define MLFS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

void codec_enc_map(struct buf *b, uint32_t n);
void codec_enc_array(struct buf *b, uint32_t n);
void codec_enc_str(struct buf *b, const char *s, size_t len);
void codec_enc_cstr(struct buf *b, const char *s);
void codec_enc_bin(struct buf *b, const void *p, size_t len);
void codec_enc_u64(struct buf *b, uint64_t v);
void codec_enc_i64(struct buf *b, int64_t v);
void codec_enc_f64(struct buf *b, double v);
void codec_enc_bool(struct buf *b, bool v);
void codec_enc_nil(struct buf *b);
/* Header of a bin value of LEN bytes, for bodies written separately.
 * Returns the header length (at most 5) written to OUT. */
size_t codec_enc_bin_header(char out[5], size_t len);

struct dec;
struct dval {
	const void *o;		/* borrowed from its struct dec */
};

/* False unless every container in DATA[0..LEN) declares no more items
 * than bytes are left after its header, less the items still owed by the
 * containers around it (a walk, nothing built).  Call it before
 * codec_dec_new (or msgpack_unpack) on bytes from outside the store: a
 * header claiming 2^32 items makes msgpack allocate 2^32 objects before
 * it finds the bytes missing.  True does not mean the value is whole. */
bool codec_check_sizes(const void *data, size_t len);

/* Parse DATA.  NULL when it is not one whole msgpack value.  The input is
 * copied where needed; free with codec_dec_free(). */
struct dec *codec_dec_new(const char *data, size_t len);
/* Parse DATA into D again, reusing its memory (for loops over many
 * records).  False when it is not one whole msgpack value. */
bool codec_dec_reset(struct dec *d, const char *data, size_t len);
void codec_dec_free(struct dec *d);
struct dval codec_dec_root(const struct dec *d);

bool codec_dval_is_nil(struct dval v);
/* Look KEY up in a map; false when V is no map or has no such key. */
bool codec_dval_get(struct dval map, const char *key, struct dval *out);
bool codec_dval_u64(struct dval v, uint64_t *out);
bool codec_dval_i64(struct dval v, int64_t *out);
bool codec_dval_f64(struct dval v, double *out);
bool codec_dval_bool(struct dval v, bool *out);
/* Strings and bins: borrowed bytes, not NUL-terminated. */
bool codec_dval_str(struct dval v, const char **p, size_t *len);
size_t codec_dval_len(struct dval v);			/* array or map length */
struct dval codec_dval_at(struct dval arr, size_t i);	/* array element */
struct dval codec_dval_key_at(struct dval map, size_t i);
struct dval codec_dval_val_at(struct dval map, size_t i);

/* Convenience: read map fields with defaults. */
uint64_t codec_dget_u64(struct dval map, const char *key, uint64_t dflt);
int64_t codec_dget_i64(struct dval map, const char *key, int64_t dflt);
double codec_dget_f64(struct dval map, const char *key, double dflt);
bool codec_dget_bool(struct dval map, const char *key, bool dflt);
/* Copy a string field into OUT (size N, NUL-terminated); false if absent
 * or too long. */
bool codec_dget_str(struct dval map, const char *key, char *out, size_t n);

/* ---- records as tables of fields ----
 * Most records are one map of a struct's fields.  A module names them
 * once, in a table (CODEC_FIELD), and writes and reads the record with it
 * instead of a line per field in each direction. */
enum codec_type {
	CODEC_UINT,	/* unsigned integer (or enum) of 4 or 8 bytes */
	CODEC_INT,	/* signed integer of 4 or 8 bytes */
	CODEC_F64,	/* double; absent reads NaN */
	CODEC_BOOL,
	CODEC_CSTR,	/* char array, NUL-terminated; absent or too long: "" */
	CODEC_BUF,	/* struct buf, written as a string; read appends */
};

struct codec_field {
	const char *key;
	enum codec_type type;
	size_t off, size;	/* of the member in its struct */
	int64_t dflt;		/* integers and bools: read when absent */
	bool omit0;		/* integers: not written when 0; CSTR: when "" */
};

/* Field KEY of member MEMBER of struct type T, of codec type TYPE. */
#define CODEC_FIELD(key, T, member, type, dflt)                              \
	{ key, type, offsetof(T, member), sizeof(((T *)0)->member), dflt, false }

/* The owner of an object, kept in its own record: members uid, gid and
 * mode of T (MODE0: read when absent, as from records older than them). */
#define CODEC_OWNER_FIELDS(T, mode0)                                         \
	CODEC_FIELD("uid", T, uid, CODEC_UINT, 0),                           \
	CODEC_FIELD("gid", T, gid, CODEC_UINT, 0),                           \
	CODEC_FIELD("mode", T, mode, CODEC_UINT, mode0)

/* A map of the fields F[0..N) of OBJ (omit0 ones at 0 or "" left out) with
 * room for EXTRA more pairs, which the caller writes after. */
void codec_enc_fields(struct buf *v, const void *obj,
		      const struct codec_field *f, size_t n, uint32_t extra);
/* Fields F[0..N) of map R into OBJ; an absent one takes its default. */
void codec_dec_fields(struct dval r, void *obj, const struct codec_field *f,
		      size_t n);
/* The record at KEY[0..KLEN) in S (SNAP may be NULL), parsed: *D (it
 * owns the record's bytes), freed with codec_dec_free; NULL on error.
 * -ENOENT, or -EIO when it is not msgpack. */
int codec_load(struct store *s, const struct store_snapshot *snap,
	       const void *key, size_t klen, struct dec **d);
/* codec_load of the record PREFIX NAME (store_get_named: -ENOENT for a
 * name names.h refuses). */
int codec_load_named(struct store *s, const struct store_snapshot *snap,
		     const char *prefix, const char *name, struct dec **d);
/* codec_load, then its fields F[0..N) into OBJ. */
int codec_load_fields(struct store *s, const struct store_snapshot *snap,
		      const struct buf *key, void *obj,
		      const struct codec_field *f, size_t n);
/* Put the map of OBJ's fields F[0..N) at KEY into batch B. */
void codec_put_fields(struct store_batch *b, const struct buf *key,
		      const void *obj, const struct codec_field *f, size_t n);

#endif
