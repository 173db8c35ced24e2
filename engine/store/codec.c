/* codec.c - msgpack encoding and decoding of records, over msgpack-c.
 *
 * Writers go through a msgpack_packer whose callback appends to a buf.
 * The reader unpacks into a msgpack zone owned by struct dec. */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

static int append_cb(void *data, const char *p, size_t n)
{
	return buf_append(data, p, n);
}

#define PACKER(b) msgpack_packer pk; msgpack_packer_init(&pk, (b), append_cb)

void codec_enc_map(struct buf *b, uint32_t n)
{
	PACKER(b);
	msgpack_pack_map(&pk, n);
}

void codec_enc_array(struct buf *b, uint32_t n)
{
	PACKER(b);
	msgpack_pack_array(&pk, n);
}

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

void codec_enc_u64(struct buf *b, uint64_t v)
{
	PACKER(b);
	msgpack_pack_uint64(&pk, v);
}

void codec_enc_i64(struct buf *b, int64_t v)
{
	PACKER(b);
	msgpack_pack_int64(&pk, v);
}

void codec_enc_f64(struct buf *b, double v)
{
	PACKER(b);
	msgpack_pack_double(&pk, v);
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
};

struct dec *codec_dec_new(const char *data, size_t len)
{
	struct dec *d = malloc(sizeof(*d));
	size_t off = 0;

	if (!d)
		return NULL;
	msgpack_zone_init(&d->zone, 2048);
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
	int64_t i;
	if (o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)) {
		*out = o->via.f64;
		return true;
	}
	if (codec_dval_i64(v, &i)) {
		*out = (double)i;
		return true;
	}
	return false;
}

bool codec_dval_bool(struct dval v, bool *out)
{
	const msgpack_object *o = O(v);
	if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
		return false;
	*out = o->via.boolean;
	return true;
}

bool codec_dval_str(struct dval v, const char **p, size_t *len)
{
	const msgpack_object *o = O(v);
	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_STR) {
		*p = o->via.str.ptr;
		*len = o->via.str.size;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_BIN) {
		*p = o->via.bin.ptr;
		*len = o->via.bin.size;
		return true;
	}
	return false;
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

uint64_t codec_dget_u64(struct dval map, const char *key, uint64_t dflt)
{
	struct dval v;
	uint64_t x;
	return codec_dval_get(map, key, &v) && codec_dval_u64(v, &x) ? x : dflt;
}

int64_t codec_dget_i64(struct dval map, const char *key, int64_t dflt)
{
	struct dval v;
	int64_t x;
	return codec_dval_get(map, key, &v) && codec_dval_i64(v, &x) ? x : dflt;
}

double codec_dget_f64(struct dval map, const char *key, double dflt)
{
	struct dval v;
	double x;
	return codec_dval_get(map, key, &v) && codec_dval_f64(v, &x) ? x : dflt;
}

bool codec_dget_bool(struct dval map, const char *key, bool dflt)
{
	struct dval v;
	bool x;
	return codec_dval_get(map, key, &v) && codec_dval_bool(v, &x) ? x : dflt;
}

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
