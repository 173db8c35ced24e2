/* codec.c - msgpack encoding and decoding of records, over msgpack-c.
 *
 * Writers go through a msgpack_packer whose callback appends to a buf.
 * The reader unpacks into a msgpack zone owned by struct dec. */
#include "codec.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

static int append_cb(void *data, const char *p, size_t n)
{
	return buf_append(data, p, n);
}

#define PACKER(b) msgpack_packer pk; msgpack_packer_init(&pk, (b), append_cb)

/* The encoders of one msgpack call: NAME(B, V) packs V of TYPE. */
#define CODEC_ENC(name, type, pack_fn)                                       \
	void name(struct buf *b, type v)                                     \
	{                                                                    \
		PACKER(b);                                                   \
		pack_fn(&pk, v);                                             \
	}
CODEC_ENC(codec_enc_map, uint32_t, msgpack_pack_map)
CODEC_ENC(codec_enc_array, uint32_t, msgpack_pack_array)
CODEC_ENC(codec_enc_u64, uint64_t, msgpack_pack_uint64)
CODEC_ENC(codec_enc_i64, int64_t, msgpack_pack_int64)
CODEC_ENC(codec_enc_f64, double, msgpack_pack_double)

void codec_enc_str(struct buf *b, const char *s, size_t len)
{
	PACKER(b);
	msgpack_pack_str(&pk, len);
	msgpack_pack_str_body(&pk, s, len);
}

void codec_enc_cstr(struct buf *b, const char *s)
{
	codec_enc_str(b, s, strlen(s));
}

void codec_enc_bin(struct buf *b, const void *p, size_t len)
{
	PACKER(b);
	msgpack_pack_bin(&pk, len);
	msgpack_pack_bin_body(&pk, p, len);
}

size_t codec_enc_bin_header(char out[5], size_t len)
{
	unsigned char *o = (unsigned char *)out;
	if (len < 256) {
		o[0] = 0xc4;
		o[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		o[0] = 0xc5;
		o[1] = (unsigned char)(len >> 8);
		o[2] = (unsigned char)len;
		return 3;
	}
	o[0] = 0xc6;
	for (int i = 0; i < 4; i++)
		o[1 + i] = (unsigned char)(len >> (24 - 8 * i));
	return 5;
}

void codec_enc_bool(struct buf *b, bool v)
{
	PACKER(b);
	if (v)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
}

void codec_enc_nil(struct buf *b)
{
	PACKER(b);
	msgpack_pack_nil(&pk);
}

/* Each item takes at least one byte, so a container declaring more items
 * than bytes are left (with the items still owed by the containers around
 * it) is a lie; walking the headers without building anything finds it
 * before msgpack allocates for it.  So msgpack never holds more objects
 * than the input has bytes. */
bool codec_check_sizes(const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t pos = 0, pending = 1;
	while (pending) {
		if (pos >= len)
			return false;
		uint8_t c = p[pos++];
		size_t n = 0, skip = 0, items = 0;
		int hdr = 0;
		pending--;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
			continue;
		if ((c & 0xf0) == 0x80) { items = 2 * (size_t)(c & 0x0f); goto container; }
		if ((c & 0xf0) == 0x90) { items = c & 0x0f; goto container; }
		if ((c & 0xe0) == 0xa0) { skip = c & 0x1f; goto payload; }
		switch (c) {
		case 0xcc: case 0xd0: skip = 1; goto payload;
		case 0xcd: case 0xd1: skip = 2; goto payload;
		case 0xca: case 0xce: case 0xd2: skip = 4; goto payload;
		case 0xcb: case 0xcf: case 0xd3: skip = 8; goto payload;
		case 0xd4: skip = 2; goto payload;
		case 0xd5: skip = 3; goto payload;
		case 0xd6: skip = 5; goto payload;
		case 0xd7: skip = 9; goto payload;
		case 0xd8: skip = 17; goto payload;
		case 0xc4: case 0xd9: hdr = 1; break;
		case 0xc5: case 0xda: hdr = 2; break;
		case 0xc6: case 0xdb: hdr = 4; break;
		case 0xc7: hdr = 1; skip = 1; break;	/* ext 8: + type */
		case 0xc8: hdr = 2; skip = 1; break;
		case 0xc9: hdr = 4; skip = 1; break;
		case 0xdc: case 0xde: hdr = 2; break;
		case 0xdd: case 0xdf: hdr = 4; break;
		default: return false;	/* 0xc1: never used */
		}
		if (len - pos < (size_t)hdr)
			return false;
		for (int i = 0; i < hdr; i++)
			n = n << 8 | p[pos + (size_t)i];
		pos += (size_t)hdr;
		if (c == 0xdc || c == 0xdd) { items = n; goto container; }
		if (c == 0xde || c == 0xdf) { items = 2 * n; goto container; }
		skip += n;
payload:
		if (len - pos < skip)
			return false;
		pos += skip;
		continue;
container:
		if (pending + items > len - pos)	/* all still owed, a byte each */
			return false;
		pending += items;
	}
	return true;
}

struct dec {
	msgpack_zone zone;
	msgpack_object root;
	char *owned;	/* the bytes strings point into, when the dec owns them */
};

struct dec *codec_dec_new(const char *data, size_t len)
{
	struct dec *d = malloc(sizeof(*d));
	size_t off = 0;

	if (!d)
		return NULL;
	msgpack_zone_init(&d->zone, 2048);
	d->owned = NULL;
	if (msgpack_unpack(data, len, &off, &d->zone, &d->root) !=
	    MSGPACK_UNPACK_SUCCESS || off != len) {
		msgpack_zone_destroy(&d->zone);
		free(d);
		return NULL;
	}
	return d;
}

bool codec_dec_reset(struct dec *d, const char *data, size_t len)
{
	size_t off = 0;
	msgpack_zone_clear(&d->zone);
	return msgpack_unpack(data, len, &off, &d->zone, &d->root) ==
		       MSGPACK_UNPACK_SUCCESS && off == len;
}

void codec_dec_free(struct dec *d)
{
	if (!d)
		return;
	free(d->owned);
	msgpack_zone_destroy(&d->zone);
	free(d);
}

struct dval codec_dec_root(const struct dec *d)
{
	return (struct dval){ &d->root };
}

static const msgpack_object *O(struct dval v)
{
	return v.o;
}

bool codec_dval_is_nil(struct dval v)
{
	return !v.o || O(v)->type == MSGPACK_OBJECT_NIL;
}

bool codec_dval_get(struct dval map, const char *key, struct dval *out)
{
	const msgpack_object *m = O(map);
	size_t klen = strlen(key);

	if (!m || m->type != MSGPACK_OBJECT_MAP)
		return false;
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    !memcmp(k->via.str.ptr, key, klen)) {
			out->o = &m->via.map.ptr[i].val;
			return true;
		}
	}
	return false;
}

bool codec_dval_u64(struct dval v, uint64_t *out)
{
	const msgpack_object *o = O(v);
	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*out = o->via.u64;
	return true;
}

bool codec_dval_i64(struct dval v, int64_t *out)
{
	const msgpack_object *o = O(v);
	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*out = (int64_t)o->via.u64;
		return true;
	}
	return false;
}

bool codec_dval_f64(struct dval v, double *out)
{
	const msgpack_object *o = O(v);
	int64_t i = 0;
	bool f = o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32);
	if (!f && !codec_dval_i64(v, &i))
		return false;
	*out = f ? o->via.f64 : (double)i;
	return true;
}

bool codec_dval_bool(struct dval v, bool *out)
{
	const msgpack_object *o = O(v);
	bool ok = o && o->type == MSGPACK_OBJECT_BOOLEAN;
	if (ok)
		*out = o->via.boolean;
	return ok;
}

bool codec_dval_str(struct dval v, const char **p, size_t *len)
{
	const msgpack_object *o = O(v);
	if (!o || (o->type != MSGPACK_OBJECT_STR && o->type != MSGPACK_OBJECT_BIN))
		return false;
	bool str = o->type == MSGPACK_OBJECT_STR;
	*p = str ? o->via.str.ptr : o->via.bin.ptr;
	*len = str ? o->via.str.size : o->via.bin.size;
	return true;
}

size_t codec_dval_len(struct dval v)
{
	const msgpack_object *o = O(v);
	if (!o)
		return 0;
	if (o->type == MSGPACK_OBJECT_ARRAY)
		return o->via.array.size;
	if (o->type == MSGPACK_OBJECT_MAP)
		return o->via.map.size;
	return 0;
}

struct dval codec_dval_at(struct dval arr, size_t i)
{
	const msgpack_object *o = O(arr);
	if (!o || o->type != MSGPACK_OBJECT_ARRAY || i >= o->via.array.size)
		return (struct dval){ NULL };
	return (struct dval){ &o->via.array.ptr[i] };
}

struct dval codec_dval_key_at(struct dval map, size_t i)
{
	const msgpack_object *o = O(map);
	if (!o || o->type != MSGPACK_OBJECT_MAP || i >= o->via.map.size)
		return (struct dval){ NULL };
	return (struct dval){ &o->via.map.ptr[i].key };
}

struct dval codec_dval_val_at(struct dval map, size_t i)
{
	const msgpack_object *o = O(map);
	if (!o || o->type != MSGPACK_OBJECT_MAP || i >= o->via.map.size)
		return (struct dval){ NULL };
	return (struct dval){ &o->via.map.ptr[i].val };
}

/* The typed map getters: KEY's value when it has the type, else DFLT. */
#define CODEC_DGET(name, type, dval_fn)                                      \
	type name(struct dval map, const char *key, type dflt)               \
	{                                                                    \
		struct dval v;                                               \
		type x;                                                      \
		return codec_dval_get(map, key, &v) && dval_fn(v, &x) ? x : dflt; \
	}
CODEC_DGET(codec_dget_u64, uint64_t, codec_dval_u64)
CODEC_DGET(codec_dget_i64, int64_t, codec_dval_i64)
CODEC_DGET(codec_dget_f64, double, codec_dval_f64)
CODEC_DGET(codec_dget_bool, bool, codec_dval_bool)

bool codec_dget_str(struct dval map, const char *key, char *out, size_t n)
{
	struct dval v;
	const char *p;
	size_t len;
	if (!codec_dval_get(map, key, &v) || !codec_dval_str(v, &p, &len) || len >= n)
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

/* ---- records as tables of fields ---- */

static uint64_t field_uint(const void *obj, const struct codec_field *f)
{
	const char *p = (const char *)obj + f->off;
	if (f->size == 4) {
		uint32_t x;
		memcpy(&x, p, 4);
		return x;
	}
	uint64_t x;
	memcpy(&x, p, 8);
	return x;
}

/* An omit0 field at 0 (a string: empty) is not written. */
static bool field_omitted(const void *obj, const struct codec_field *f)
{
	if (!f->omit0)
		return false;
	if (f->type == CODEC_CSTR)
		return !((const char *)obj + f->off)[0];
	return field_uint(obj, f) == 0;
}

static void field_set_uint(void *obj, const struct codec_field *f, uint64_t x)
{
	char *p = (char *)obj + f->off;
	if (f->size == 4) {
		uint32_t y = (uint32_t)x;
		memcpy(p, &y, 4);
	} else {
		memcpy(p, &x, 8);
	}
}

void codec_enc_fields(struct buf *v, const void *obj,
		      const struct codec_field *f, size_t n, uint32_t extra)
{
	uint32_t count = extra;
	for (size_t i = 0; i < n; i++)
		count += !field_omitted(obj, &f[i]);
	codec_enc_map(v, count);
	for (size_t i = 0; i < n; i++) {
		const char *p = (const char *)obj + f[i].off;
		uint64_t u = f[i].type == CODEC_UINT || f[i].type == CODEC_INT ?
			     field_uint(obj, &f[i]) : 0;
		if (field_omitted(obj, &f[i]))
			continue;
		codec_enc_cstr(v, f[i].key);
		switch (f[i].type) {
		case CODEC_UINT:
			codec_enc_u64(v, u);
			break;
		case CODEC_INT:
			codec_enc_i64(v, f[i].size == 4 ? (int64_t)(int32_t)u : (int64_t)u);
			break;
		case CODEC_F64: {
			double d;
			memcpy(&d, p, sizeof(d));
			codec_enc_f64(v, d);
			break;
		}
		case CODEC_BOOL:
			codec_enc_bool(v, *(const bool *)p);
			break;
		case CODEC_CSTR:
			codec_enc_cstr(v, p);
			break;
		case CODEC_BUF: {
			const struct buf *b = (const struct buf *)p;
			codec_enc_str(v, b->data ? b->data : "", b->len);
			break;
		}
		}
	}
}

void codec_dec_fields(struct dval r, void *obj, const struct codec_field *f,
		      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *p = (char *)obj + f[i].off;
		struct dval x;
		const char *s;
		size_t len;
		switch (f[i].type) {
		case CODEC_UINT:
			field_set_uint(obj, &f[i], codec_dget_u64(r, f[i].key, (uint64_t)f[i].dflt));
			break;
		case CODEC_INT:
			field_set_uint(obj, &f[i], (uint64_t)codec_dget_i64(r, f[i].key, f[i].dflt));
			break;
		case CODEC_F64: {
			double d = codec_dget_f64(r, f[i].key, NAN);
			memcpy(p, &d, sizeof(d));
			break;
		}
		case CODEC_BOOL:
			*(bool *)p = codec_dget_bool(r, f[i].key, f[i].dflt != 0);
			break;
		case CODEC_CSTR:
			if (!codec_dget_str(r, f[i].key, p, f[i].size))
				p[0] = '\0';
			break;
		case CODEC_BUF:
			if (codec_dval_get(r, f[i].key, &x) && codec_dval_str(x, &s, &len))
				buf_append((struct buf *)p, s, len);
			break;
		}
	}
}

/* *D = the record V read with status RC, parsed; it takes V's bytes. */
static int load_parse(int rc, struct buf *v, struct dec **d)
{
	*d = NULL;
	if (!rc && !(*d = codec_dec_new(v->data, v->len)))
		rc = -EIO;
	if (*d) {
		(*d)->owned = v->data;	/* its strings point into it */
		return 0;
	}
	buf_free(v);
	return rc;
}

int codec_load(struct store *s, const struct store_snapshot *snap,
	       const void *key, size_t klen, struct dec **d)
{
	struct buf v = { 0 };
	return load_parse(store_get(s, snap, key, klen, &v, NULL), &v, d);
}

int codec_load_named(struct store *s, const struct store_snapshot *snap,
		     const char *prefix, const char *name, struct dec **d)
{
	struct buf v = { 0 };
	return load_parse(store_get_named(s, snap, prefix, name, &v), &v, d);
}

int codec_load_fields(struct store *s, const struct store_snapshot *snap,
		      const struct buf *key, void *obj,
		      const struct codec_field *f, size_t n)
{
	struct dec *d;
	int rc = codec_load(s, snap, key->data, key->len, &d);
	if (!rc)
		codec_dec_fields(codec_dec_root(d), obj, f, n);
	codec_dec_free(d);
	return rc;
}

void codec_put_fields(struct store_batch *b, const struct buf *key,
		      const void *obj, const struct codec_field *f, size_t n)
{
	struct buf v = { 0 };
	codec_enc_fields(&v, obj, f, n, 0);
	store_batch_put(b, key->data, key->len, v.data, v.len);
	buf_free(&v);
}
