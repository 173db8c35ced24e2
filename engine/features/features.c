/* features.c - feature tables in the store: metadata, texts, rows by key,
 * point-in-time versions, merge and replace writes, data.csv, lookups,
 * stats.
 *
 * Records (docs/features.md, "Store keys"):
 *   f/m/NAME               meta: id, columns and types, keys, timestamp_key,
 *                          rows, versions, fbytes, ver, times
 *   f/r/ID KEY             the latest row of KEY: [ts|nil, field...]
 *   f/v/ID KEY TS          every version of KEY (only with a timestamp_key)
 *   f/t/ID C               texts: description d, tags g, pipeline p,
 *                          report r
 *   f/n                    the id counter
 * ID is a big-endian u64.  KEY is the key fields, each either 0x01 + a
 * sign-flipped big-endian i64 (a canonical integer) or 0x02 + bytes with
 * 0x00 escaped as 0x00 0xff, ended by 0x00 0x00: self-delimiting and
 * ordered (integers numerically).  TS is a sign-flipped big-endian i64 of
 * micros.
 * Invariants: f/r holds exactly one record per key that has a row; with a
 * timestamp_key it equals the f/v record of the greatest TS of that key.
 * meta.fbytes is the sum over f/r rows of their fields' CSV text length,
 * so data.csv is header + fbytes + rows * ncols bytes (commas, newlines).
 * Every change is one store batch written under feat_lock, after reading
 * meta under the same lock: commits never interleave. */
#include "features.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cache.h"
#include "codec.h"
#include "ids.h"
#include "csv.h"
#include "stats.h"
#include "table.h"

#define FEAT_MAX_COLUMNS 4096
#define FEAT_MAX_KEYS 16
#define NULL_LEN 0xffffffffu

/* Per store (store_lock): two stores never wait on each other. */
static const char feat_lock_key;
#define FEAT_LOCK(s) store_lock((s), &feat_lock_key)

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
};

/* ---- keys of the store ---- */

static void key_meta(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_puts(k, "f/m/");
	buf_puts(k, name);
}

static void key_rows(struct buf *k, char kind, uint64_t id)
{
	buf_reset(k);
	buf_putc(k, 'f');
	buf_putc(k, '/');
	buf_putc(k, kind);
	buf_putc(k, '/');
	key_put_u64(k, id);
}

static void key_text(struct buf *k, uint64_t id, char what)
{
	key_rows(k, 't', id);
	buf_putc(k, what);
}

static void put_i64_key(struct buf *k, int64_t v)
{
	key_put_u64(k, (uint64_t)v ^ 0x8000000000000000ULL);
}

static int64_t get_i64_key(const char *p)
{
	return (int64_t)(key_get_u64(p) ^ 0x8000000000000000ULL);
}

/* Append the encoding of one key field.  Integers in canonical form sort
 * numerically; any other text sorts bytewise after them. */
static void enc_key_field(struct buf *k, const char *p, size_t len)
{
	int64_t v;
	char tmp[24];
	if (len && len < 21 && value_parse_int(p, len, &v)) {
		int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
		if ((size_t)n == len && !memcmp(tmp, p, len)) {
			buf_putc(k, 1);
			put_i64_key(k, v);
			return;
		}
	}
	buf_putc(k, 2);
	for (size_t i = 0; i < len; i++) {
		buf_putc(k, p[i]);
		if (p[i] == '\0')
			buf_putc(k, (char)0xff);
	}
	buf_putc(k, 0);
	buf_putc(k, 0);
}

/* Decode the key fields at P[0..LEN) into text joined by ','.  Returns
 * the bytes consumed, 0 when damaged. */
static size_t dec_key(const char *p, size_t len, uint32_t nkeys, struct buf *out)
{
	size_t i = 0;
	for (uint32_t f = 0; f < nkeys; f++) {
		if (f)
			buf_putc(out, ',');
		if (i >= len)
			return 0;
		if (p[i] == 1) {
			if (i + 9 > len)
				return 0;
			buf_put_int(out, get_i64_key(p + i + 1));
			i += 9;
		} else if (p[i] == 2) {
			i++;
			for (;;) {
				if (i >= len)
					return 0;
				if (p[i] == 0) {
					if (i + 1 >= len)
						return 0;
					if (p[i + 1] == 0) {
						i += 2;
						break;
					}
					buf_putc(out, '\0');
					i += 2;
				} else {
					buf_putc(out, p[i++]);
				}
			}
		} else {
			return 0;
		}
	}
	return i;
}

/* ---- meta ---- */

static void meta_free(struct fmeta *m)
{
	for (uint32_t i = 0; i < m->ncols; i++)
		free(m->names[i]);
	free(m->names);
	free(m->types);
	for (uint32_t i = 0; i < m->nkeys; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->ts);
	memset(m, 0, sizeof(*m));
}

static int meta_add_col(struct fmeta *m, const char *name, enum col_type t)
{
	char **n = realloc(m->names, (m->ncols + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->names = n;
	enum col_type *ty = realloc(m->types, (m->ncols + 1) * sizeof(*ty));
	if (!ty)
		return -ENOMEM;
	m->types = ty;
	if (!(m->names[m->ncols] = strdup(name)))
		return -ENOMEM;
	m->types[m->ncols++] = t;
	return 0;
}

static void meta_clear_cols(struct fmeta *m)
{
	for (uint32_t i = 0; i < m->ncols; i++)
		free(m->names[i]);
	m->ncols = 0;
}

static int meta_set_keys(struct fmeta *m, char *const *keys, uint32_t n)
{
	for (uint32_t i = 0; i < m->nkeys; i++)
		free(m->keys[i]);
	free(m->keys);
	m->nkeys = 0;
	m->keys = calloc(n ? n : 1, sizeof(char *));
	if (!m->keys)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (!(m->keys[i] = strdup(keys[i])))
			return -ENOMEM;
		m->nkeys = i + 1;
	}
	return 0;
}

static void meta_encode(const struct fmeta *m, struct buf *b)
{
	buf_reset(b);
	codec_enc_map(b, 12);
	codec_enc_cstr(b, "id");
	codec_enc_u64(b, m->id);
	codec_enc_cstr(b, "cols");
	codec_enc_array(b, m->ncols);
	for (uint32_t i = 0; i < m->ncols; i++) {
		codec_enc_array(b, 2);
		codec_enc_cstr(b, m->names[i]);
		codec_enc_cstr(b, m->types[i] == COL_NULL ? "null" : col_type_name(m->types[i]));
	}
	codec_enc_cstr(b, "keys");
	codec_enc_array(b, m->nkeys);
	for (uint32_t i = 0; i < m->nkeys; i++)
		codec_enc_cstr(b, m->keys[i]);
	codec_enc_cstr(b, "keys_set");
	codec_enc_bool(b, m->keys_set);
	codec_enc_cstr(b, "ts");
	if (m->ts)
		codec_enc_cstr(b, m->ts);
	else
		codec_enc_nil(b);
	codec_enc_cstr(b, "rows");
	codec_enc_u64(b, m->rows);
	codec_enc_cstr(b, "versions");
	codec_enc_u64(b, m->versions);
	codec_enc_cstr(b, "fbytes");
	codec_enc_u64(b, m->fbytes);
	codec_enc_cstr(b, "ver");
	codec_enc_u64(b, m->ver);
	codec_enc_cstr(b, "ctime");
	codec_enc_i64(b, m->ctime);
	codec_enc_cstr(b, "mtime");
	codec_enc_i64(b, m->mtime);
	codec_enc_cstr(b, "format");
	codec_enc_u64(b, 1);
}

static int meta_decode(const char *p, size_t len, struct fmeta *m)
{
	struct dec *d = codec_dec_new(p, len);
	struct dval root, cols, keys, ts;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (!d)
		return -EIO;
	root = codec_dec_root(d);
	m->id = codec_dget_u64(root, "id", 0);
	m->keys_set = codec_dget_bool(root, "keys_set", false);
	m->rows = codec_dget_u64(root, "rows", 0);
	m->versions = codec_dget_u64(root, "versions", 0);
	m->fbytes = codec_dget_u64(root, "fbytes", 0);
	m->ver = codec_dget_u64(root, "ver", 0);
	m->ctime = codec_dget_i64(root, "ctime", 0);
	m->mtime = codec_dget_i64(root, "mtime", 0);
	if (!m->id || !codec_dval_get(root, "cols", &cols) || !codec_dval_get(root, "keys", &keys)) {
		codec_dec_free(d);
		return -EIO;
	}
	for (size_t i = 0; i < codec_dval_len(cols) && !rc; i++) {
		const char *np, *tp;
		size_t nl, tl;
		char name[TABLE_NAME_MAX * 8 + 1];
		enum col_type t = COL_STRING;
		if (!codec_dval_str(codec_dval_at(codec_dval_at(cols, i), 0), &np, &nl) ||
		    !codec_dval_str(codec_dval_at(codec_dval_at(cols, i), 1), &tp, &tl) || nl >= sizeof(name)) {
			rc = -EIO;
			break;
		}
		memcpy(name, np, nl);
		name[nl] = '\0';
		if (tl == 4 && !memcmp(tp, "null", 4))
			t = COL_NULL;
		else if (col_type_parse(tp, tl, &t))
			t = COL_STRING;
		rc = meta_add_col(m, name, t);
	}
	m->keys = calloc(codec_dval_len(keys) + 1, sizeof(char *));
	if (!m->keys)
		rc = -ENOMEM;
	for (size_t i = 0; i < codec_dval_len(keys) && !rc; i++) {
		const char *kp;
		size_t kl;
		if (!codec_dval_str(codec_dval_at(keys, i), &kp, &kl)) {
			rc = -EIO;
			break;
		}
		if (!(m->keys[i] = strndup(kp, kl)))
			rc = -ENOMEM;
		m->nkeys = (uint32_t)i + 1;
	}
	if (!rc && codec_dval_get(root, "ts", &ts) && !codec_dval_is_nil(ts)) {
		const char *tp;
		size_t tl;
		if (codec_dval_str(ts, &tp, &tl))
			m->ts = strndup(tp, tl);
	}
	codec_dec_free(d);
	if (rc)
		meta_free(m);
	return rc;
}

static int meta_load(struct store *s, const struct store_snapshot *snap,
		     const char *name, struct fmeta *m)
{
	struct buf k = { 0 }, v = { 0 };
	int rc;
	if (!names_valid(name))
		return -ENOENT;
	key_meta(&k, name);
	rc = store_get(s, snap, k.data, k.len, &v, NULL);
	if (!rc)
		rc = meta_decode(v.data, v.len, m);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

static void meta_put(struct store_batch *b, const char *name,
		     const struct fmeta *m)
{
	struct buf k = { 0 }, v = { 0 };
	key_meta(&k, name);
	meta_encode(m, &v);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

static int col_index(const struct fmeta *m, const char *name, size_t len)
{
	for (uint32_t i = 0; i < m->ncols; i++)
		if (strlen(m->names[i]) == len && !memcmp(m->names[i], name, len))
			return (int)i;
	return -1;
}

/* Length of P as a CSV field. */
static size_t field_len(const char *p, size_t len)
{
	size_t q = 0;
	bool quote = false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"')
			q++;
		if (p[i] == '"' || p[i] == ',' || p[i] == '\n' || p[i] == '\r')
			quote = true;
	}
	return quote ? len + q + 2 : len;
}

static size_t header_len(const struct fmeta *m)
{
	size_t n = 0;
	for (uint32_t i = 0; i < m->ncols; i++)
		n += field_len(m->names[i], strlen(m->names[i])) + 1;
	return n;
}

static void header_text(const struct fmeta *m, struct buf *out)
{
	buf_reset(out);
	for (uint32_t i = 0; i < m->ncols; i++) {
		if (i)
			buf_putc(out, ',');
		csv_put_field(out, m->names[i], strlen(m->names[i]));
	}
	if (m->ncols)
		buf_putc(out, '\n');
}

static uint64_t data_size(const struct fmeta *m)
{
	if (!m->ncols)
		return 0;
	return header_len(m) + m->fbytes + m->rows * m->ncols;
}

/* ---- create, drop, list, stat ---- */


int features_create(struct store *s, const char *name, struct mlfs_err *err)
{
	struct fmeta m = { 0 };
	int rc;

	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, name);
	pthread_mutex_lock(FEAT_LOCK(s));
	if (meta_load(s, NULL, name, &m) == 0) {
		meta_free(&m);
		rc = mlfs_fail(err, -EEXIST, "feature table '%s' exists", name);
		goto out;
	}
	memset(&m, 0, sizeof(m));
	if ((rc = ids_next_key(s, "f/n", 3, &m.id, err)))
		goto out;
	m.ctime = m.mtime = clock_now_ns();
	m.ver = 1;
	struct store_batch *b = store_batch_new();
	meta_put(b, name, &m);
	rc = store_write(s, b, false, err);
	store_batch_free(b);
out:
	pthread_mutex_unlock(FEAT_LOCK(s));
	return rc;
}

static void range_delete(struct store_batch *b, char kind, uint64_t id)
{
	struct buf lo = { 0 }, hi = { 0 };
	key_rows(&lo, kind, id);
	key_rows(&hi, kind, id + 1);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
}

int features_drop(struct store *s, const char *name, struct mlfs_err *err)
{
	struct fmeta m;
	struct buf k = { 0 };
	int rc;

	pthread_mutex_lock(FEAT_LOCK(s));
	if ((rc = meta_load(s, NULL, name, &m))) {
		pthread_mutex_unlock(FEAT_LOCK(s));
		return rc;
	}
	struct store_batch *b = store_batch_new();
	range_delete(b, 'r', m.id);
	range_delete(b, 'v', m.id);
	range_delete(b, 't', m.id);
	key_meta(&k, name);
	store_batch_delete(b, k.data, k.len);
	rc = store_write(s, b, false, err);
	store_batch_free(b);
	pthread_mutex_unlock(FEAT_LOCK(s));
	buf_free(&k);
	meta_free(&m);
	return rc;
}

int features_list(struct store *s, int (*fn)(void *ctx, const char *name),
		  void *ctx)
{
	struct store_iter *it = store_iter_new(s, NULL, "f/m/", 4, "f/m0", 4);
	char name[TABLE_NAME_MAX + 1];
	int rc = 0;

	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl - 4 > TABLE_NAME_MAX)
			continue;
		memcpy(name, k + 4, kl - 4);
		name[kl - 4] = '\0';
		if ((rc = fn(ctx, name)))
			break;
	}
	store_iter_free(it);
	return rc;
}

static void info_from_meta(const struct fmeta *m, struct features_info *out)
{
	out->id = m->id;
	out->rows = m->rows;
	out->versions = m->versions;
	out->size = data_size(m);
	out->version = m->ver;
	out->ncols = m->ncols;
	out->ctime_ns = m->ctime;
	out->mtime_ns = m->mtime;
}

int features_stat(struct store *s, const char *name, struct features_info *out)
{
	struct fmeta m;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	info_from_meta(&m, out);
	meta_free(&m);
	return 0;
}

/* ---- schema ---- */

void features_schema_free(struct features_schema *sc)
{
	if (!sc)
		return;
	free(sc->names);
	free(sc->types);
	free(sc->keys);
	free(sc->key_names);
	free(sc->ts_name);
	free(sc);
}

static int schema_from_meta(const struct fmeta *m, struct features_schema **out)
{
	struct features_schema *sc = calloc(1, sizeof(*sc));
	size_t total = 0, ktotal = 0;
	if (!sc)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->ncols; i++)
		total += strlen(m->names[i]) + 1;
	/* Keys default to the first column. */
	uint32_t nk = m->nkeys ? m->nkeys : (m->ncols ? 1 : 0);
	char *const *kn = m->nkeys ? m->keys : m->names;
	for (uint32_t i = 0; i < nk; i++)
		ktotal += strlen(kn[i]) + 1;
	sc->names = malloc((m->ncols + 1) * sizeof(char *) + total);
	sc->types = calloc(m->ncols + 1, sizeof(*sc->types));
	sc->keys = calloc(nk + 1, sizeof(*sc->keys));
	sc->key_names = malloc((nk + 1) * sizeof(char *) + ktotal);
	if (!sc->names || !sc->types || !sc->keys || !sc->key_names) {
		features_schema_free(sc);
		return -ENOMEM;
	}
	char *p = (char *)(sc->names + m->ncols + 1);
	for (uint32_t i = 0; i < m->ncols; i++) {
		size_t l = strlen(m->names[i]) + 1;
		memcpy(p, m->names[i], l);
		sc->names[i] = p;
		p += l;
		sc->types[i] = m->types[i];
	}
	sc->names[m->ncols] = NULL;
	sc->ncols = m->ncols;
	p = (char *)(sc->key_names + nk + 1);
	for (uint32_t i = 0; i < nk; i++) {
		size_t l = strlen(kn[i]) + 1;
		memcpy(p, kn[i], l);
		sc->key_names[i] = p;
		p += l;
		int ci = col_index(m, kn[i], l - 1);
		sc->keys[i] = ci < 0 ? UINT32_MAX : (uint32_t)ci;
	}
	sc->key_names[nk] = NULL;
	sc->nkeys = nk;
	sc->keys_set = m->keys_set;
	sc->ts = m->ts ? col_index(m, m->ts, strlen(m->ts)) : -1;
	if (m->ts && !(sc->ts_name = strdup(m->ts))) {
		features_schema_free(sc);
		return -ENOMEM;
	}
	*out = sc;
	return 0;
}

int features_schema_get(struct store *s, const char *name,
			struct features_schema **out, struct mlfs_err *err)
{
	struct fmeta m;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "feature table '%s': unreadable metadata", name);
	rc = schema_from_meta(&m, out);
	meta_free(&m);
	return rc;
}

int features_keys_text(struct store *s, const char *name, struct buf *out)
{
	struct fmeta m;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	buf_reset(out);
	if (m.nkeys)
		for (uint32_t i = 0; i < m.nkeys; i++)
			buf_printf(out, "%s\n", m.keys[i]);
	else if (m.ncols)
		buf_printf(out, "%s\n", m.names[0]);
	meta_free(&m);
	return 0;
}

/* Split TEXT into names at newlines or commas, trimming blanks.  *OUT is
 * one block (free it); -EINVAL for a bad name. */
static int split_names(const char *text, size_t len, char ***out, uint32_t *n,
		       uint32_t max, const char *what, struct mlfs_err *err)
{
	char **arr = calloc(max + 1, sizeof(char *));
	uint32_t cnt = 0;
	size_t i = 0;
	int rc = 0;

	if (!arr)
		return -ENOMEM;
	while (i < len && !rc) {
		size_t st = i;
		while (i < len && text[i] != '\n' && text[i] != ',')
			i++;
		size_t a = st, b = i;
		i++;
		while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
			a++;
		while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
			b--;
		if (a == b)
			continue;
		if (cnt == max) {
			rc = mlfs_fail(err, -EINVAL, "more than %u %s", max, what);
			break;
		}
		if (memchr(text + a, '\0', b - a) || memchr(text + a, '"', b - a) ||
		    !csv_utf8_valid(text + a, b - a) || b - a > 1024) {
			rc = mlfs_fail(err, -EINVAL, "bad column name in %s", what);
			break;
		}
		arr[cnt] = strndup(text + a, b - a);
		for (uint32_t j = 0; j < cnt && !rc; j++)
			if (!strcmp(arr[j], arr[cnt]))
				rc = mlfs_fail(err, -EINVAL, "column '%s' named twice in %s", arr[cnt], what);
		cnt++;
	}
	if (rc) {
		for (uint32_t j = 0; j < cnt; j++)
			free(arr[j]);
		free(arr);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

static void free_names(char **arr, uint32_t n)
{
	for (uint32_t i = 0; arr && i < n; i++)
		free(arr[i]);
	free(arr);
}

int features_set_keys(struct store *s, const char *name, const char *text,
		      size_t len, bool apply, struct mlfs_err *err)
{
	struct fmeta m;
	char **keys;
	uint32_t n;
	int rc = split_names(text, len, &keys, &n, FEAT_MAX_KEYS, "keys", err);
	if (rc)
		return rc;
	if (n == 0) {
		free_names(keys, n);
		return mlfs_fail(err, -EINVAL, "keys: name one or more columns, one a line");
	}
	pthread_mutex_lock(FEAT_LOCK(s));
	if ((rc = meta_load(s, NULL, name, &m)))
		goto out;
	bool same = n == (m.nkeys ? m.nkeys : (m.ncols ? 1 : 0));
	for (uint32_t i = 0; same && i < n; i++)
		same = !strcmp(keys[i], m.nkeys ? m.keys[i] : m.names[0]);
	if (!same && m.rows > 0) {
		rc = mlfs_fail(err, -EINVAL, "the table has rows: keys can change only while it is empty (> data.csv with nothing empties it)");
		goto out_meta;
	}
	for (uint32_t i = 0; i < n && m.ncols; i++)
		if (col_index(&m, keys[i], strlen(keys[i])) < 0) {
			rc = mlfs_fail(err, -EINVAL, "keys: no column '%s' in this table", keys[i]);
			goto out_meta;
		}
	if (m.ts)
		for (uint32_t i = 0; i < n; i++)
			if (!strcmp(keys[i], m.ts)) {
				rc = mlfs_fail(err, -EINVAL, "keys: '%s' is the timestamp_key; a key names the entity", keys[i]);
				goto out_meta;
			}
	if (apply) {
		if ((rc = meta_set_keys(&m, keys, n)))
			goto out_meta;
		m.keys_set = true;
		struct store_batch *b = store_batch_new();
		meta_put(b, name, &m);
		rc = store_write(s, b, false, err);
		store_batch_free(b);
	}
out_meta:
	meta_free(&m);
out:
	pthread_mutex_unlock(FEAT_LOCK(s));
	free_names(keys, n);
	return rc;
}

int features_ts_text(struct store *s, const char *name, struct buf *out)
{
	struct fmeta m;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	buf_reset(out);
	if (m.ts)
		buf_printf(out, "%s\n", m.ts);
	meta_free(&m);
	return 0;
}

int features_set_ts(struct store *s, const char *name, const char *text,
		    size_t len, bool apply, struct mlfs_err *err)
{
	struct fmeta m;
	char **cols;
	uint32_t n;
	int rc = split_names(text, len, &cols, &n, 1, "timestamp_key (one column)", err);
	if (rc)
		return rc;
	pthread_mutex_lock(FEAT_LOCK(s));
	if ((rc = meta_load(s, NULL, name, &m)))
		goto out;
	bool same = (n == 0 && !m.ts) || (n == 1 && m.ts && !strcmp(m.ts, cols[0]));
	if (!same && m.rows > 0) {
		rc = mlfs_fail(err, -EINVAL, "the table has rows: timestamp_key can change only while it is empty");
		goto out_meta;
	}
	if (n == 1 && m.ncols) {
		int ci = col_index(&m, cols[0], strlen(cols[0]));
		if (ci < 0) {
			rc = mlfs_fail(err, -EINVAL, "timestamp_key: no column '%s' in this table", cols[0]);
			goto out_meta;
		}
		if (m.types[ci] != COL_DATE && m.types[ci] != COL_TIMESTAMP && m.types[ci] != COL_NULL) {
			rc = mlfs_fail(err, -EINVAL, "timestamp_key: column '%s' is %s, not a date or timestamp",
				       cols[0], col_type_name(m.types[ci]));
			goto out_meta;
		}
	}
	for (uint32_t i = 0; n == 1 && i < m.nkeys; i++)
		if (!strcmp(m.keys[i], cols[0])) {
			rc = mlfs_fail(err, -EINVAL, "timestamp_key: '%s' is a key column", cols[0]);
			goto out_meta;
		}
	if (apply) {
		free(m.ts);
		m.ts = n ? strdup(cols[0]) : NULL;
		struct store_batch *b = store_batch_new();
		meta_put(b, name, &m);
		rc = store_write(s, b, false, err);
		store_batch_free(b);
	}
out_meta:
	meta_free(&m);
out:
	pthread_mutex_unlock(FEAT_LOCK(s));
	free_names(cols, n);
	return rc;
}

/* ---- texts ---- */

int features_text_get(struct store *s, const char *name,
		      enum features_text what, struct buf *out)
{
	struct fmeta m;
	struct buf k = { 0 };
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	key_text(&k, m.id, (char)what);
	buf_reset(out);
	rc = store_get(s, NULL, k.data, k.len, out, NULL);
	if (rc == -ENOENT) {
		buf_reset(out);
		rc = 0;
	}
	buf_free(&k);
	meta_free(&m);
	return rc;
}

static void text_put(struct store_batch *b, uint64_t id, char what,
		     const char *text, size_t len)
{
	struct buf k = { 0 };
	key_text(&k, id, what);
	if (len)
		store_batch_put(b, k.data, k.len, text, len);
	else
		store_batch_delete(b, k.data, k.len);
	buf_free(&k);
}

int features_text_set(struct store *s, const char *name,
		      enum features_text what, const char *text, size_t len,
		      struct mlfs_err *err)
{
	struct fmeta m;
	pthread_mutex_lock(FEAT_LOCK(s));
	int rc = meta_load(s, NULL, name, &m);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		text_put(b, m.id, (char)what, text, len);
		rc = store_write(s, b, false, err);
		store_batch_free(b);
		meta_free(&m);
	}
	pthread_mutex_unlock(FEAT_LOCK(s));
	return rc;
}

int features_tags_validate(const char *text, size_t len, struct mlfs_err *err)
{
	size_t i = 0;
	unsigned line = 0;
	if (!csv_utf8_valid(text, len) || memchr(text, '\0', len))
		return mlfs_fail(err, -EINVAL, "tags must be UTF-8 text");
	while (i < len) {
		size_t st = i;
		while (i < len && text[i] != '\n')
			i++;
		line++;
		size_t l = i - st;
		i++;
		if (l == 0 || (l == 1 && text[st] == '\r'))
			continue;
		const char *eq = memchr(text + st, '=', l);
		if (!eq || eq == text + st)
			return mlfs_fail(err, -EINVAL, "tags line %u: expected key=value", line);
	}
	return 0;
}

/* ---- staged rows ---- */

/* Rows waiting for a commit.  Each row in `arena`: u32 keylen, key, i64
 * ts, u64 line, u32 nf, then nf times (u32 len | NULL_LEN, bytes).  Fields
 * are in the order of `cols` (the write's columns). */
struct stage {
	uint32_t ncols;
	char **cols;
	enum col_type *types;	/* inferred or given */
	int *keypos;		/* for each key, its index in cols */
	uint32_t nkeys;
	int tspos;		/* index of the timestamp_key in cols, -1 */
	struct buf arena;
	uint64_t *offs;
	size_t nrows, cap;
};

static void stage_reset_rows(struct stage *st)
{
	buf_reset(&st->arena);
	st->nrows = 0;
}

static void stage_free(struct stage *st)
{
	free_names(st->cols, st->ncols);
	free(st->types);
	free(st->keypos);
	buf_free(&st->arena);
	free(st->offs);
	memset(st, 0, sizeof(*st));
	st->tspos = -1;
}

static void arena_u32(struct buf *b, uint32_t v)
{
	buf_append(b, &v, 4);
}

static void arena_u64(struct buf *b, uint64_t v)
{
	buf_append(b, &v, 8);
}

/* Parse V as the timestamp_key value (date or timestamp) into micros. */
static bool parse_ts(const char *p, size_t len, int64_t *us)
{
	int32_t d;
	if (value_parse_date(p, len, &d)) {
		*us = (int64_t)d * 86400000000LL;
		return true;
	}
	return value_parse_timestamp(p, len, us);
}

/* Set the stage's columns from a header; KEYS (NKEYS, may be 0: the first
 * column) and TS must be among them.  LINE for messages. */
static int stage_header(struct stage *st, const char *const *names,
			const size_t *lens, uint32_t n, char *const *keys,
			uint32_t nkeys, const char *ts, uint64_t line,
			struct mlfs_err *err)
{
	if (n == 0)
		return mlfs_fail(err, -EINVAL, "line %llu: empty header", (unsigned long long)line);
	if (n > FEAT_MAX_COLUMNS)
		return mlfs_fail(err, -EINVAL, "line %llu: more than %d columns", (unsigned long long)line, FEAT_MAX_COLUMNS);
	st->cols = calloc(n, sizeof(char *));
	st->types = calloc(n, sizeof(*st->types));
	st->keypos = calloc(nkeys ? nkeys : 1, sizeof(int));
	if (!st->cols || !st->types || !st->keypos)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (lens[i] == 0)
			return mlfs_fail(err, -EINVAL, "line %llu, column %u: empty column name in header",
					 (unsigned long long)line, i + 1);
		if (memchr(names[i], '\n', lens[i]) || memchr(names[i], '\0', lens[i]) ||
		    memchr(names[i], '\r', lens[i]) || lens[i] > 1024)
			return mlfs_fail(err, -EINVAL, "line %llu, column %u: bad column name",
					 (unsigned long long)line, i + 1);
		for (uint32_t j = 0; j < i; j++)
			if (lens[j] == lens[i] && !memcmp(names[j], names[i], lens[i]))
				return mlfs_fail(err, -EINVAL, "line %llu, column %u: duplicate column '%.*s'",
						 (unsigned long long)line, i + 1, (int)lens[i], names[i]);
		if (!(st->cols[i] = strndup(names[i], lens[i])))
			return -ENOMEM;
		st->ncols = i + 1;
	}
	st->nkeys = nkeys ? nkeys : 1;
	for (uint32_t k = 0; k < st->nkeys; k++) {
		const char *kn = nkeys ? keys[k] : st->cols[0];
		st->keypos[k] = -1;
		for (uint32_t i = 0; i < n; i++)
			if (!strcmp(st->cols[i], kn))
				st->keypos[k] = (int)i;
		if (st->keypos[k] < 0)
			return mlfs_fail(err, -EINVAL, "line %llu: key column '%s' is missing from the header",
					 (unsigned long long)line, kn);
	}
	st->tspos = -1;
	if (ts) {
		for (uint32_t i = 0; i < n; i++)
			if (!strcmp(st->cols[i], ts))
				st->tspos = (int)i;
		if (st->tspos < 0)
			return mlfs_fail(err, -EINVAL, "line %llu: timestamp_key column '%s' is missing from the header",
					 (unsigned long long)line, ts);
	}
	return 0;
}

/* Stage one row.  KEY (out) gets the encoded key + ts for duplicate
 * checks. */
static int stage_row(struct stage *st, const char *const *f, const size_t *fl,
		     uint32_t n, uint64_t line, bool infer, struct buf *key,
		     int64_t *ts_out, struct mlfs_err *err)
{
	int64_t ts = 0;
	if (n != st->ncols)
		return mlfs_fail(err, -EINVAL, "line %llu, column %u: expected %u fields, found %u",
				 (unsigned long long)line, (n < st->ncols ? n : st->ncols) + 1,
				 st->ncols, n);
	buf_reset(key);
	for (uint32_t k = 0; k < st->nkeys; k++) {
		int c = st->keypos[k];
		if (fl[c] == 0)
			return mlfs_fail(err, -EINVAL, "line %llu, column %d: key '%s' is empty (null keys are not allowed)",
					 (unsigned long long)line, c + 1, st->cols[c]);
		enc_key_field(key, f[c], fl[c]);
	}
	if (st->tspos >= 0) {
		int c = st->tspos;
		if (fl[c] == 0 || !parse_ts(f[c], fl[c], &ts))
			return mlfs_fail(err, -EINVAL, "line %llu, column %d: timestamp_key '%s' needs a date or timestamp, not '%.*s'",
					 (unsigned long long)line, c + 1, st->cols[c],
					 (int)(fl[c] > 64 ? 64 : fl[c]), f[c]);
	}
	*ts_out = ts;
	if (infer)
		for (uint32_t i = 0; i < n; i++)
			if (fl[i] && st->types[i] != COL_STRING &&
			    !(st->types[i] != COL_NULL && value_fits(st->types[i], f[i], fl[i])))
				st->types[i] = col_type_widen(st->types[i], value_infer(f[i], fl[i]));
	if (st->nrows == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 1024;
		uint64_t *o = realloc(st->offs, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		st->offs = o;
		st->cap = cap;
	}
	st->offs[st->nrows++] = st->arena.len;
	arena_u32(&st->arena, (uint32_t)key->len);
	buf_append(&st->arena, key->data, key->len);
	arena_u64(&st->arena, (uint64_t)ts);
	arena_u64(&st->arena, line);
	arena_u32(&st->arena, n);
	for (uint32_t i = 0; i < n; i++) {
		arena_u32(&st->arena, fl[i] ? (uint32_t)fl[i] : NULL_LEN);
		if (fl[i])
			buf_append(&st->arena, f[i], fl[i]);
	}
	return st->arena.data ? 0 : -ENOMEM;
}

/* A view of a staged row. */
struct srow {
	const char *key;
	uint32_t klen;
	int64_t ts;
	uint64_t line;
	uint32_t nf;
	const char *fields;	/* the (len, bytes) list */
	size_t seq;
};

static void srow_at(const struct stage *st, size_t i, struct srow *r)
{
	const char *p = st->arena.data + st->offs[i];
	uint64_t u;
	memcpy(&r->klen, p, 4);
	r->key = p + 4;
	p += 4 + r->klen;
	memcpy(&u, p, 8);
	r->ts = (int64_t)u;
	memcpy(&r->line, p + 8, 8);
	memcpy(&r->nf, p + 16, 4);
	r->fields = p + 20;
	r->seq = i;
}

/* Sort entries: the first 16 key bytes big-endian, so most comparisons
 * need no trip to the arena; ties go to the whole key, the time, then
 * the order of writing (later lines win). */
struct sortent {
	uint64_t a, b;
	size_t idx;
};

static uint64_t be64(const char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = (v << 8) | (i < n ? (unsigned char)p[i] : 0);
	return v;
}

static int cmp_rows(const void *pa, const void *pb, void *ctx)
{
	const struct stage *st = ctx;
	const struct sortent *ea = pa, *eb = pb;
	if (ea->a != eb->a)
		return ea->a < eb->a ? -1 : 1;
	if (ea->b != eb->b)
		return ea->b < eb->b ? -1 : 1;
	struct srow x, y;
	srow_at(st, ea->idx, &x);
	srow_at(st, eb->idx, &y);
	size_t n = x.klen < y.klen ? x.klen : y.klen;
	int c = n > 16 ? memcmp(x.key + 16, y.key + 16, n - 16) : 0;
	if (c)
		return c;
	if (x.klen != y.klen)
		return x.klen < y.klen ? -1 : 1;
	if (x.ts != y.ts)
		return x.ts < y.ts ? -1 : 1;
	return (x.seq > y.seq) - (x.seq < y.seq);
}

/* ---- merging rows into records ---- */

/* A row being built in table column order. */
struct mrow {
	uint32_t n;
	const char **p;
	size_t *len;		/* NULL_LEN: null */
	bool has_ts;
	int64_t ts;
};

static int mrow_init(struct mrow *r, uint32_t n)
{
	r->n = n;
	r->p = calloc(n ? n : 1, sizeof(*r->p));
	r->len = calloc(n ? n : 1, sizeof(*r->len));
	return r->p && r->len ? 0 : -ENOMEM;
}

static void mrow_clear(struct mrow *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		r->p[i] = NULL;
		r->len[i] = NULL_LEN;
	}
	r->has_ts = false;
}

static void mrow_free(struct mrow *r)
{
	free(r->p);
	free(r->len);
}

/* Load a stored record into R (fields borrowed from D). */
static int mrow_load(struct mrow *r, const char *v, size_t vl, struct dec **d)
{
	*d = codec_dec_new(v, vl);
	if (!*d)
		return -EIO;
	struct dval root = codec_dec_root(*d);
	size_t n = codec_dval_len(root);
	mrow_clear(r);
	if (n == 0)
		return -EIO;
	struct dval t = codec_dval_at(root, 0);
	if (!codec_dval_is_nil(t) && codec_dval_i64(t, &r->ts))
		r->has_ts = true;
	for (size_t i = 1; i < n && i - 1 < r->n; i++) {
		const char *p;
		size_t l;
		if (codec_dval_str(codec_dval_at(root, i), &p, &l)) {
			r->p[i - 1] = p;
			r->len[i - 1] = l;
		}
	}
	return 0;
}

/* Overlay staged row S onto R through MAP (stage column -> table column). */
static void mrow_overlay(struct mrow *r, const struct srow *s, const int *map)
{
	const char *p = s->fields;
	for (uint32_t i = 0; i < s->nf; i++) {
		uint32_t l;
		memcpy(&l, p, 4);
		p += 4;
		int c = map[i];
		if (l == NULL_LEN) {
			r->p[c] = NULL;
			r->len[c] = NULL_LEN;
		} else {
			r->p[c] = p;
			r->len[c] = l;
			p += l;
		}
	}
}

static uint64_t mrow_bytes(const struct mrow *r)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < r->n; i++)
		if (r->len[i] != NULL_LEN)
			n += field_len(r->p[i], r->len[i]);
	return n;
}

static void mrow_encode(const struct mrow *r, struct buf *v)
{
	buf_reset(v);
	codec_enc_array(v, r->n + 1);
	if (r->has_ts)
		codec_enc_i64(v, r->ts);
	else
		codec_enc_nil(v);
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->len[i] == NULL_LEN)
			codec_enc_nil(v);
		else
			codec_enc_str(v, r->p[i], r->len[i]);
	}
}

/* Apply the stage to table NAME in batch B (under feat_lock): replace or
 * merge.  Updates M (to be written by the caller). */
/* One write's merge into the stored rows: apply_stage's state. */
struct merge {
	struct store *s;
	struct fmeta *m;
	struct stage *st;
	struct store_batch *b;
	struct mlfs_err *err;
	int *map;		/* stage column -> table column */
	size_t *idx;		/* stage rows in key order */
	struct mrow cur, ver;
	/* vold holds a stored version that `ver` borrows from while v is
	 * rewritten: never the same buffer. */
	struct buf k, v, vold;
	struct store_iter *it;	/* the table's latest rows, when merging */
	struct buf lo, hi;	/* its bounds, alive as long as it is */
	struct dec *dold, *dver;
	bool lookup, versioned;
};

/* The table's columns after this write: the stage's (replace, or a table
 * without columns yet), else new ones added and types widened. */
static int stage_columns(struct fmeta *m, const struct stage *st, bool replace)
{
	int rc = 0;
	if (replace || m->ncols == 0) {
		meta_clear_cols(m);
		for (uint32_t i = 0; i < st->ncols && !rc; i++)
			rc = meta_add_col(m, st->cols[i], st->types[i]);
		if (!m->keys_set && !rc) {
			char *kn[FEAT_MAX_KEYS];
			for (uint32_t i = 0; i < st->nkeys; i++)
				kn[i] = st->cols[st->keypos[i]];
			rc = meta_set_keys(m, kn, st->nkeys);
		}
		return rc;
	}
	for (uint32_t i = 0; i < st->ncols && !rc; i++) {
		int c = col_index(m, st->cols[i], strlen(st->cols[i]));
		if (c < 0)
			rc = meta_add_col(m, st->cols[i], st->types[i]);
		else if (st->types[i] != COL_NULL && m->types[c] != st->types[i])
			m->types[c] = m->types[c] == COL_NULL ? st->types[i] :
				      col_type_widen(m->types[c], st->types[i]);
	}
	return rc;
}

/* The keys and timestamp_key of the write must still be the table's. */
static int stage_keys_match(const struct fmeta *m, const struct stage *st,
			    struct mlfs_err *err)
{
	uint32_t tk = m->nkeys ? m->nkeys : 1;
	bool same = tk == st->nkeys;
	for (uint32_t i = 0; same && i < tk; i++)
		same = !strcmp(m->nkeys ? m->keys[i] : m->names[0], st->cols[st->keypos[i]]);
	if (!same)
		return mlfs_fail(err, -EINVAL, "the table's keys changed during the write; nothing written");
	if ((m->ts == NULL) != (st->tspos < 0) ||
	    (m->ts && strcmp(m->ts, st->cols[st->tspos])))
		return mlfs_fail(err, -EINVAL, "the table's timestamp_key changed during the write; nothing written");
	return 0;
}

/* The column map and the stage's rows in key order. */
static int stage_order(struct merge *g)
{
	struct stage *st = g->st;
	struct sortent *ents;
	g->map = calloc(st->ncols ? st->ncols : 1, sizeof(int));
	g->idx = malloc((st->nrows ? st->nrows : 1) * sizeof(size_t));
	ents = malloc((st->nrows ? st->nrows : 1) * sizeof(*ents));
	if (!g->map || !g->idx || !ents || mrow_init(&g->cur, g->m->ncols) ||
	    mrow_init(&g->ver, g->m->ncols)) {
		free(ents);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < st->ncols; i++)
		g->map[i] = col_index(g->m, st->cols[i], strlen(st->cols[i]));
	for (size_t i = 0; i < st->nrows; i++) {
		struct srow r;
		srow_at(st, i, &r);
		ents[i].a = be64(r.key, r.klen);
		ents[i].b = r.klen > 8 ? be64(r.key + 8, r.klen - 8) : 0;
		ents[i].idx = i;
	}
	qsort_r(ents, st->nrows, sizeof(*ents), cmp_rows, st);
	for (size_t i = 0; i < st->nrows; i++)
		g->idx[i] = ents[i].idx;
	free(ents);
	return 0;
}

/* The stored latest row of the key in g->k into g->cur: the iterator
 * walks forward a few steps (keys come in order) before it seeks. */
static int find_latest(struct merge *g, bool *have_old, uint64_t *old_bytes)
{
	struct store_iter *it = g->it;
	size_t kl;
	const char *ik;
	int steps = 0;

	*have_old = false;
	*old_bytes = 0;
	mrow_clear(&g->cur);
	if (!g->lookup || !store_iter_valid(it))
		return 0;
	while (store_iter_valid(it) && steps < 8) {
		ik = store_iter_key(it, &kl);
		size_t n = kl < g->k.len ? kl : g->k.len;
		int c = memcmp(ik, g->k.data, n);
		if (c > 0 || (c == 0 && kl >= g->k.len))
			break;
		store_iter_next(it);
		steps++;
	}
	if (store_iter_valid(it)) {
		ik = store_iter_key(it, &kl);
		size_t n = kl < g->k.len ? kl : g->k.len;
		int c = memcmp(ik, g->k.data, n);
		if (c < 0 || (c == 0 && kl < g->k.len))
			store_iter_seek(it, g->k.data, g->k.len);
	}
	if (!store_iter_valid(it))
		return 0;
	ik = store_iter_key(it, &kl);
	if (kl != g->k.len || memcmp(ik, g->k.data, kl))
		return 0;
	size_t vl;
	const char *iv = store_iter_value(it, &vl);
	codec_dec_free(g->dold);
	int rc = mrow_load(&g->cur, iv, vl, &g->dold);
	if (rc)
		return rc;
	*have_old = true;
	*old_bytes = mrow_bytes(&g->cur);
	return 0;
}

/* A table without timestamp_key: the stage rows I..J of one key overlay
 * its latest row. */
static void merge_latest(struct merge *g, size_t i, size_t j, bool have_old,
			 uint64_t old_bytes)
{
	for (size_t x = i; x < j; x++) {
		struct srow r;
		srow_at(g->st, g->idx[x], &r);
		mrow_overlay(&g->cur, &r, g->map);
	}
	mrow_encode(&g->cur, &g->v);
	store_batch_put(g->b, g->k.data, g->k.len, g->v.data, g->v.len);
	g->m->rows += !have_old;
	g->m->versions += !have_old;
	g->m->fbytes += mrow_bytes(&g->cur) - old_bytes;
}

/* The stored version of the key at TS into g->ver (the latest one when
 * that is it); *EXISTED tells whether there was one. */
static int load_version(struct merge *g, const struct buf *vk, int64_t ts,
			bool have_old, int64_t old_ts, bool *existed)
{
	*existed = false;
	if (have_old && ts == old_ts) {
		memcpy(g->ver.p, g->cur.p, g->cur.n * sizeof(*g->cur.p));
		memcpy(g->ver.len, g->cur.len, g->cur.n * sizeof(*g->cur.len));
		*existed = true;
		return 0;
	}
	mrow_clear(&g->ver);
	if (!g->lookup)
		return 0;
	int rc = store_get(g->s, NULL, vk->data, vk->len, &g->vold, g->err);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	codec_dec_free(g->dver);
	if ((rc = mrow_load(&g->ver, g->vold.data, g->vold.len, &g->dver)))
		return rc;
	*existed = true;
	return 0;
}

/* A table with timestamp_key: the stage rows I..J of key R0 each make or
 * overlay the version at their time; the newest becomes the latest. */
static int merge_versions(struct merge *g, const struct srow *r0, size_t i,
			  size_t j, bool have_old, uint64_t old_bytes)
{
	int64_t old_ts = have_old ? g->cur.ts : INT64_MIN, newest_ts = INT64_MIN;
	bool newest_set = false;
	struct buf newest = { 0 }, vk = { 0 };
	uint64_t newest_bytes = 0;
	int rc = 0;

	for (size_t x = i; x < j && !rc;) {
		struct srow r;
		srow_at(g->st, g->idx[x], &r);
		int64_t ts = r.ts;
		bool existed;
		buf_reset(&vk);
		key_rows(&vk, 'v', g->m->id);
		buf_append(&vk, r0->key, r0->klen);
		put_i64_key(&vk, ts);
		if ((rc = load_version(g, &vk, ts, have_old, old_ts, &existed)))
			break;
		for (; x < j; x++) {
			srow_at(g->st, g->idx[x], &r);
			if (r.ts != ts)
				break;
			mrow_overlay(&g->ver, &r, g->map);
		}
		g->ver.has_ts = true;
		g->ver.ts = ts;
		mrow_encode(&g->ver, &g->v);
		store_batch_put(g->b, vk.data, vk.len, g->v.data, g->v.len);
		g->m->versions += !existed;
		if (ts >= old_ts && ts >= newest_ts) {
			newest_set = true;
			newest_ts = ts;
			buf_reset(&newest);
			buf_append(&newest, g->v.data, g->v.len);
			newest_bytes = mrow_bytes(&g->ver);
		}
	}
	if (!rc && newest_set) {
		store_batch_put(g->b, g->k.data, g->k.len, newest.data, newest.len);
		g->m->rows += !have_old;
		g->m->fbytes += newest_bytes - old_bytes;
	}
	buf_free(&newest);
	buf_free(&vk);
	return rc;
}

static void merge_free(struct merge *g)
{
	store_iter_free(g->it);
	codec_dec_free(g->dold);
	codec_dec_free(g->dver);
	mrow_free(&g->cur);
	mrow_free(&g->ver);
	free(g->map);
	free(g->idx);
	buf_free(&g->k);
	buf_free(&g->v);
	buf_free(&g->vold);
	buf_free(&g->lo);
	buf_free(&g->hi);
}

static int apply_stage(struct store *s, const char *name, struct fmeta *m,
		       struct stage *st, bool replace, struct store_batch *b,
		       struct mlfs_err *err)
{
	struct merge g = { .s = s, .m = m, .st = st, .b = b, .err = err };
	int rc;

	if ((rc = stage_columns(m, st, replace)) ||
	    (rc = stage_keys_match(m, st, err)) || (rc = stage_order(&g)))
		goto out;
	if (replace) {
		range_delete(b, 'r', m->id);
		range_delete(b, 'v', m->id);
		m->rows = m->versions = m->fbytes = 0;
	}
	g.versioned = m->ts != NULL;
	g.lookup = !replace && m->rows > 0;
	if (g.lookup) {
		key_rows(&g.lo, 'r', m->id);
		key_rows(&g.hi, 'r', m->id + 1);
		g.it = store_iter_new(s, NULL, g.lo.data, g.lo.len, g.hi.data, g.hi.len);
		store_iter_seek_first(g.it);
	}
	for (size_t i = 0, j; i < st->nrows && !rc; i = j) {
		struct srow r0;
		srow_at(st, g.idx[i], &r0);
		for (j = i + 1; j < st->nrows; j++) {
			struct srow r;
			srow_at(st, g.idx[j], &r);
			if (r.klen != r0.klen || memcmp(r.key, r0.key, r0.klen))
				break;
		}
		bool have_old;
		uint64_t old_bytes;
		buf_reset(&g.k);
		key_rows(&g.k, 'r', m->id);
		buf_append(&g.k, r0.key, r0.klen);
		if ((rc = find_latest(&g, &have_old, &old_bytes)))
			break;
		if (!g.versioned)
			merge_latest(&g, i, j, have_old, old_bytes);
		else
			rc = merge_versions(&g, &r0, i, j, have_old, old_bytes);
	}
	if (!rc && g.it)
		rc = store_iter_status(g.it, err);
out:
	merge_free(&g);
	return rc;
}

/* Load meta of NAME expecting id ID, apply ST, write meta and EXTRA texts
 * in one batch. */
static int commit_stage(struct store *s, const char *name, uint64_t id,
			struct stage *st, bool replace, bool empty_only,
			const struct features_text_put *extra, size_t nextra,
			struct mlfs_err *err)
{
	struct fmeta m;
	int rc;

	pthread_mutex_lock(FEAT_LOCK(s));
	rc = meta_load(s, NULL, name, &m);
	if (rc || (id && m.id != id)) {
		if (!rc)
			meta_free(&m);
		pthread_mutex_unlock(FEAT_LOCK(s));
		return mlfs_fail(err, -ENOENT, "feature table '%s' was dropped during the write", name);
	}
	struct store_batch *b = store_batch_new();
	if (empty_only) {
		range_delete(b, 'r', m.id);
		range_delete(b, 'v', m.id);
		m.rows = m.versions = m.fbytes = 0;
	} else {
		rc = apply_stage(s, name, &m, st, replace, b, err);
	}
	if (!rc) {
		for (size_t i = 0; i < nextra; i++)
			text_put(b, m.id, (char)extra[i].what, extra[i].text, extra[i].len);
		m.ver++;
		m.mtime = clock_now_ns();
		meta_put(b, name, &m);
		rc = store_write(s, b, false, err);
	}
	store_batch_free(b);
	pthread_mutex_unlock(FEAT_LOCK(s));
	meta_free(&m);
	return rc;
}

/* ---- the CSV writer ---- */

/* Keys seen by a replace writer: hash -> line, key bytes in `keys`. */
struct seen {
	uint64_t h, line, off;
	uint32_t len;
	uint32_t used;
};

struct features_writer {
	struct store *s;
	char name[TABLE_NAME_MAX + 1];
	uint64_t id;
	bool replace, committed, failed, dirty;
	int fail_code;
	bool have_header, check_header;
	struct csv_reader *csv;
	/* The table at open. */
	uint32_t tcols;
	char **tnames;
	char **keys;
	uint32_t nkeys;
	char *ts;
	struct stage st;
	struct buf key;
	struct seen *seen;
	size_t nseen, capseen;
	struct buf seen_keys;
	const char **fp;
	size_t *fl;
	size_t fcap;
};

static uint64_t hash64(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 31;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

static int seen_grow(struct features_writer *w)
{
	size_t cap = w->capseen ? 2 * w->capseen : 1024;
	struct seen *n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < w->capseen; i++) {
		if (!w->seen[i].used)
			continue;
		size_t j = w->seen[i].h & (cap - 1);
		while (n[j].used)
			j = (j + 1) & (cap - 1);
		n[j] = w->seen[i];
	}
	free(w->seen);
	w->seen = n;
	w->capseen = cap;
	return 0;
}

/* Record KEY at LINE; a repeat fails naming both lines. */
static int seen_check(struct features_writer *w, const struct buf *key,
		      uint64_t line, struct mlfs_err *err)
{
	if (2 * (w->nseen + 1) > w->capseen && seen_grow(w))
		return -ENOMEM;
	uint64_t h = hash64(key->data, key->len);
	size_t j = h & (w->capseen - 1);
	while (w->seen[j].used) {
		struct seen *e = &w->seen[j];
		if (e->h == h && e->len == key->len &&
		    !memcmp(w->seen_keys.data + e->off, key->data, key->len)) {
			struct buf txt = { 0 };
			dec_key(key->data, key->len, w->st.nkeys, &txt);
			int rc = mlfs_fail(err, -EINVAL, "line %llu: duplicate key '%s' (first on line %llu); nothing written",
					   (unsigned long long)line, txt.data ? txt.data : "",
					   (unsigned long long)e->line);
			buf_free(&txt);
			return rc;
		}
		j = (j + 1) & (w->capseen - 1);
	}
	w->seen[j] = (struct seen){ h, line, w->seen_keys.len, (uint32_t)key->len, 1 };
	w->nseen++;
	return buf_append(&w->seen_keys, key->data, key->len);
}

static int w_fields(struct features_writer *w, const struct csv_field *f,
		    size_t n)
{
	if (n > w->fcap) {
		const char **p = realloc(w->fp, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		w->fp = p;
		size_t *l = realloc(w->fl, n * sizeof(*l));
		if (!l)
			return -ENOMEM;
		w->fl = l;
		w->fcap = n;
	}
	for (size_t i = 0; i < n; i++) {
		w->fp[i] = f[i].p;
		w->fl[i] = f[i].len;
	}
	return 0;
}

static int on_record(void *ctx, const struct csv_field *f, size_t n,
		     uint64_t line, struct mlfs_err *err)
{
	struct features_writer *w = ctx;
	int rc;

	if (n > FEAT_MAX_COLUMNS)
		return mlfs_fail(err, -EINVAL, "line %llu: more than %d fields", (unsigned long long)line, FEAT_MAX_COLUMNS);
	if ((rc = w_fields(w, f, n)))
		return rc;
	if (!w->have_header) {
		bool header = true;
		if (!w->replace && w->tcols > 0) {
			/* Merge: a first line naming any column is a header;
			 * otherwise rows follow the table's columns. */
			header = false;
			for (size_t i = 0; i < n && !header; i++)
				for (uint32_t c = 0; c < w->tcols && !header; c++)
					header = strlen(w->tnames[c]) == f[i].len &&
						 !memcmp(w->tnames[c], f[i].p, f[i].len);
		}
		w->have_header = true;
		if (header)
			return stage_header(&w->st, w->fp, w->fl, (uint32_t)n, w->keys,
					    w->nkeys, w->ts, line, err);
		size_t *lens = calloc(w->tcols, sizeof(size_t));
		if (!lens)
			return -ENOMEM;
		for (uint32_t c = 0; c < w->tcols; c++)
			lens[c] = strlen(w->tnames[c]);
		rc = stage_header(&w->st, (const char *const *)w->tnames, lens, w->tcols,
				  w->keys, w->nkeys, w->ts, line, err);
		free(lens);
		if (rc)
			return rc;
		if ((rc = w_fields(w, f, n)))
			return rc;
	}
	int64_t ts;
	if ((rc = stage_row(&w->st, w->fp, w->fl, (uint32_t)n, line, true, &w->key, &ts, err)))
		return rc;
	if (w->replace) {
		if (w->st.tspos >= 0)
			put_i64_key(&w->key, ts);
		if ((rc = seen_check(w, &w->key, line, err)))
			return rc;
	}
	w->dirty = true;
	return 0;
}

int features_writer_open(struct store *s, const char *name, bool replace,
			 struct features_writer **out, struct mlfs_err *err)
{
	struct fmeta m;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "feature table '%s': unreadable metadata", name);
	struct features_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		meta_free(&m);
		return -ENOMEM;
	}
	w->s = s;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->id = m.id;
	w->replace = replace;
	w->st.tspos = -1;
	w->csv = csv_reader_new(TABLE_MAX_RECORD, on_record, w);
	/* Take the table's names, keys and ts over from the meta. */
	w->tcols = m.ncols;
	w->tnames = m.names;
	m.names = NULL;
	m.ncols = 0;
	if (m.nkeys) {
		w->keys = m.keys;
		w->nkeys = m.nkeys;
		m.keys = NULL;
		m.nkeys = 0;
	} else if (w->tcols && !replace) {
		/* Merge into a table keyed by default: its first column. */
		w->keys = calloc(1, sizeof(char *));
		if (w->keys && (w->keys[0] = strdup(w->tnames[0])))
			w->nkeys = 1;
	}
	w->ts = m.ts;
	m.ts = NULL;
	meta_free(&m);
	if (!w->csv) {
		features_writer_free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

int features_writer_write(struct features_writer *w, const char *data,
			  size_t len, struct mlfs_err *err)
{
	if (w->failed)
		return mlfs_fail(err, w->fail_code, "an earlier write to this file failed");
	int rc = csv_reader_feed(w->csv, data, len, err);
	if (rc) {
		w->failed = true;
		w->fail_code = rc;
	}
	return rc;
}

int features_writer_commit(struct features_writer *w, bool final,
			   struct mlfs_err *err)
{
	int rc;
	if (w->failed)
		return mlfs_fail(err, w->fail_code, "an earlier write to this file failed");
	if ((rc = csv_reader_finish(w->csv, err))) {
		w->failed = true;
		w->fail_code = rc;
		return rc;
	}
	/* The reader is finished: make a new one for what comes next. */
	csv_reader_free(w->csv);
	w->csv = csv_reader_new(TABLE_MAX_RECORD, on_record, w);
	if (!w->csv) {
		w->failed = true;
		w->fail_code = -ENOMEM;
		return -ENOMEM;
	}
	bool replace_now = w->replace && !w->committed;
	bool empty_replace = final && replace_now && !w->have_header;
	if (!w->dirty && !empty_replace && !(replace_now && w->have_header && final))
		return 0;
	if (!w->have_header) {
		rc = commit_stage(w->s, w->name, w->id, NULL, true, true, NULL, 0, err);
	} else {
		rc = commit_stage(w->s, w->name, w->id, &w->st, replace_now, false, NULL, 0, err);
	}
	if (rc) {
		w->failed = true;
		w->fail_code = rc;
		return rc;
	}
	stage_reset_rows(&w->st);
	w->committed = true;
	w->dirty = false;
	return 0;
}

bool features_writer_failed(const struct features_writer *w)
{
	return w->failed;
}

void features_writer_free(struct features_writer *w)
{
	if (!w)
		return;
	csv_reader_free(w->csv);
	free_names(w->tnames, w->tcols);
	free_names(w->keys, w->nkeys);
	free(w->ts);
	stage_free(&w->st);
	buf_free(&w->key);
	free(w->seen);
	buf_free(&w->seen_keys);
	free(w->fp);
	free(w->fl);
	free(w);
}

int features_write_rows(struct store *s, const char *name,
			const struct features_rows *rows, bool replace,
			const struct features_text_put *extra, size_t nextra,
			struct mlfs_err *err)
{
	struct fmeta m;
	struct stage st = { .tspos = -1 };
	struct buf key = { 0 };
	const char **fp = NULL;
	size_t *fl = NULL;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	size_t *lens = calloc(rows->ncols + 1, sizeof(size_t));
	fp = calloc(rows->ncols + 1, sizeof(*fp));
	fl = calloc(rows->ncols + 1, sizeof(*fl));
	if (!lens || !fp || !fl) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t c = 0; c < rows->ncols; c++)
		lens[c] = strlen(rows->names[c]);
	char **keys = m.keys;
	uint32_t nkeys = m.nkeys;
	if (!nkeys && m.ncols && !replace) {
		keys = m.names;
		nkeys = 1;
	}
	if ((rc = stage_header(&st, rows->names, lens, rows->ncols, keys, nkeys,
			       m.ts, 1, err)))
		goto out;
	for (uint32_t c = 0; c < rows->ncols; c++)
		st.types[c] = rows->types ? rows->types[c] : COL_NULL;
	for (size_t r = 0; r < rows->nrows; r++) {
		int64_t ts;
		for (uint32_t c = 0; c < rows->ncols; c++) {
			fp[c] = rows->field(rows->ctx, r, c, &fl[c]);
			if (!fp[c])
				fl[c] = 0;
		}
		if ((rc = stage_row(&st, fp, fl, rows->ncols, r + 2, !rows->types, &key, &ts, err)))
			goto out;
	}
	rc = commit_stage(s, name, m.id, &st, replace, false, extra, nextra, err);
out:
	meta_free(&m);
	stage_free(&st);
	buf_free(&key);
	free(lens);
	free(fp);
	free(fl);
	return rc;
}

/* ---- data.csv ---- */

struct features_reader {
	struct store *s;
	struct store_snapshot *snap;
	struct store_iter *it;
	struct fmeta m;
	struct buf header, line;
	uint64_t size;
	uint64_t line_off;	/* offset of `line` in the file */
	bool started;
	struct mrow row;
};

int features_reader_open(struct store *s, const char *name,
			 struct features_reader **out, struct mlfs_err *err)
{
	struct features_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->s = s;
	r->snap = store_snapshot_new(s);
	int rc = meta_load(s, r->snap, name, &r->m);
	if (rc) {
		store_snapshot_free(s, r->snap);
		free(r);
		return rc;
	}
	header_text(&r->m, &r->header);
	r->size = data_size(&r->m);
	if (mrow_init(&r->row, r->m.ncols)) {
		features_reader_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

uint64_t features_reader_size(const struct features_reader *r)
{
	return r->size;
}

/* Move to the first row: LINE holds it at LINE_OFF. */
static int reader_restart(struct features_reader *r)
{
	struct buf lo = { 0 }, hi = { 0 };
	store_iter_free(r->it);
	key_rows(&lo, 'r', r->m.id);
	key_rows(&hi, 'r', r->m.id + 1);
	r->it = store_iter_new(r->s, r->snap, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
	if (!r->it)
		return -ENOMEM;
	store_iter_seek_first(r->it);
	r->started = true;
	r->line_off = r->header.len;
	buf_reset(&r->line);
	return 0;
}

/* Format the iterator's row into LINE. */
static int reader_fill(struct features_reader *r)
{
	size_t vl;
	const char *v = store_iter_value(r->it, &vl);
	struct dec *d;
	buf_reset(&r->line);
	int rc = mrow_load(&r->row, v, vl, &d);
	if (rc) {
		codec_dec_free(d);
		return rc;
	}
	for (uint32_t i = 0; i < r->row.n; i++) {
		if (i)
			buf_putc(&r->line, ',');
		if (r->row.len[i] != NULL_LEN)
			csv_put_field(&r->line, r->row.p[i], r->row.len[i]);
	}
	buf_putc(&r->line, '\n');
	codec_dec_free(d);
	return 0;
}

long features_reader_read(struct features_reader *r, char *dst, size_t len,
			  uint64_t off, struct mlfs_err *err)
{
	size_t done = 0;
	int rc;

	if (off >= r->size)
		return 0;
	if (len > r->size - off)
		len = (size_t)(r->size - off);
	if (off < r->header.len) {
		size_t n = (size_t)(r->header.len - off);
		if (n > len)
			n = len;
		memcpy(dst, r->header.data + off, n);
		done = n;
		off += n;
	}
	if (done == len)
		return (long)done;
	if (!r->started || off < r->line_off) {
		if ((rc = reader_restart(r)))
			return rc;
		if (store_iter_valid(r->it) && (rc = reader_fill(r)))
			return mlfs_fail(err, rc, "damaged feature row");
	}
	while (done < len) {
		if (r->line.len == 0)
			break;
		if (off >= r->line_off + r->line.len) {
			r->line_off += r->line.len;
			store_iter_next(r->it);
			buf_reset(&r->line);
			if (!store_iter_valid(r->it))
				break;
			if ((rc = reader_fill(r)))
				return mlfs_fail(err, rc, "damaged feature row");
			continue;
		}
		size_t in = (size_t)(off - r->line_off);
		size_t n = r->line.len - in;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, r->line.data + in, n);
		done += n;
		off += n;
	}
	if (done < len) {
		/* Rows ended before the size metadata promised. */
		return mlfs_fail(err, -EIO, "feature table rows do not match their metadata");
	}
	return (long)done;
}

void features_reader_free(struct features_reader *r)
{
	if (!r)
		return;
	store_iter_free(r->it);
	store_snapshot_free(r->s, r->snap);
	meta_free(&r->m);
	buf_free(&r->header);
	buf_free(&r->line);
	mrow_free(&r->row);
	free(r);
}

int features_list_keys(struct store *s, const char *name,
		       int (*fn)(void *ctx, const char *key, size_t len),
		       void *ctx, struct mlfs_err *err)
{
	struct fmeta m;
	struct buf lo = { 0 }, hi = { 0 }, txt = { 0 };
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	uint32_t nk = m.nkeys ? m.nkeys : 1;
	key_rows(&lo, 'r', m.id);
	key_rows(&hi, 'r', m.id + 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		buf_reset(&txt);
		if (!dec_key(k + lo.len, kl - lo.len, nk, &txt))
			continue;
		rc = fn(ctx, txt.data ? txt.data : "", txt.len);
	}
	if (!rc)
		rc = store_iter_status(it, err);
	store_iter_free(it);
	meta_free(&m);
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&txt);
	return rc;
}

/* ---- lookups ---- */

struct features_lookup {
	struct store *s;
	struct store_snapshot *snap;
	struct fmeta m;
	struct features_schema *sc;
	struct buf k, v, hi;
	struct dec *d;
	struct mrow row;
	const char **fields;
	size_t *flens;
};

int features_lookup_open(struct store *s, const char *name,
			 struct features_lookup **out, struct mlfs_err *err)
{
	struct features_lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->s = s;
	l->snap = store_snapshot_new(s);
	int rc = meta_load(s, l->snap, name, &l->m);
	if (rc) {
		store_snapshot_free(s, l->snap);
		free(l);
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "feature table '%s': unreadable metadata", name);
	}
	if ((rc = schema_from_meta(&l->m, &l->sc)) || (rc = mrow_init(&l->row, l->m.ncols))) {
		features_lookup_free(l);
		return rc;
	}
	l->fields = calloc(l->m.ncols + 1, sizeof(*l->fields));
	l->flens = calloc(l->m.ncols + 1, sizeof(*l->flens));
	if (!l->fields || !l->flens) {
		features_lookup_free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

const struct features_schema *features_lookup_schema(const struct features_lookup *l)
{
	return l->sc;
}

int features_lookup_get(struct features_lookup *l, const char *const *keys,
			const size_t *lens, bool as_of, int64_t at_us,
			const char *const **fields, const size_t **flens)
{
	int rc;
	uint32_t nk = l->m.nkeys ? l->m.nkeys : 1;

	if (as_of && !l->m.ts)
		return -EINVAL;
	codec_dec_free(l->d);
	l->d = NULL;
	key_rows(&l->k, as_of ? 'v' : 'r', l->m.id);
	for (uint32_t i = 0; i < nk; i++) {
		if (!lens[i])
			return -ENOENT;
		enc_key_field(&l->k, keys[i], lens[i]);
	}
	if (!as_of) {
		rc = store_get(l->s, l->snap, l->k.data, l->k.len, &l->v, NULL);
		if (rc)
			return rc;
	} else {
		buf_reset(&l->hi);
		buf_append(&l->hi, l->k.data, l->k.len);
		put_i64_key(&l->hi, at_us);
		buf_putc(&l->hi, 0);
		struct store_iter *it = store_iter_new(l->s, l->snap, l->k.data, l->k.len,
						       l->hi.data, l->hi.len);
		if (!it)
			return -ENOMEM;
		store_iter_seek_last(it);
		rc = -ENOENT;
		if (store_iter_valid(it)) {
			size_t vl;
			const char *v = store_iter_value(it, &vl);
			buf_reset(&l->v);
			buf_append(&l->v, v, vl);
			rc = 0;
		}
		store_iter_free(it);
		if (rc)
			return rc;
	}
	if ((rc = mrow_load(&l->row, l->v.data, l->v.len, &l->d)))
		return rc;
	for (uint32_t c = 0; c < l->m.ncols; c++) {
		l->fields[c] = l->row.len[c] == NULL_LEN ? NULL : l->row.p[c];
		l->flens[c] = l->row.len[c] == NULL_LEN ? 0 : l->row.len[c];
	}
	*fields = l->fields;
	*flens = l->flens;
	return 0;
}

void features_lookup_free(struct features_lookup *l)
{
	if (!l)
		return;
	codec_dec_free(l->d);
	store_snapshot_free(l->s, l->snap);
	meta_free(&l->m);
	features_schema_free(l->sc);
	buf_free(&l->k);
	buf_free(&l->v);
	buf_free(&l->hi);
	mrow_free(&l->row);
	free(l->fields);
	free(l->flens);
	free(l);
}

/* Split KEY text at ',' into NK parts (the last takes the rest).  False
 * when the count does not match. */
static bool split_key(const char *key, uint32_t nk, const char **parts,
		      size_t *lens)
{
	uint32_t n = 0;
	const char *p = key;
	if (nk == 0 || nk > FEAT_MAX_KEYS)
		return false;
	for (;;) {
		const char *c = n + 1 < nk ? strchr(p, ',') : NULL;
		parts[n] = p;
		lens[n] = c ? (size_t)(c - p) : strlen(p);
		n++;
		if (!c)
			break;
		p = c + 1;
	}
	return n == nk;
}

int features_delete_key(struct store *s, const char *name, const char *key,
			struct mlfs_err *err)
{
	struct fmeta m;
	const char *parts[FEAT_MAX_KEYS];
	size_t lens[FEAT_MAX_KEYS];
	struct buf k = { 0 }, v = { 0 }, hi = { 0 };
	struct mrow row = { 0 };
	struct dec *d = NULL;
	int rc;

	pthread_mutex_lock(FEAT_LOCK(s));
	if ((rc = meta_load(s, NULL, name, &m)))
		goto out;
	uint32_t nk = m.nkeys ? m.nkeys : 1;
	if (!m.ncols || !split_key(key, nk, parts, lens)) {
		rc = -ENOENT;
		goto out_meta;
	}
	key_rows(&k, 'r', m.id);
	for (uint32_t i = 0; i < nk; i++)
		enc_key_field(&k, parts[i], lens[i]);
	if ((rc = store_get(s, NULL, k.data, k.len, &v, err)))
		goto out_meta;
	if ((rc = mrow_init(&row, m.ncols)) || (rc = mrow_load(&row, v.data, v.len, &d)))
		goto out_meta;
	struct store_batch *b = store_batch_new();
	store_batch_delete(b, k.data, k.len);
	uint64_t nver = 1;
	if (m.ts) {
		/* Versions live under the same key bytes with 'v'. */
		k.data[2] = 'v';
		buf_append(&hi, k.data, k.len);
		buf_append(&hi, "\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9);
		struct store_iter *it = store_iter_new(s, NULL, k.data, k.len, hi.data, hi.len);
		nver = 0;
		for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
			nver++;
		store_iter_free(it);
		store_batch_delete_range(b, k.data, k.len, hi.data, hi.len);
	}
	m.rows--;
	m.versions -= nver <= m.versions ? nver : m.versions;
	m.fbytes -= mrow_bytes(&row);
	m.ver++;
	m.mtime = clock_now_ns();
	meta_put(b, name, &m);
	rc = store_write(s, b, false, err);
	store_batch_free(b);
out_meta:
	meta_free(&m);
out:
	pthread_mutex_unlock(FEAT_LOCK(s));
	codec_dec_free(d);
	mrow_free(&row);
	buf_free(&k);
	buf_free(&v);
	buf_free(&hi);
	return rc;
}

int features_row_csv(struct store *s, const char *name, const char *key,
		     bool as_of, int64_t at_us, struct buf *out,
		     struct mlfs_err *err)
{
	struct features_lookup *l;
	const char *parts[FEAT_MAX_KEYS];
	size_t lens[FEAT_MAX_KEYS];
	int rc = features_lookup_open(s, name, &l, err);
	if (rc)
		return rc;
	if (!split_key(key, l->sc->nkeys, parts, lens)) {
		rc = -ENOENT;
		goto out;
	}
	const char *const *f;
	const size_t *fl;
	if ((rc = features_lookup_get(l, parts, lens, as_of, at_us, &f, &fl)))
		goto out;
	buf_reset(out);
	struct buf h = { 0 };
	header_text(&l->m, &h);
	buf_append(out, h.data, h.len);
	buf_free(&h);
	for (uint32_t c = 0; c < l->m.ncols; c++) {
		if (c)
			buf_putc(out, ',');
		if (f[c])
			csv_put_field(out, f[c], fl[c]);
	}
	buf_putc(out, '\n');
out:
	features_lookup_free(l);
	return rc;
}

/* ---- stats.csv ---- */

static int stats_compute(struct store *s, const char *name, struct buf *out,
			 uint64_t *id, uint64_t *ver, struct mlfs_err *err)
{
	struct features_reader *r;
	int rc = features_reader_open(s, name, &r, err);
	if (rc)
		return rc;
	*id = r->m.id;
	*ver = r->m.ver;
	uint32_t n = r->m.ncols;
	struct stats_acc *sa = stats_acc_new(n, r->m.names, r->m.types);
	if (!sa) {
		features_reader_free(r);
		return -ENOMEM;
	}
	if ((rc = reader_restart(r)))
		goto out;
	for (; store_iter_valid(r->it); store_iter_next(r->it)) {
		size_t vl;
		const char *v = store_iter_value(r->it, &vl);
		struct dec *d;
		if ((rc = mrow_load(&r->row, v, vl, &d))) {
			codec_dec_free(d);
			break;
		}
		for (uint32_t c = 0; c < n; c++) {
			size_t l = r->row.len[c];
			stats_acc_add(sa, c, l == NULL_LEN ? NULL : r->row.p[c],
				      l == NULL_LEN ? 0 : l);
		}
		codec_dec_free(d);
	}
	if (!rc)
		rc = stats_acc_csv(sa, out);
out:
	stats_acc_free(sa);
	features_reader_free(r);
	return rc;
}

int features_stats_csv(struct store *s, const char *name, struct buf *out,
		       struct mlfs_err *err)
{
	struct features_info info;
	int rc = features_stat(s, name, &info);
	if (rc)
		return rc;
	if (cache_get(s, CACHE_FEATURE_STATS, info.id, info.version, out))
		return 0;
	uint64_t id, ver;
	if ((rc = stats_compute(s, name, out, &id, &ver, err)))
		return rc;
	cache_put(s, CACHE_FEATURE_STATS, id, ver, out);
	return 0;
}
