/* columnar.c - the columnar form of a table version: its records, the
 * build from data.csv, the scan, the check and the recovery.
 *
 * Records (docs/store-format.md, "Columnar form"), TID and VER the table's
 * id and version, all numbers big-endian in keys:
 *   k/TID/VER              manifest: columns, types, rows, chunks, checksums
 *   k/TID/CVER/COL/IDX     one column of one chunk, written by the build of
 *                          version CVER (IDX: slice << 32 | n)
 *   k/TID/CVER "o"         the owner of the build of CVER in flight, {o:
 *                          writer name}, on a remote store only: written
 *                          with or before its first chunk, deleted with
 *                          the manifest's write; columnar_sweep_dead
 *                          removes a dead owner's build
 * States of a form and the transitions:
 *   absent -> building      columnar_open finds no manifest for the current
 *                           version (under build_lock): chunks are written
 *                           (all of them, or only the appended rows' when
 *                           the previous version's form is extended)
 *   building -> whole       build()/extend(): the manifest is written last,
 *                           alone, once every chunk is in and the table's
 *                           version is still VER; leftovers go after
 *   building -> absent      the table changed, an error, or (after a
 *                           crash) columnar_recover: chunks no kept
 *                           manifest names are deleted; or its owner's
 *                           session died (columnar_sweep_dead)
 *   whole -> base           a commit of rows: never read again, kept for
 *                           the next build to extend (or delete)
 *   whole/base -> absent    a schema change or a drop (columnar_forget in
 *                           the same batch), or the next build
 * Only a whole form of the table's current version is ever read.  This
 * file owns k/; it reads tables only through table.h. */
#include "columnar.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "par.h"
#include "table.h"

unsigned columnar_test_stop_after;
size_t columnar_scan_min_bytes = 1u << 20;
unsigned long columnar_test_chunks_read;

static const char build_lock_key;

#define MANIFEST_FORMAT 2u
#define CHUNK_MAGIC 0x31434c4du	/* "MLC1" */
#define MAX_SLICES 64
/* A column's flags in the manifest. */
#define FLAG_CANONICAL 1u	/* int, date: every value written canonically */
#define FLAG_AS_NUMBER 2u	/* the number frame.c reads from each text is the value's */

struct chunk_ref {
	uint64_t ver;		/* the version whose build wrote it (key) */
	uint64_t idx;		/* key suffix */
	uint64_t first;		/* first row */
	uint32_t rows;
};

struct columnar {
	struct store *s;
	uint64_t tid, ver, rows;
	uint32_t ncols;
	enum col_type *types;
	uint8_t *flags;		/* per column: FLAG_* */
	uint64_t *sums;		/* per column: value checksum */
	struct chunk_ref *chunks;
	size_t nchunks;
	struct table_cursor end;	/* where the version's rows end */
};

/* ---- keys ---- */

static void key_form(struct buf *k, uint64_t tid, uint64_t ver)
{
	buf_reset(k);
	buf_puts(k, "k/");
	key_put_u64(k, tid);
	key_put_u64(k, ver);
}

static void key_col_chunk(struct buf *k, uint64_t tid, uint64_t ver,
			  uint32_t col, uint64_t idx)
{
	key_form(k, tid, ver);
	unsigned char c[4] = { col >> 24, col >> 16, col >> 8, col };
	buf_append(k, c, 4);
	key_put_u64(k, idx);
}

void columnar_forget(struct store_batch *b, uint64_t tid)
{
	struct buf lo = { 0 }, hi = { 0 };
	buf_puts(&lo, "k/");
	key_put_u64(&lo, tid);
	buf_puts(&hi, "k/");
	key_put_u64(&hi, tid + 1);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
}

/* The owner record of the build whose manifest key is MANIFEST. */
static void key_owner(struct buf *k, const struct buf *manifest)
{
	buf_reset(k);
	buf_append(k, manifest->data, manifest->len);
	buf_putc(k, 'o');
}

void columnar_owner_put(struct store *s, struct store_batch *b, const struct buf *manifest)
{
	const char *owner = store_writer_name(s);
	if (!owner[0])
		return;
	struct buf k = { 0 }, v = { 0 };
	key_owner(&k, manifest);
	codec_enc_map(&v, 1);
	codec_enc_cstr(&v, "o");
	codec_enc_cstr(&v, owner);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

int columnar_owner_take(struct store *s, struct store_batch *b, const struct buf *manifest)
{
	if (!store_writer_name(s)[0])
		return 0;
	struct buf k = { 0 }, v = { 0 };
	key_owner(&k, manifest);
	int rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	store_batch_delete(b, k.data, k.len);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* Into B: the owner record of the build of VER of TID (a remote store's). */
static void owner_put(struct store *s, struct store_batch *b, uint64_t tid, uint64_t ver)
{
	struct buf k = { 0 };
	key_form(&k, tid, ver);
	columnar_owner_put(s, b, &k);
	buf_free(&k);
}

/* ---- checksums (stored: a fixed function, unlike hash.h) ---- */

static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 32)) * 0xd6e8feb86659fd93ULL;
	x = (x ^ (x >> 32)) * 0xd6e8feb86659fd93ULL;
	return x ^ (x >> 32);
}

static uint64_t bytes_sum(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
	return h;
}

/* The checksum of column COL: the sum over rows of a mix of the row
 * number and the value, so slices add up in any order. */
static uint64_t value_sum(uint64_t row, bool null, uint64_t v)
{
	return mix(mix(row + 0x9e3779b97f4a7c15ULL) ^ (null ? 0x5bd1e995ULL : mix(v ^ 0x2545f491ULL)));
}

uint64_t columnar_vec_sum(const struct col_vec *v, uint64_t first)
{
	uint64_t sum = 0;
	for (size_t r = 0; r < v->n; r++) {
		bool null = col_vec_null(v, r);
		uint64_t x = 0;
		if (null)
			x = 0;
		else if (v->type == COL_FLOAT)
			memcpy(&x, &v->f[r], 8);
		else if (v->i)
			x = (uint64_t)v->i[r];
		else
			x = bytes_sum(v->bytes + v->off[r], v->off[r + 1] - v->off[r]);
		sum += value_sum(first + r, null, x);
	}
	return sum;
}

/* ---- chunk encoding ----
 * A column chunk: u32 magic, u8 type, u8 has_nulls, u16 0, u32 rows,
 * u32 string bytes; the null bitmap (has_nulls) padded to 8 bytes; then
 * rows int64/double values, or rows + 1 u32 offsets padded to 8 and the
 * bytes.  Host byte order (little-endian). */

static bool is_text(enum col_type t)
{
	return t == COL_STRING || t == COL_NULL;
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Builder of one column of one chunk. */
struct colbuild {
	enum col_type type;
	struct buf nulls;	/* bitmap */
	bool any_null;
	bool canonical;
	bool as_number;		/* every value's text reads as its number */
	struct buf vals;	/* int64/double, or u32 offsets */
	struct buf bytes;
	uint32_t n;
};

static void colbuild_reset(struct colbuild *cb)
{
	buf_reset(&cb->nulls);
	buf_reset(&cb->vals);
	buf_reset(&cb->bytes);
	cb->any_null = false;
	cb->n = 0;
	if (is_text(cb->type)) {
		uint32_t z = 0;
		buf_append(&cb->vals, &z, 4);
	}
}

/* The manifest's flags of what CB saw. */
static uint8_t colbuild_flags(const struct colbuild *cb)
{
	return (cb->canonical ? FLAG_CANONICAL : 0) | (cb->as_number ? FLAG_AS_NUMBER : 0);
}

static void colbuild_free(struct colbuild *cb)
{
	buf_free(&cb->nulls);
	buf_free(&cb->vals);
	buf_free(&cb->bytes);
}

/* Is P[0..LEN) the canonical text of V (an int or a date)? */
static bool canonical_text(enum col_type t, int64_t v, const char *p, size_t len)
{
	char tmp[32];
	size_t n = 0;
	if (t == COL_DATE) {
		fmt_date(tmp, (int32_t)v);
		n = strlen(tmp);
	} else {
		char rev[24];
		size_t k = 0;
		uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
		do {
			rev[k++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (v < 0)
			tmp[n++] = '-';
		while (k)
			tmp[n++] = rev[--k];
	}
	return n == len && !memcmp(tmp, p, len);
}

/* Append field P[0..LEN) to CB, parsed as its type (null when empty or
 * not a value of the type, as expr_value_from_text reads it). */
static void colbuild_add(struct colbuild *cb, const char *p, size_t len)
{
	uint32_t r = cb->n++;
	if ((r & 7) == 0)
		buf_putc(&cb->nulls, 0);
	bool null = len == 0;
	if (is_text(cb->type)) {
		if (!null)
			buf_append(&cb->bytes, p, len);
		uint32_t end = (uint32_t)cb->bytes.len;
		buf_append(&cb->vals, &end, 4);
	} else if (cb->type == COL_FLOAT) {
		double f = 0;
		if (!null && !value_parse_float(p, len, &f)) {
			null = true;
			f = 0;
		}
		/* "-0" is the integer 0 to frame.c, +0.0, where "-0.0" is -0.0. */
		if (!null && f == 0 && signbit(f) && !memchr(p, '.', len) && !memchr(p, 'e', len) &&
		    !memchr(p, 'E', len))
			cb->as_number = false;
		buf_append(&cb->vals, &f, 8);
	} else {
		int64_t v = 0;
		bool ok = !null;
		if (ok && cb->type == COL_INT) {
			ok = value_parse_int(p, len, &v);
		} else if (ok && cb->type == COL_BOOL) {
			bool b;
			ok = value_parse_bool(p, len, &b);
			v = b;
		} else if (ok && cb->type == COL_DATE) {
			int32_t d;
			ok = value_parse_date(p, len, &d);
			v = d;
		} else if (ok) {
			ok = value_parse_timestamp(p, len, &v);
		}
		if (!ok) {
			null = true;
			v = 0;
		}
		if (ok && cb->canonical && (cb->type == COL_INT || cb->type == COL_DATE))
			cb->canonical = canonical_text(cb->type, v, p, len);
		/* A bare date in a timestamp column is days to frame.c. */
		if (ok && cb->type == COL_TIMESTAMP && len == 10)
			cb->as_number = false;
		buf_append(&cb->vals, &v, 8);
	}
	if (null) {
		cb->nulls.data[r >> 3] |= (char)(1u << (r & 7));
		cb->any_null = true;
	}
}

void columnar_chunk_encode(const struct col_vec *v, struct buf *out)
{
	unsigned char h[16] = { 0 };
	bool text = v->off != NULL;
	uint32_t magic = CHUNK_MAGIC, n = (uint32_t)v->n, nb = text ? v->off[v->n] : 0;
	memcpy(h, &magic, 4);
	h[4] = (unsigned char)v->type;
	h[5] = v->nulls != NULL;
	memcpy(h + 8, &n, 4);
	memcpy(h + 12, &nb, 4);
	buf_reset(out);
	buf_append(out, h, 16);
	static const char zeros[8];
	size_t nulls = (v->n + 7) / 8;
	if (v->nulls) {
		buf_append(out, v->nulls, nulls);
		buf_append(out, zeros, pad8(nulls) - nulls);
	}
	if (text) {
		buf_append(out, v->off, (v->n + 1) * 4);
		buf_append(out, zeros, pad8((v->n + 1) * 4) - (v->n + 1) * 4);
		buf_append(out, v->bytes, nb);
	} else {
		buf_append(out, v->f ? (const void *)v->f : (const void *)v->i, v->n * 8);
	}
}

/* The chunk value of CB into OUT (reset first). */
static void colbuild_encode(const struct colbuild *cb, struct buf *out)
{
	struct col_vec v = { .type = cb->type, .n = cb->n };
	if (cb->any_null)
		v.nulls = (const uint8_t *)cb->nulls.data;
	if (is_text(cb->type)) {
		v.off = (const uint32_t *)(const void *)cb->vals.data;
		v.bytes = cb->bytes.data;
	} else if (cb->type == COL_FLOAT) {
		v.f = (const double *)(const void *)cb->vals.data;
	} else {
		v.i = (const int64_t *)(const void *)cb->vals.data;
	}
	columnar_chunk_encode(&v, out);
}

static int chunk_decode(const char *p, size_t len, enum col_type t,
			struct col_vec *v);

/* Encode CB into OUT; returns the chunk's checksum. */
static uint64_t colbuild_seal(const struct colbuild *cb, struct buf *out)
{
	struct col_vec v;
	colbuild_encode(cb, out);
	if (chunk_decode(out->data, out->len, cb->type, &v))
		abort();	/* the encoder and decoder disagree */
	return columnar_vec_sum(&v, 0);
}

/* Point V into the chunk value P[0..LEN) (8-aligned).  -EIO when it is
 * not a whole chunk of type T. */
static int chunk_decode(const char *p, size_t len, enum col_type t,
			struct col_vec *v)
{
	if (len < 16 || (enum col_type)(unsigned char)p[4] != t)
		return -EIO;
	return columnar_chunk_decode(p, len, v);
}

int columnar_chunk_decode(const char *p, size_t len, struct col_vec *v)
{
	uint32_t magic, n, nb;
	if (len < 16)
		return -EIO;
	memcpy(&magic, p, 4);
	memcpy(&n, p + 8, 4);
	memcpy(&nb, p + 12, 4);
	enum col_type t = (enum col_type)(unsigned char)p[4];
	if (magic != CHUNK_MAGIC || (unsigned)t > COL_STRING)
		return -EIO;
	memset(v, 0, sizeof(*v));
	v->type = t;
	v->n = n;
	size_t at = 16, nulls = pad8((n + 7) / 8);
	if (p[5]) {
		if (len < at + nulls)
			return -EIO;
		v->nulls = (const uint8_t *)p + at;
		at += nulls;
	}
	if (is_text(t)) {
		size_t offs = pad8(((size_t)n + 1) * 4);
		if (len != at + offs + nb)
			return -EIO;
		v->off = (const uint32_t *)(const void *)(p + at);
		v->bytes = p + at + offs;
		if (v->off[0] != 0 || v->off[n] != nb)
			return -EIO;
		for (uint32_t r = 0; r < n; r++)
			if (v->off[r] > v->off[r + 1])
				return -EIO;
	} else {
		if (len != at + (size_t)n * 8)
			return -EIO;
		if (t == COL_FLOAT)
			v->f = (const double *)(const void *)(p + at);
		else
			v->i = (const int64_t *)(const void *)(p + at);
	}
	return 0;
}

/* ---- manifest ----
 * u32 format, u32 ncols, u64 rows, u64 nchunks, u64 first_seg, u64 bytes
 * (the table_cursor at the end of the version); per column u8 type,
 * u8 flags, u64 checksum; per chunk u64 ver, u64 idx, u32 rows. */

#define MANIFEST_HEAD 40u
#define MANIFEST_COL 10u
#define MANIFEST_CHUNK 20u

static void manifest_encode(const struct columnar *c, struct buf *out)
{
	uint32_t fmt = MANIFEST_FORMAT;
	uint64_t nch = c->nchunks;
	buf_reset(out);
	buf_append(out, &fmt, 4);
	buf_append(out, &c->ncols, 4);
	buf_append(out, &c->rows, 8);
	buf_append(out, &nch, 8);
	buf_append(out, &c->end.first_seg, 8);
	buf_append(out, &c->end.bytes, 8);
	for (uint32_t i = 0; i < c->ncols; i++) {
		buf_putc(out, (char)c->types[i]);
		buf_putc(out, (char)c->flags[i]);
		buf_append(out, &c->sums[i], 8);
	}
	for (size_t i = 0; i < c->nchunks; i++) {
		buf_append(out, &c->chunks[i].ver, 8);
		buf_append(out, &c->chunks[i].idx, 8);
		buf_append(out, &c->chunks[i].rows, 4);
	}
}

static void form_arrays(struct columnar *c, uint32_t ncols, size_t nchunks)
{
	c->ncols = ncols;
	c->types = calloc(ncols + 1, sizeof(*c->types));
	c->flags = calloc(ncols + 1, 1);
	c->sums = calloc(ncols + 1, sizeof(*c->sums));
	c->nchunks = nchunks;
	c->chunks = calloc(nchunks + 1, sizeof(*c->chunks));
	if (!c->types || !c->flags || !c->sums || !c->chunks)
		mlfs_oom();
}

static int manifest_decode(const char *p, size_t len, struct columnar *c)
{
	uint32_t fmt, ncols;
	uint64_t rows, nch, first = 0;
	if (len < MANIFEST_HEAD)
		return -EIO;
	memcpy(&fmt, p, 4);
	memcpy(&ncols, p + 4, 4);
	memcpy(&rows, p + 8, 8);
	memcpy(&nch, p + 16, 8);
	if (fmt != MANIFEST_FORMAT || ncols > TABLE_MAX_COLUMNS || nch > len ||
	    len != MANIFEST_HEAD + (size_t)ncols * MANIFEST_COL + nch * MANIFEST_CHUNK)
		return -EIO;
	form_arrays(c, ncols, (size_t)nch);
	c->end.tid = c->tid;
	memcpy(&c->end.first_seg, p + 24, 8);
	memcpy(&c->end.bytes, p + 32, 8);
	p += MANIFEST_HEAD;
	for (uint32_t i = 0; i < ncols; i++, p += MANIFEST_COL) {
		c->types[i] = (enum col_type)(unsigned char)p[0];
		c->flags[i] = (uint8_t)p[1];
		memcpy(&c->sums[i], p + 2, 8);
	}
	for (size_t i = 0; i < nch; i++, p += MANIFEST_CHUNK) {
		memcpy(&c->chunks[i].ver, p, 8);
		memcpy(&c->chunks[i].idx, p + 8, 8);
		memcpy(&c->chunks[i].rows, p + 16, 4);
		c->chunks[i].first = first;
		first += c->chunks[i].rows;
	}
	c->rows = rows;
	return first == rows ? 0 : -EIO;
}

void columnar_free(struct columnar *c)
{
	if (!c)
		return;
	free(c->types);
	free(c->flags);
	free(c->sums);
	free(c->chunks);
	free(c);
}

/* The whole form of version VER of table TID, or -ENOENT / -EIO. */
static int form_load(struct store *s, uint64_t tid, uint64_t ver,
		     struct columnar **out)
{
	struct buf k = { 0 }, v = { 0 };
	key_form(&k, tid, ver);
	int rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	struct columnar *c = NULL;
	if (!rc) {
		if (!(c = calloc(1, sizeof(*c))))
			mlfs_oom();
		c->s = s;
		c->tid = tid;
		c->ver = ver;
		if ((rc = manifest_decode(v.data, v.len, c))) {
			columnar_free(c);
			c = NULL;
		}
	}
	buf_free(&k);
	buf_free(&v);
	*out = c;
	return rc;
}

/* ---- the form a table keeps ----
 * At most one form per table outlives a build: the newest whole form of
 * a version not above the table's current one - the current form, or
 * the base the next build extends (store-format.md).  Every other key of
 * the table under k/ is a leftover: older manifests, chunks no kept
 * manifest names (a build cut short, chunks of a form rebuilt whole). */

/* The versions of table TID with a manifest, newest first, into VERS
 * (at most CAP).  Returns how many. */
static size_t manifest_versions(struct store *s, uint64_t tid, uint64_t *vers, size_t cap)
{
	struct buf lo = { 0 }, hi = { 0 }, next = { 0 };
	key_form(&lo, tid, 0);
	buf_puts(&hi, "k/");
	key_put_u64(&hi, tid + 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	size_t n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it) && n < cap;) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl < 18)
			break;
		uint64_t ver = key_get_u64(k + 10);
		if (kl == 18)
			vers[n++] = ver;
		key_form(&next, tid, ver + 1);
		store_iter_seek(it, next.data, next.len);
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&next);
	for (size_t i = 0; i < n / 2; i++) {
		uint64_t t = vers[i];
		vers[i] = vers[n - 1 - i];
		vers[n - 1 - i] = t;
	}
	return n;
}

/* The newest whole form of table TID of a version at most MAXVER, or
 * NULL (a manifest that does not decode is a leftover). */
static struct columnar *form_newest(struct store *s, uint64_t tid, uint64_t maxver)
{
	uint64_t vers[64];
	size_t n = manifest_versions(s, tid, vers, 64);
	for (size_t i = 0; i < n; i++) {
		struct columnar *c;
		if (vers[i] <= maxver && !form_load(s, tid, vers[i], &c))
			return c;
	}
	return NULL;
}

/* Does form C (NULL: none) name key K (of its table)? */
static bool form_names(const struct columnar *c, const char *k, size_t kl)
{
	if (!c || kl < 18)
		return false;
	uint64_t ver = key_get_u64(k + 10);
	if (kl == 18)
		return ver == c->ver;
	if (kl != 30)
		return false;
	const unsigned char *u = (const unsigned char *)k + 18;
	uint32_t col = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
	uint64_t idx = key_get_u64(k + 22);
	if (col >= c->ncols)
		return false;
	for (size_t i = 0; i < c->nchunks; i++)
		if (c->chunks[i].ver == ver && c->chunks[i].idx == idx)
			return true;
	return false;
}

/* The keys of table TID that KEEP does not name: deleted into DEL when
 * not NULL; returns how many. */
static uint64_t form_leftovers(struct store *s, uint64_t tid, const struct columnar *keep,
			       struct store_batch *del)
{
	struct buf lo = { 0 }, hi = { 0 };
	buf_puts(&lo, "k/");
	key_put_u64(&lo, tid);
	buf_puts(&hi, "k/");
	key_put_u64(&hi, tid + 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	uint64_t n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (form_names(keep, k, kl))
			continue;
		n++;
		if (del)
			store_batch_delete(del, k, kl);
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return n;
}

/* Delete every key of table TID that KEEP does not name. */
static int form_gc(struct store *s, uint64_t tid, const struct columnar *keep)
{
	struct store_batch *b = store_batch_new();
	int rc = form_leftovers(s, tid, keep, b) ? store_write(s, b, false, NULL) : 0;
	store_batch_free(b);
	return rc;
}

/* ---- the build ---- */

/* A chunk written by a slice: where, and its per-column checksums. */
struct built_chunk {
	uint64_t idx;
	uint32_t rows;
	uint64_t *sums;		/* ncols */
};

struct build;

/* One slice of data.csv, parsed on one thread into its own chunks. */
struct slice {
	struct build *b;
	uint32_t no;
	uint64_t lo, hi;	/* bytes of data.csv, after the header */
	struct colbuild *cols;
	struct buf key, val;
	struct built_chunk *out;
	size_t nout, capout;
	uint64_t rows;
	int rc;
	struct mlfs_err err;
};

struct build {
	struct store *s;
	const char *name;
	uint64_t tid, ver;
	uint32_t ncols;
	const enum col_type *types;
	struct slice *slices;
	uint32_t nslices;
	unsigned written;	/* chunks written, for columnar_test_stop_after */
	pthread_mutex_t lock;	/* guards written */
};

/* Write the slice's pending rows as one chunk (a store batch of one
 * value per column). */
static int slice_flush(struct slice *sl)
{
	struct build *b = sl->b;
	uint32_t n = sl->cols[0].n;
	if (!n)
		return 0;
	if (b->ncols && columnar_test_stop_after) {
		pthread_mutex_lock(&b->lock);
		bool stop = b->written >= columnar_test_stop_after;
		b->written++;
		pthread_mutex_unlock(&b->lock);
		if (stop)
			return mlfs_fail(&sl->err, -EINTR, "columnar build stopped (test)");
	}
	if (sl->nout == sl->capout) {
		sl->capout = sl->capout ? 2 * sl->capout : 16;
		sl->out = realloc(sl->out, sl->capout * sizeof(*sl->out));
		if (!sl->out)
			mlfs_oom();
	}
	struct built_chunk *ch = &sl->out[sl->nout++];
	ch->idx = (uint64_t)sl->no << 32 | (sl->nout - 1);
	ch->rows = n;
	if (!(ch->sums = calloc(b->ncols + 1, sizeof(*ch->sums))))
		mlfs_oom();
	struct store_batch *batch = store_batch_new();
	for (uint32_t c = 0; c < b->ncols; c++) {
		ch->sums[c] = colbuild_seal(&sl->cols[c], &sl->val);
		key_col_chunk(&sl->key, b->tid, b->ver, c, ch->idx);
		store_batch_put(batch, sl->key.data, sl->key.len, sl->val.data, sl->val.len);
		colbuild_reset(&sl->cols[c]);
	}
	int rc = store_write(b->s, batch, false, &sl->err);
	store_batch_free(batch);
	return rc;
}

static int slice_row(void *ctx, const struct csv_field *f, size_t n,
		     uint64_t line, struct mlfs_err *err)
{
	struct slice *sl = ctx;
	if (n != sl->b->ncols)
		return mlfs_fail(err, -EIO, "table '%s', line %llu of a slice: %zu fields, the table has %u",
				 sl->b->name, (unsigned long long)line, n, sl->b->ncols);
	for (size_t c = 0; c < n; c++)
		colbuild_add(&sl->cols[c], f[c].p, f[c].len);
	sl->rows++;
	if (sl->cols[0].n >= COLUMNAR_CHUNK_ROWS)
		return slice_flush(sl);
	return 0;
}

/* Parse the slice's bytes into chunks (runs on a pool thread). */
static void slice_run(void *arg, size_t i)
{
	struct build *b = arg;
	struct slice *sl = &b->slices[i];
	struct table_reader *tr = NULL;
	struct csv_reader *csv = NULL;
	char *piece = malloc(1u << 20);
	if (!piece)
		mlfs_oom();
	sl->rc = table_reader_open(b->s, b->name, &tr, &sl->err);
	if (!sl->rc && !(csv = csv_reader_new(TABLE_MAX_RECORD, slice_row, sl)))
		mlfs_oom();
	for (uint64_t off = sl->lo; !sl->rc && off < sl->hi;) {
		size_t want = sl->hi - off < (1u << 20) ? (size_t)(sl->hi - off) : (1u << 20);
		long got = table_reader_read(tr, piece, want, off, &sl->err);
		if (got <= 0) {
			sl->rc = got < 0 ? (int)got : -EIO;
			break;
		}
		sl->rc = csv_reader_feed(csv, piece, (size_t)got, &sl->err);
		off += (uint64_t)got;
	}
	if (!sl->rc)
		sl->rc = csv_reader_finish(csv, &sl->err);
	if (!sl->rc)
		sl->rc = slice_flush(sl);
	csv_reader_free(csv);
	table_reader_free(tr);
	free(piece);
}

/* Cut the rows of data.csv (bytes [LO, SIZE)) into N slices after a
 * newline near each of N equal offsets.  A cut inside a quoted field
 * makes its slices fail to parse: the caller then builds in one slice. */
static void slices_cut(struct store *s, const char *name, uint64_t lo,
		       uint64_t size, uint32_t n, uint64_t *cut)
{
	struct table_reader *tr;
	char win[4096];
	cut[0] = lo;
	cut[n] = size;
	if (table_reader_open(s, name, &tr, NULL)) {
		for (uint32_t i = 1; i < n; i++)
			cut[i] = lo;	/* empty slices; the last one has all */
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		uint64_t at = lo + (size - lo) / n * i - 1;
		cut[i] = size;
		for (uint64_t off = at; off < size;) {
			long got = table_reader_read(tr, win, sizeof(win), off, NULL);
			if (got <= 0)
				break;
			char *nl = memchr(win, '\n', (size_t)got);
			if (nl) {
				cut[i] = off + (uint64_t)(nl - win) + 1;
				break;
			}
			off += (uint64_t)got;
		}
		if (cut[i] < cut[i - 1])
			cut[i] = cut[i - 1];
	}
	table_reader_free(tr);
}

static void slices_free(struct build *b)
{
	for (uint32_t i = 0; b->slices && i < b->nslices; i++) {
		struct slice *sl = &b->slices[i];
		for (uint32_t c = 0; sl->cols && c < b->ncols; c++)
			colbuild_free(&sl->cols[c]);
		free(sl->cols);
		for (size_t j = 0; j < sl->nout; j++)
			free(sl->out[j].sums);
		free(sl->out);
		buf_free(&sl->key);
		buf_free(&sl->val);
	}
	free(b->slices);
	b->slices = NULL;
}

/* Delete every key of version VER of table TID (chunks and manifest). */
static int form_delete(struct store *s, uint64_t tid, uint64_t ver)
{
	struct buf lo = { 0 }, hi = { 0 };
	key_form(&lo, tid, ver);
	key_form(&hi, tid, ver + 1);
	struct store_batch *b = store_batch_new();
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	int rc = store_write(s, b, false, NULL);
	store_batch_free(b);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

/* N empty slices of B, their column builders ready. */
static void slices_init(struct build *b, uint32_t n)
{
	b->nslices = n;
	if (!(b->slices = calloc(n, sizeof(*b->slices))))
		mlfs_oom();
	for (uint32_t i = 0; i < n; i++) {
		struct slice *sl = &b->slices[i];
		sl->b = b;
		sl->no = i;
		if (!(sl->cols = calloc(b->ncols + 1, sizeof(*sl->cols))))
			mlfs_oom();
		for (uint32_t c = 0; c < b->ncols; c++) {
			sl->cols[c].type = b->types[c];
			sl->cols[c].canonical = true;
			sl->cols[c].as_number = true;
			colbuild_reset(&sl->cols[c]);
		}
	}
}

/* Parse data.csv [LO, SIZE) in N slices on the pool.  0, or the first
 * slice's error (in ERR). */
static int slices_run(struct build *b, uint64_t lo, uint64_t size, uint32_t n,
		      struct mlfs_err *err)
{
	uint64_t cut[MAX_SLICES + 1];
	slices_cut(b->s, b->name, lo, size, n, cut);
	slices_init(b, n);
	for (uint32_t i = 0; i < n; i++) {
		b->slices[i].lo = cut[i];
		b->slices[i].hi = cut[i + 1];
	}
	par_for(par_default(), n, slice_run, b);
	for (uint32_t i = 0; i < n; i++)
		if (b->slices[i].rc) {
			if (err)
				*err = b->slices[i].err;
			return b->slices[i].rc;
		}
	return 0;
}

/* The manifest of a built form, from its slices' chunks in row order. */
static struct columnar *build_manifest(struct build *b)
{
	struct columnar *c = calloc(1, sizeof(*c));
	size_t nch = 0;
	if (!c)
		mlfs_oom();
	for (uint32_t i = 0; i < b->nslices; i++)
		nch += b->slices[i].nout;
	c->s = b->s;
	c->tid = b->tid;
	c->ver = b->ver;
	form_arrays(c, b->ncols, nch);
	for (uint32_t col = 0; col < b->ncols; col++) {
		c->types[col] = b->types[col];
		c->flags[col] = FLAG_CANONICAL | FLAG_AS_NUMBER;
		for (uint32_t i = 0; i < b->nslices; i++)
			c->flags[col] &= colbuild_flags(&b->slices[i].cols[col]);
	}
	size_t k = 0;
	for (uint32_t i = 0; i < b->nslices; i++)
		for (size_t j = 0; j < b->slices[i].nout; j++, k++) {
			const struct built_chunk *ch = &b->slices[i].out[j];
			c->chunks[k].ver = b->ver;
			c->chunks[k].idx = ch->idx;
			c->chunks[k].rows = ch->rows;
			c->chunks[k].first = c->rows;
			c->rows += ch->rows;
			for (uint32_t col = 0; col < b->ncols; col++)
				c->sums[col] += mix(k ^ mix(ch->sums[col]));
		}
	return c;
}

/* The cursor at the end of version INFO of table NAME.  -EAGAIN when
 * the table moved on. */
static int version_end(struct store *s, const char *name, const struct table_info *info,
		       struct table_cursor *end, struct mlfs_err *err)
{
	struct table_reader *r;
	int rc = table_reader_open(s, name, &r, err);
	if (rc)
		return rc;
	table_reader_cursor(r, end);
	table_reader_free(r);
	if (end->tid != info->id || end->bytes != info->data_bytes)
		return mlfs_fail(err, -EAGAIN, "table '%s' changed during its columnar build", name);
	return 0;
}

/* 0 while version INFO of table NAME is still its current one and a
 * scan of it read BYTES_READ bytes of rows (all of them), else -EAGAIN:
 * a form is only written for the version it was built from. */
static int version_unchanged(struct store *s, const char *name, const struct table_info *info,
			     uint64_t bytes_read, struct mlfs_err *err)
{
	struct table_info now;
	if (table_stat(s, name, &now) || now.id != info->id || now.version != info->version ||
	    bytes_read != info->data_bytes)
		return mlfs_fail(err, -EAGAIN, "table '%s' changed during its columnar build", name);
	return 0;
}

/* Undo build B, which failed: its form C (may be NULL) and what it wrote
 * go.  *C becomes NULL. */
static void build_undo(struct build *b, struct columnar **c)
{
	columnar_free(*c);
	*c = NULL;
	form_delete(b->s, b->tid, b->ver);
}

/* Write the manifest of built form C of version INFO of table NAME,
 * after its chunks, with the deletion of the build's owner record: the
 * form is whole from here on.  A build whose owner record a sweep took
 * (its session taken for dead, columnar_sweep_dead) lost its chunks:
 * -EIO, nothing written. */
static int manifest_write(struct store *s, const char *name, const struct table_info *info,
			  const struct columnar *c, struct mlfs_err *err)
{
	if (c->rows != info->rows)
		return mlfs_fail(err, -EIO, "table '%s': %llu rows in its columnar form, %llu recorded", name,
				 (unsigned long long)c->rows, (unsigned long long)info->rows);
	struct buf k = { 0 }, v = { 0 };
	struct store_batch *b = store_batch_new();
	key_form(&k, c->tid, c->ver);
	int rc = columnar_owner_take(s, b, &k);
	if (rc == -ENOENT)
		rc = mlfs_fail(err, -EIO, "table '%s': the chunks of its columnar build were "
			       "removed (its session was taken for dead)", name);
	manifest_encode(c, &v);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	if (!rc)
		rc = store_write(s, b, false, err);	/* as the chunks: a form is rebuilt */
	store_batch_free(b);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* Build the form of NAME's current version (INFO, columns TYPES) and
 * write its manifest.  Called under build_lock. */
static int build(struct store *s, const char *name, const struct table_info *info,
		 const enum col_type *types, struct columnar **out,
		 struct mlfs_err *err)
{
	struct build b = { .s = s, .name = name, .tid = info->id, .ver = info->version,
			   .ncols = info->ncols, .types = types };
	int rc;
	uint32_t n = (uint32_t)par_threads(par_default());
	if (n > MAX_SLICES)
		n = MAX_SLICES;
	if (info->data_bytes < (4u << 20))
		n = 1;
	pthread_mutex_init(&b.lock, NULL);
	/* Leftovers of this table (older versions, a build cut short) go;
	 * this build's owner comes. */
	struct store_batch *batch = store_batch_new();
	columnar_forget(batch, info->id);
	owner_put(s, batch, info->id, info->version);
	rc = store_write(s, batch, false, err);
	store_batch_free(batch);
	uint64_t lo = info->header_bytes, size = info->header_bytes + info->data_bytes;
	struct table_cursor end = { 0 };
	if (!rc)
		rc = version_end(s, name, info, &end, err);
	if (!rc && (rc = slices_run(&b, lo, size, n, err)) && n > 1 && rc != -EINTR) {
		/* A cut inside a quoted field: once more, in one piece. */
		slices_free(&b);
		form_delete(s, b.tid, b.ver);
		rc = slices_run(&b, lo, size, 1, err);
	}
	if (rc == -EINTR)
		goto out;	/* the test's crash: leave what was written */
	if (!rc)
		rc = version_unchanged(s, name, info, info->data_bytes, err);
	struct columnar *c = NULL;
	if (!rc) {
		c = build_manifest(&b);
		c->end = end;
		rc = manifest_write(s, name, info, c, err);
	}
	if (rc)
		build_undo(&b, &c);
	*out = c;
out:
	slices_free(&b);
	pthread_mutex_destroy(&b.lock);
	return rc;
}

/* ---- extending the previous version's form by appended rows ---- */

/* An append extends the form while it has at most this many chunks for
 * ROWS rows; past that (many small appends) the version is built whole. */
static bool chunks_few(size_t nchunks, uint64_t rows)
{
	return nchunks <= 2 * ((rows + COLUMNAR_CHUNK_ROWS - 1) / COLUMNAR_CHUNK_ROWS) + 8;
}

struct extension {
	struct slice *sl;
	bool from_start;	/* table_scan_since: not an append of BASE */
};

static int extend_row(void *ctx, const struct csv_field *f, size_t n,
		      uint64_t line, struct mlfs_err *err)
{
	struct extension *x = ctx;
	if (x->from_start)
		return -ECANCELED;	/* replaced: nothing to extend */
	return slice_row(x->sl, f, n, line, err);
}

/* BASE's chunks, then those of slice SL (version VER), ending at END. */
static struct columnar *extend_manifest(const struct columnar *base, const struct slice *sl,
					uint64_t ver, const struct table_cursor *end)
{
	struct columnar *c = calloc(1, sizeof(*c));
	if (!c)
		mlfs_oom();
	c->s = base->s;
	c->tid = base->tid;
	c->ver = ver;
	c->end = *end;
	form_arrays(c, base->ncols, base->nchunks + sl->nout);
	for (uint32_t col = 0; col < c->ncols; col++) {
		c->types[col] = base->types[col];
		c->flags[col] = base->flags[col] & (sl->rows ? colbuild_flags(&sl->cols[col]) : 0xff);
		c->sums[col] = base->sums[col];
	}
	memcpy(c->chunks, base->chunks, base->nchunks * sizeof(*c->chunks));
	c->rows = base->rows;
	for (size_t j = 0; j < sl->nout; j++) {
		size_t k = base->nchunks + j;
		c->chunks[k] = (struct chunk_ref){ ver, sl->out[j].idx, c->rows, sl->out[j].rows };
		c->rows += sl->out[j].rows;
		for (uint32_t col = 0; col < c->ncols; col++)
			c->sums[col] += mix(k ^ mix(sl->out[j].sums[col]));
	}
	return c;
}

/* The form of NAME's current version (INFO) as BASE's (an older version
 * of the same columns) plus chunks of the rows appended since: the
 * manifest shares BASE's chunks.  -ECANCELED: the table was replaced
 * since BASE, build it whole.  Called under build_lock. */
static int extend(struct store *s, const char *name, const struct table_info *info,
		  const enum col_type *types, const struct columnar *base,
		  struct columnar **out, struct mlfs_err *err)
{
	struct build b = { .s = s, .name = name, .tid = info->id, .ver = info->version,
			   .ncols = info->ncols, .types = types };
	struct columnar *c = NULL;
	pthread_mutex_init(&b.lock, NULL);
	slices_init(&b, 1);
	struct extension x = { &b.slices[0], false };
	struct table_cursor cur = base->end;
	struct store_batch *owner = store_batch_new();
	owner_put(s, owner, b.tid, b.ver);
	int rc = store_batch_count(owner) ? store_write(s, owner, false, err) : 0;
	store_batch_free(owner);
	if (!rc)
		rc = table_scan_since(s, name, &cur, &x.from_start, extend_row, &x, err);
	if (!rc && x.from_start)
		rc = -ECANCELED;
	if (!rc)
		rc = slice_flush(x.sl);
	if (rc == -EINTR)
		goto out;	/* the test's crash: leave what was written */
	if (!rc)
		rc = version_unchanged(s, name, info, cur.bytes, err);
	if (!rc) {
		c = extend_manifest(base, x.sl, info->version, &cur);
		rc = manifest_write(s, name, info, c, err);
	}
	if (!rc)
		form_gc(s, b.tid, c);	/* the base's manifest; a failure leaves leftovers */
	else
		build_undo(&b, &c);
	*out = c;
out:
	slices_free(&b);
	pthread_mutex_destroy(&b.lock);
	return rc;
}

int columnar_open(struct store *s, const char *name, struct columnar **out,
		  struct mlfs_err *err)
{
	struct table_info info;
	char **names = NULL;
	enum col_type *types = NULL;
	uint32_t ncols;
	int rc;

	*out = NULL;
	pthread_mutex_t *lock = store_lock(s, &build_lock_key);
	pthread_mutex_lock(lock);
	if ((rc = table_stat(s, name, &info)) ||
	    (rc = table_columns(s, name, &names, &types, &ncols)))
		goto out;
	if (ncols != info.ncols) {
		rc = mlfs_fail(err, -EAGAIN, "table '%s' changed while opening its columnar form", name);
		goto out;
	}
	rc = form_load(s, info.id, info.version, out);
	if (!rc) {
		bool same = (*out)->ncols == ncols;
		for (uint32_t c = 0; same && c < ncols; c++)
			same = (*out)->types[c] == types[c];
		if (same)
			goto out;
		columnar_free(*out);
		*out = NULL;
	}
	struct columnar *base = info.version ? form_newest(s, info.id, info.version - 1) : NULL;
	bool fits = base && base->ncols == ncols && base->end.tid == info.id &&
		    base->rows <= info.rows &&
		    chunks_few(base->nchunks + (info.rows - base->rows + COLUMNAR_CHUNK_ROWS - 1) /
					       COLUMNAR_CHUNK_ROWS, info.rows);
	for (uint32_t c = 0; fits && c < ncols; c++)
		fits = base->types[c] == types[c];
	rc = fits ? extend(s, name, &info, types, base, out, err) : -ECANCELED;
	columnar_free(base);
	if (rc == -ECANCELED)
		rc = build(s, name, &info, types, out, err);
out:
	pthread_mutex_unlock(lock);
	free(names);
	free(types);
	return rc;
}

uint64_t columnar_rows(const struct columnar *c)
{
	return c->rows;
}

uint64_t columnar_version(const struct columnar *c)
{
	return c->ver;
}

void columnar_cursor(const struct columnar *c, struct table_cursor *out)
{
	*out = c->end;
}

uint32_t columnar_ncols(const struct columnar *c)
{
	return c->ncols;
}

enum col_type columnar_type(const struct columnar *c, uint32_t col)
{
	return col < c->ncols ? c->types[col] : COL_NULL;
}

bool columnar_canonical(const struct columnar *c, uint32_t col)
{
	return col < c->ncols && (c->flags[col] & FLAG_CANONICAL);
}

bool columnar_as_number(const struct columnar *c, uint32_t col)
{
	return col < c->ncols && (c->flags[col] & FLAG_AS_NUMBER);
}

/* ---- the scan ---- */

struct scan {
	struct columnar *c;
	const uint32_t *cols;
	size_t ncols;
	columnar_fn fn;
	void *ctx;
	int *rc;		/* per thread */
	struct mlfs_err *errs;	/* per thread */
	size_t lo;		/* the first chunk */
};

/* A chunk as read: pinned in the store where its bytes are 8-aligned
 * (blob values are), else copied into COPY. */
struct chunk_in {
	struct store_view *view;
	struct buf copy;
};

static void chunk_in_free(struct chunk_in *in)
{
	store_view_release(in->view);
	in->view = NULL;
	buf_free(&in->copy);
}

/* Read column COL of chunk I into IN (the chunk read before it there is
 * released) and point V at it. */
static int chunk_read(struct columnar *c, size_t i, uint32_t col, struct buf *key,
		      struct chunk_in *in, struct col_vec *v, struct mlfs_err *err)
{
	const char *p = NULL;
	size_t len = 0;
	key_col_chunk(key, c->tid, c->chunks[i].ver, col, c->chunks[i].idx);
	store_view_release(in->view);
	int rc = store_get_view(c->s, NULL, key->data, key->len, &in->view, &p, &len, NULL);
	if (rc == -ENOENT)
		return mlfs_fail(err, -EAGAIN, "the columnar form of a table was dropped during a scan (the table changed)");
	if (!rc && ((uintptr_t)p & 7)) {
		buf_reset(&in->copy);
		buf_append(&in->copy, p, len);
		p = in->copy.data;
	}
	if (!rc && (chunk_decode(p, len, c->types[col], v) || v->n != c->chunks[i].rows))
		rc = mlfs_fail(err, -EIO, "a columnar chunk is damaged (run mlfs check)");
	return rc;
}

static void scan_range(void *arg, int t, size_t lo, size_t hi)
{
	struct scan *sc = arg;
	struct buf key = { 0 };
	struct chunk_in *ins = calloc(sc->ncols + 1, sizeof(*ins));
	struct col_vec *vecs = calloc(sc->ncols + 1, sizeof(*vecs));
	if (!ins || !vecs)
		mlfs_oom();
	int rc = 0;
	lo += sc->lo;
	hi += sc->lo;
	for (size_t i = lo; !rc && i < hi; i++) {
		for (size_t k = 0; !rc && k < sc->ncols; k++)
			rc = chunk_read(sc->c, i, sc->cols[k], &key, &ins[k], &vecs[k], &sc->errs[t]);
		if (!rc)
			rc = sc->fn(sc->ctx, t, sc->c->chunks[i].first, vecs, sc->c->chunks[i].rows);
	}
	sc->rc[t] = rc;
	for (size_t k = 0; k < sc->ncols; k++)
		chunk_in_free(&ins[k]);
	free(ins);
	free(vecs);
	buf_free(&key);
}

int columnar_threads(void)
{
	return par_threads(par_default());
}

size_t columnar_nchunks(const struct columnar *c)
{
	return c->nchunks;
}

int columnar_scan(struct columnar *c, const uint32_t *cols, size_t ncols,
		  columnar_fn fn, void *ctx, struct mlfs_err *err)
{
	return columnar_scan_chunks(c, 0, c->nchunks, cols, ncols, fn, ctx, err);
}

int columnar_scan_chunks(struct columnar *c, size_t lo, size_t hi,
			 const uint32_t *cols, size_t ncols, columnar_fn fn,
			 void *ctx, struct mlfs_err *err)
{
	int nt = columnar_threads();
	struct scan sc = { c, cols, ncols, fn, ctx, calloc((size_t)nt, sizeof(int)),
			   calloc((size_t)nt, sizeof(struct mlfs_err)), 0 };
	if (!sc.rc || !sc.errs)
		mlfs_oom();
	for (size_t k = 0; k < ncols; k++)
		if (cols[k] >= c->ncols) {
			free(sc.rc);
			free(sc.errs);
			return mlfs_fail(err, -EINVAL, "no column %u in the columnar form", cols[k]);
		}
	if (hi > c->nchunks)
		hi = c->nchunks;
	sc.lo = lo;
	if (lo < hi) {
		par_range(par_default(), hi - lo, scan_range, &sc);
		__atomic_add_fetch(&columnar_test_chunks_read, hi - lo, __ATOMIC_RELAXED);
	}
	int rc = 0;
	for (int t = 0; t < nt && !rc; t++)
		if ((rc = sc.rc[t]) && err)
			*err = sc.errs[t];
	free(sc.rc);
	free(sc.errs);
	return rc;
}

struct ordered {
	const struct columnar *c;
	size_t lo, hi;
	columnar_make_fn make;
	void *ctx;
	void **made;		/* per chunk of the pass */
};

static int ordered_chunk(void *ctx, int thread, uint64_t first,
			 const struct col_vec *cols, size_t n)
{
	struct ordered *o = ctx;
	size_t a = o->lo, b = o->hi;	/* the chunk starting at FIRST */
	while (b - a > 1) {
		size_t m = a + (b - a) / 2;
		if (o->c->chunks[m].first <= first)
			a = m;
		else
			b = m;
	}
	(void)thread;
	o->made[a - o->lo] = o->make(o->ctx, first, cols, n);
	return 0;
}

int columnar_scan_ordered(struct columnar *c, const uint32_t *cols, size_t ncols,
			  columnar_make_fn make, columnar_use_fn use, void *ctx,
			  struct mlfs_err *err)
{
	size_t step = 2 * (size_t)columnar_threads();
	struct ordered o = { c, 0, 0, make, ctx, calloc(step, sizeof(void *)) };
	if (!o.made)
		mlfs_oom();
	int rc = 0;
	for (o.lo = 0; !rc && o.lo < c->nchunks; o.lo = o.hi) {
		o.hi = c->nchunks - o.lo > step ? o.lo + step : c->nchunks;
		rc = columnar_scan_chunks(c, o.lo, o.hi, cols, ncols, ordered_chunk, &o, err);
		for (size_t i = 0; i < o.hi - o.lo; i++) {
			int r = o.made[i] ? use(ctx, o.made[i], rc != 0) : 0;
			rc = rc ? rc : r;
			o.made[i] = NULL;
		}
	}
	free(o.made);
	return rc;
}

/* ---- check and recovery ---- */

/* A table's id and current version, by id. */
struct tver {
	uint64_t tid, ver;
	char *name;
};

struct tvers {
	struct store *s;
	struct tver *v;
	size_t n, cap;
};

static int collect_table(void *ctx, const char *name)
{
	struct tvers *tv = ctx;
	struct table_info info;
	if (table_stat(tv->s, name, &info))
		return 0;
	if (tv->n == tv->cap) {
		tv->cap = tv->cap ? 2 * tv->cap : 16;
		if (!(tv->v = realloc(tv->v, tv->cap * sizeof(*tv->v))))
			mlfs_oom();
	}
	tv->v[tv->n++] = (struct tver){ info.id, info.version, mlfs_strdup(name) };
	return 0;
}

static const struct tver *tver_find(const struct tvers *tv, uint64_t tid)
{
	for (size_t i = 0; i < tv->n; i++)
		if (tv->v[i].tid == tid)
			return &tv->v[i];
	return NULL;
}

static void tvers_free(struct tvers *tv)
{
	for (size_t i = 0; i < tv->n; i++)
		free(tv->v[i].name);
	free(tv->v);
}

/* Call FN for each table id with keys under k/, with its table (NULL:
 * none) and the form it keeps (NULL: none; freed after FN). */
static int tables_each(struct store *s, const struct tvers *tv,
		       int (*fn)(void *ctx, uint64_t tid, const struct tver *t,
				 struct columnar *keep),
		       void *ctx)
{
	struct store_iter *it = store_iter_new(s, NULL, "k/", 2, "k0", 2);
	struct buf next = { 0 };
	int rc = 0;
	for (store_iter_seek_first(it); !rc && store_iter_valid(it);) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl < 10) {
			store_iter_next(it);
			continue;
		}
		uint64_t tid = key_get_u64(k + 2);
		const struct tver *t = tver_find(tv, tid);
		struct columnar *keep = t ? form_newest(s, tid, t->ver) : NULL;
		rc = fn(ctx, tid, t, keep);
		columnar_free(keep);
		buf_reset(&next);
		buf_puts(&next, "k/");
		key_put_u64(&next, tid + 1);
		store_iter_seek(it, next.data, next.len);
	}
	if (!rc)
		rc = store_iter_status(it, NULL);
	store_iter_free(it);
	buf_free(&next);
	return rc;
}

static int recover_one(void *ctx, uint64_t tid, const struct tver *t,
		       struct columnar *keep)
{
	(void)t;
	return form_gc(ctx, tid, keep);
}

int columnar_recover(struct store *s, struct mlfs_err *err)
{
	struct tvers tv = { .s = s };
	pthread_mutex_lock(store_lock(s, &build_lock_key));
	int rc = table_list(s, collect_table, &tv);
	if (!rc)
		rc = tables_each(s, &tv, recover_one, s);
	pthread_mutex_unlock(store_lock(s, &build_lock_key));
	tvers_free(&tv);
	return rc < 0 ? mlfs_fail(err, rc, "columnar forms: %s", strerror(-rc)) : 0;
}

int columnar_owners_sweep(struct store *s, const char *prefix,
			  bool (*gone)(void *ctx, const char *owner), void *ctx, size_t *n,
			  struct mlfs_err *err)
{
	size_t pl = strlen(prefix);
	struct buf lo = { 0 }, hi = { 0 }, v = { 0 };
	buf_append(&hi, prefix, pl);
	hi.data[pl - 1]++;	/* past the prefix: "k/" .. "k0" */
	struct store_iter *it = store_iter_new(s, NULL, prefix, pl, hi.data, pl);
	struct store_batch *b = store_batch_new();
	size_t count = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		if (kl != pl + 17 || k[pl + 16] != 'o')
			continue;
		const char *val = store_iter_value(it, &vl);
		struct dec *d = codec_dec_new(val, vl);
		char owner[STORE_WRITER_MAX] = "";
		if (!d || !codec_dget_str(codec_dec_root(d), "o", owner, sizeof(owner)))
			owner[0] = '\0';
		codec_dec_free(d);
		if (!owner[0] || !gone(ctx, owner))
			continue;
		buf_reset(&lo);
		buf_append(&lo, k, pl + 16);	/* PREFIX ID VER: the manifest */
		if (store_get(s, NULL, lo.data, lo.len, &v, NULL) == 0) {
			store_batch_delete(b, k, kl);	/* the form is whole */
			continue;
		}
		buf_reset(&hi);
		buf_append(&hi, k, pl + 8);
		key_put_u64(&hi, key_get_u64(k + pl + 8) + 1);
		store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
		count++;
	}
	int rc = store_iter_status(it, err);
	store_iter_free(it);
	if (!rc && store_batch_count(b))
		rc = store_write(s, b, true, err);
	store_batch_free(b);
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&v);
	if (n)
		*n = rc ? 0 : count;
	return rc;
}

int columnar_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
			size_t *n, struct mlfs_err *err)
{
	return columnar_owners_sweep(s, "k/", gone, ctx, n, err);
}

/* The check of one whole form: its stored chunks and data.csv. */
struct form_check {
	struct columnar *c;
	struct colbuild *cols;
	struct buf tmp;
	size_t chunk;		/* data.csv: the chunk being rebuilt */
	uint64_t *sums;		/* data.csv's checksums */
	uint64_t rows;
};

static int check_row(void *ctx, const struct csv_field *f, size_t n,
		     uint64_t line, struct mlfs_err *err)
{
	struct form_check *fc = ctx;
	struct columnar *c = fc->c;
	(void)line;
	if (n != c->ncols || fc->chunk >= c->nchunks)
		return mlfs_fail(err, -EIO, "the rows do not match the form");
	for (uint32_t k = 0; k < n; k++)
		colbuild_add(&fc->cols[k], f[k].p, f[k].len);
	fc->rows++;
	if (fc->cols[0].n == c->chunks[fc->chunk].rows) {
		for (uint32_t k = 0; k < n; k++) {
			uint64_t sum = colbuild_seal(&fc->cols[k], &fc->tmp);
			fc->sums[k] += mix(fc->chunk ^ mix(sum));
			colbuild_reset(&fc->cols[k]);
		}
		fc->chunk++;
	}
	return 0;
}

/* Problems of whole form C of table T into REPORT: returns how many. */
static int check_form(struct store *s, struct columnar *c, const struct tver *t,
		      struct buf *report)
{
	struct form_check fc = { .c = c };
	struct buf key = { 0 };
	struct chunk_in in = { 0 };
	struct table_info info = { 0 };
	int problems = 0;
	if (!(fc.sums = calloc(c->ncols + 1, sizeof(*fc.sums))) ||
	    !(fc.cols = calloc(c->ncols + 1, sizeof(*fc.cols))))
		mlfs_oom();
	/* The stored chunks against the manifest. */
	for (uint32_t k = 0; k < c->ncols && !problems; k++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < c->nchunks && !problems; i++) {
			struct col_vec v;
			if (chunk_read(c, i, k, &key, &in, &v, NULL))
				problems++;
			else
				sum += mix(i ^ mix(columnar_vec_sum(&v, 0)));
		}
		if (!problems && sum != c->sums[k])
			problems++;
	}
	if (problems)
		buf_printf(report, "table %s: columnar form of version %llu: a chunk is missing or damaged\n",
			   t->name, (unsigned long long)c->ver);
	/* data.csv against the manifest. */
	for (uint32_t k = 0; k < c->ncols; k++) {
		fc.cols[k].type = c->types[k];
		colbuild_reset(&fc.cols[k]);
	}
	int rc = table_scan(s, t->name, check_row, &fc, NULL);
	table_stat(s, t->name, &info);
	bool same = !rc && fc.rows == c->rows && fc.chunk == c->nchunks &&
		    info.rows == c->rows;
	for (uint32_t k = 0; same && k < c->ncols; k++)
		same = fc.sums[k] == c->sums[k];
	if (!same && info.version == c->ver) {
		buf_printf(report, "table %s: columnar form of version %llu does not match data.csv\n",
			   t->name, (unsigned long long)c->ver);
		problems++;
	}
	for (uint32_t k = 0; k < c->ncols; k++)
		colbuild_free(&fc.cols[k]);
	free(fc.cols);
	free(fc.sums);
	buf_free(&fc.tmp);
	buf_free(&key);
	chunk_in_free(&in);
	return problems;
}

struct check_ctx {
	struct store *s;
	struct buf *report;
	bool alone;
	int problems;
};

static int check_one(void *ctx, uint64_t tid, const struct tver *t,
		     struct columnar *keep)
{
	struct check_ctx *cc = ctx;
	if (keep && keep->ver == t->ver)
		cc->problems += check_form(cc->s, keep, t, cc->report);
	/* Beside a daemon, keys no form names may be a build in flight. */
	uint64_t left = cc->alone ? form_leftovers(cc->s, tid, keep, NULL) : 0;
	if (left) {
		buf_printf(cc->report, "columnar form of table id %llu: %llu keys that no whole form of its version names: not whole, left by a build cut short, or of an older version (removed at the next mount)\n",
			   (unsigned long long)tid, (unsigned long long)left);
		cc->problems++;
	}
	return 0;
}

int columnar_check(struct store *s, bool alone, struct buf *report,
		   struct mlfs_err *err)
{
	struct tvers tv = { .s = s };
	struct check_ctx cc = { s, report, alone, 0 };
	int rc = table_list(s, collect_table, &tv);
	if (!rc)
		rc = tables_each(s, &tv, check_one, &cc);
	tvers_free(&tv);
	if (rc < 0)
		return mlfs_fail(err, rc, "columnar forms could not be read: %s", strerror(-rc));
	return cc.problems;
}
