/* features.c - feature tables in the store: their records and keys,
 * metadata, schema, key and timestamp columns, texts; create, drop, list.
 * Not writing rows (features_write.c), reading data.csv, keys and
 * stats (features_read.c) nor point lookups (features_lookup.c).
 *
 * Records (docs/store-format.md, "Feature tables"):
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
#include "features_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrs.h"
#include "clock.h"
#include "codec.h"
#include "columns.h"
#include "ids.h"
#include "named.h"
#include "csv.h"
#include "spec.h"
#include "table.h"

/* Per store (store_lock): two stores never wait on each other. */
static const char feat_lock_key;

pthread_mutex_t *features_lock(struct store *s)
{
	return store_lock(s, &feat_lock_key);
}

/* ---- keys of the store ---- */


void features_key_rows(struct buf *k, char kind, uint64_t id)
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
	features_key_rows(k, 't', id);
	buf_putc(k, what);
}

void features_put_i64_key(struct buf *k, int64_t v)
{
	key_put_u64(k, (uint64_t)v ^ 0x8000000000000000ULL);
}

static int64_t get_i64_key(const char *p)
{
	return (int64_t)(key_get_u64(p) ^ 0x8000000000000000ULL);
}

/* Append the encoding of one key field.  Integers in canonical form sort
 * numerically; any other text sorts bytewise after them. */
void features_enc_key_field(struct buf *k, const char *p, size_t len)
{
	int64_t v;
	if (len && len < 21 && value_parse_int(p, len, &v) && features_int_canonical(p, len)) {
		features_enc_int_key(k, v);
		return;
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

/* Is P[0..LEN), a valid int, the text printf's %lld makes of it: no '+',
 * no leading zero, no "-0"?  Tells by its characters: no printing. */
bool features_int_canonical(const char *p, size_t len)
{
	size_t i = p[0] == '-';
	if (p[0] == '+')
		return false;
	if (p[i] == '0')
		return len == 1;
	return true;
}

void features_enc_int_key(struct buf *k, int64_t v)
{
	char b[9];
	uint64_t u = (uint64_t)v ^ 0x8000000000000000ULL;
	b[0] = 1;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (char)(u >> (56 - 8 * i));
	buf_append(k, b, 9);
}

/* Decode the key fields at P[0..LEN) into text joined by ','.  Returns
 * the bytes consumed, 0 when damaged. */
size_t features_dec_key(const char *p, size_t len, uint32_t nkeys, struct buf *out)
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

void features_meta_free(struct fmeta *m)
{
	columns_free(m->ncols, m->names, m->types);
	for (uint32_t i = 0; i < m->nkeys; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->ts);
	memset(m, 0, sizeof(*m));
}

int features_meta_add_col(struct fmeta *m, const char *name, enum col_type t)
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

void features_meta_clear_cols(struct fmeta *m)
{
	for (uint32_t i = 0; i < m->ncols; i++)
		free(m->names[i]);
	m->ncols = 0;
}

int features_meta_set_keys(struct fmeta *m, char *const *keys, uint32_t n)
{
	char **copy;
	int rc = columns_copy(n, keys, NULL, &copy, NULL);
	if (rc)
		return rc;
	features_free_names(m->keys, m->nkeys);
	m->keys = copy;
	m->nkeys = n;
	return 0;
}

#define F(key, m, t, d) CODEC_FIELD(key, struct fmeta, m, CODEC_##t, d)
static const struct codec_field meta_fields[] = {
	F("id", id, UINT, 0), F("keys_set", keys_set, BOOL, false),
	F("rows", rows, UINT, 0), F("versions", versions, UINT, 0),
	F("fbytes", fbytes, UINT, 0), F("ver", ver, UINT, 0),
	F("ctime", ctime, INT, 0), F("mtime", mtime, INT, 0),
	CODEC_OWNER_FIELDS(struct fmeta, 0),
};
#undef F
#define META_FIELDS (sizeof(meta_fields) / sizeof(meta_fields[0]))

/* The record: the fields above, the columns, keys, timestamp key and the
 * record's format. */
static void meta_encode(const struct fmeta *m, struct buf *b)
{
	buf_reset(b);
	codec_enc_fields(b, m, meta_fields, META_FIELDS, 4);
	codec_enc_cstr(b, "cols");
	columns_encode(b, m->ncols, m->names, m->types);
	codec_enc_cstr(b, "keys");
	codec_enc_array(b, m->nkeys);
	for (uint32_t i = 0; i < m->nkeys; i++)
		codec_enc_cstr(b, m->keys[i]);
	codec_enc_cstr(b, "ts");
	if (m->ts)
		codec_enc_cstr(b, m->ts);
	else
		codec_enc_nil(b);
	codec_enc_cstr(b, "format");
	codec_enc_u64(b, 1);
}

int features_meta_decode(const char *p, size_t len, struct fmeta *m)
{
	struct dec *d = codec_dec_new(p, len);
	struct dval root, cols, keys, ts;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (!d)
		return -EIO;
	root = codec_dec_root(d);
	codec_dec_fields(root, m, meta_fields, META_FIELDS);
	if (!m->id || !codec_dval_get(root, "cols", &cols) || !codec_dval_get(root, "keys", &keys)) {
		codec_dec_free(d);
		return -EIO;
	}
	rc = columns_decode(cols, &m->ncols, &m->names, &m->types);
	if (!rc && !(m->keys = calloc(codec_dval_len(keys) + 1, sizeof(char *))))
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
		features_meta_free(m);
	return rc;
}

int features_meta_load(struct store *s, const struct store_snapshot *snap,
		       const char *name, struct fmeta *m)
{
	struct buf v = { 0 };
	if (!names_valid(name))
		return -ENOENT;
	int rc = named_get(s, snap, "f/m/", name, &v);
	if (!rc)
		rc = features_meta_decode(v.data, v.len, m);
	buf_free(&v);
	return rc;
}

void features_meta_put(struct store_batch *b, const char *name,
		       const struct fmeta *m)
{
	struct buf v = { 0 };
	meta_encode(m, &v);
	named_put(b, "f/m/", name, &v);
	buf_free(&v);
}

int features_col_index(const struct fmeta *m, const char *name, size_t len)
{
	return columns_index(m->ncols, m->names, name, len);
}

/* Length of P as a CSV field. */
size_t features_field_len(const char *p, size_t len)
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

void features_header_text(const struct fmeta *m, struct buf *out)
{
	columns_header(out, m->ncols, m->names);
}

uint64_t features_data_size(const struct fmeta *m)
{
	if (!m->ncols)
		return 0;
	/* The header line made once with the shared meta: a stat of a
	 * wide table measures no names. */
	return features_meta_header(m)->len + m->fbytes + m->rows * m->ncols;
}

/* Write M, NAME's meta, in one batch with the removal of the attrs
 * under ATTRS (NULL: none). */
static int meta_write(struct store *s, const char *name, const struct fmeta *m,
		      const char *attrs, struct mlfs_err *err)
{
	struct store_batch *b = store_batch_new();
	features_meta_put(b, name, m);
	return attrs_batch_write(s, b, attrs, false, err);
}

/* ---- create, drop, list, stat ---- */


int features_make(struct store *s, const char *name, uint32_t uid,
		  uint32_t gid, uint32_t mode, const char *attrs,
		  struct mlfs_err *err)
{
	struct fmeta m = { 0 };
	int rc;

	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, name);
	pthread_mutex_lock(FEAT_LOCK(s));
	if (features_meta_load(s, NULL, name, &m) == 0) {
		features_meta_free(&m);
		rc = mlfs_fail(err, -EEXIST, "feature table '%s' exists", name);
		goto out;
	}
	memset(&m, 0, sizeof(m));
	if ((rc = ids_next_key(s, "f/n", 3, &m.id, err)))
		goto out;
	m.ctime = m.mtime = clock_now_ns();
	m.ver = 1;
	m.uid = uid;
	m.gid = gid;
	m.mode = mode & 07777;
	rc = meta_write(s, name, &m, attrs, err);
out:
	pthread_mutex_unlock(FEAT_LOCK(s));
	return rc;
}

void features_range_delete(struct store_batch *b, char kind, uint64_t id)
{
	struct buf lo = { 0 }, hi = { 0 };
	features_key_rows(&lo, kind, id);
	features_key_rows(&hi, kind, id + 1);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
}

int features_create(struct store *s, const char *name, struct mlfs_err *err)
{
	return features_make(s, name, 0, 0, 0, NULL, err);
}

int features_remove(struct store *s, const char *name, const char *attrs,
		    struct mlfs_err *err)
{
	struct fmeta m;
	int rc;

	pthread_mutex_lock(FEAT_LOCK(s));
	if ((rc = features_meta_load(s, NULL, name, &m))) {
		pthread_mutex_unlock(FEAT_LOCK(s));
		return rc;
	}
	struct store_batch *b = store_batch_new();
	features_range_delete(b, 'r', m.id);
	features_range_delete(b, 'v', m.id);
	features_range_delete(b, 't', m.id);
	named_delete(b, "f/m/", name);
	rc = attrs_batch_write(s, b, attrs, false, err);
	pthread_mutex_unlock(FEAT_LOCK(s));
	features_meta_free(&m);
	return rc;
}

int features_drop(struct store *s, const char *name, struct mlfs_err *err)
{
	return features_remove(s, name, NULL, err);
}

int features_list(struct store *s, int (*fn)(void *ctx, const char *name),
		  void *ctx)
{
	return named_list(s, "f/m/", fn, ctx);
}

static void info_from_meta(const struct fmeta *m, struct features_info *out)
{
	out->id = m->id;
	out->rows = m->rows;
	out->versions = m->versions;
	out->size = features_data_size(m);
	out->version = m->ver;
	out->ncols = m->ncols;
	out->ctime_ns = m->ctime;
	out->mtime_ns = m->mtime;
	out->uid = m->uid;
	out->gid = m->gid;
	out->mode = m->mode;
}

int features_stat(struct store *s, const char *name, struct features_info *out)
{
	const struct fmeta *m;
	int rc = features_meta_ref(s, NULL, name, &m);
	if (rc)
		return rc;
	info_from_meta(m, out);
	features_meta_release(s, m);
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

int features_schema_from_meta(const struct fmeta *m, struct features_schema **out)
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
		int ci = features_col_index(m, kn[i], l - 1);
		sc->keys[i] = ci < 0 ? UINT32_MAX : (uint32_t)ci;
	}
	sc->key_names[nk] = NULL;
	sc->nkeys = nk;
	sc->keys_set = m->keys_set;
	sc->ts = m->ts ? features_col_index(m, m->ts, strlen(m->ts)) : -1;
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
	int rc = features_meta_load(s, NULL, name, &m);
	if (rc)
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "feature table '%s': unreadable metadata", name);
	rc = features_schema_from_meta(&m, out);
	features_meta_free(&m);
	return rc;
}

/* OUT = the key columns (default: the first column) or, with TS, the
 * timestamp_key, one a line. */
static int names_text(struct store *s, const char *name, bool ts,
		      struct buf *out)
{
	struct fmeta m;
	int rc = features_meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	buf_reset(out);
	if (ts && m.ts)
		buf_printf(out, "%s\n", m.ts);
	for (uint32_t i = 0; !ts && i < m.nkeys; i++)
		buf_printf(out, "%s\n", m.keys[i]);
	if (!ts && !m.nkeys && m.ncols)
		buf_printf(out, "%s\n", m.names[0]);
	features_meta_free(&m);
	return 0;
}

int features_keys_text(struct store *s, const char *name, struct buf *out)
{
	return names_text(s, name, false, out);
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

void features_free_names(char **arr, uint32_t n)
{
	columns_free(n, arr, NULL);
}

/* "a, b" of N names into OUT (cut to fit). */
static void join_names(char *const *names, size_t n, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? ", " : "", names[i]);
}

/* KEYS must be the key of the table's pipeline.yaml, if it has one:
 * refresh writes its rows by that key.  -EINVAL naming both. */
static int keys_match_pipeline(struct store *s, const char *name, char **keys,
			       uint32_t n, struct mlfs_err *err)
{
	struct buf text = { 0 };
	struct pipeline_spec *sp = NULL;
	int rc = features_text_get(s, name, FEATURES_PIPELINE, &text);
	if (rc || !text.len || spec_parse_pipeline(text.data, text.len, &sp, NULL)) {
		buf_free(&text);
		return rc;
	}
	bool same = sp->nkeys == n;
	for (uint32_t i = 0; same && i < n; i++)
		same = !strcmp(keys[i], sp->keys[i]);
	if (!same) {
		char want[512], have[512];
		join_names(keys, n, want, sizeof(want));
		join_names(sp->keys, sp->nkeys, have, sizeof(have));
		rc = mlfs_fail(err, -EINVAL, "keys: '%s' contradicts pipeline.yaml's key '%s', by which refresh writes rows (empty pipeline.yaml first to change both)",
			       want, have);
	}
	pipeline_spec_free(sp);
	buf_free(&text);
	return rc;
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
		features_free_names(keys, n);
		return mlfs_fail(err, -EINVAL, "keys: name one or more columns, one a line");
	}
	pthread_mutex_lock(FEAT_LOCK(s));
	if ((rc = features_meta_load(s, NULL, name, &m)))
		goto out;
	bool same = n == (m.nkeys ? m.nkeys : (m.ncols ? 1 : 0));
	for (uint32_t i = 0; same && i < n; i++)
		same = !strcmp(keys[i], m.nkeys ? m.keys[i] : m.names[0]);
	if (!same && m.rows > 0) {
		rc = mlfs_fail(err, -EINVAL, "the table has rows: keys can change only while it is empty (> data.csv with nothing empties it)");
		goto out_meta;
	}
	for (uint32_t i = 0; i < n && m.ncols; i++)
		if (features_col_index(&m, keys[i], strlen(keys[i])) < 0) {
			rc = mlfs_fail(err, -EINVAL, "keys: no column '%s' in this table", keys[i]);
			goto out_meta;
		}
	if (m.ts)
		for (uint32_t i = 0; i < n; i++)
			if (!strcmp(keys[i], m.ts)) {
				rc = mlfs_fail(err, -EINVAL, "keys: '%s' is the timestamp_key; a key names the entity", keys[i]);
				goto out_meta;
			}
	if ((rc = keys_match_pipeline(s, name, keys, n, err)))
		goto out_meta;
	if (apply) {
		if ((rc = features_meta_set_keys(&m, keys, n)))
			goto out_meta;
		m.keys_set = true;
		rc = meta_write(s, name, &m, NULL, err);
	}
out_meta:
	features_meta_free(&m);
out:
	pthread_mutex_unlock(FEAT_LOCK(s));
	features_free_names(keys, n);
	return rc;
}

int features_ts_text(struct store *s, const char *name, struct buf *out)
{
	return names_text(s, name, true, out);
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
	if ((rc = features_meta_load(s, NULL, name, &m)))
		goto out;
	bool same = (n == 0 && !m.ts) || (n == 1 && m.ts && !strcmp(m.ts, cols[0]));
	if (!same && m.rows > 0) {
		rc = mlfs_fail(err, -EINVAL, "the table has rows: timestamp_key can change only while it is empty");
		goto out_meta;
	}
	if (n == 1 && m.ncols) {
		int ci = features_col_index(&m, cols[0], strlen(cols[0]));
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
		rc = meta_write(s, name, &m, NULL, err);
	}
out_meta:
	features_meta_free(&m);
out:
	pthread_mutex_unlock(FEAT_LOCK(s));
	features_free_names(cols, n);
	return rc;
}

/* ---- texts ---- */

int features_text_get(struct store *s, const char *name,
		      enum features_text what, struct buf *out)
{
	struct fmeta m;
	struct buf k = { 0 };
	int rc = features_meta_load(s, NULL, name, &m);
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
	features_meta_free(&m);
	return rc;
}

void features_text_put(struct store_batch *b, uint64_t id, char what,
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
	int rc = features_meta_load(s, NULL, name, &m);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		features_text_put(b, m.id, (char)what, text, len);
		rc = store_write(s, b, false, err);
		store_batch_free(b);
		features_meta_free(&m);
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

/* ---- row records ---- */

int features_mrow_init(struct mrow *r, uint32_t n)
{
	r->n = n;
	r->p = calloc(n ? n : 1, sizeof(*r->p));
	r->len = calloc(n ? n : 1, sizeof(*r->len));
	return r->p && r->len ? 0 : -ENOMEM;
}

void features_mrow_clear(struct mrow *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		r->p[i] = NULL;
		r->len[i] = NULL_LEN;
	}
	r->has_ts = false;
}

void features_mrow_free(struct mrow *r)
{
	free(r->p);
	free(r->len);
}

/* Load a stored record into R (fields borrowed from D). */
int features_mrow_load(struct mrow *r, const char *v, size_t vl, struct dec **d)
{
	*d = codec_dec_new(v, vl);
	if (!*d)
		return -EIO;
	struct dval root = codec_dec_root(*d);
	size_t n = codec_dval_len(root);
	features_mrow_clear(r);
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

uint64_t features_mrow_bytes(const struct mrow *r)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < r->n; i++)
		if (r->len[i] != NULL_LEN)
			n += features_field_len(r->p[i], r->len[i]);
	return n;
}

void features_mrow_encode(const struct mrow *r, struct buf *v)
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

/* ---- rows encoded by their writer (features.h) ---- */

void features_rec_begin(struct features_rec *rc, struct buf *out,
			uint32_t ncols, uint32_t nkeys)
{
	rc->out = out;
	rc->nkeys = nkeys < FEATURES_REC_KEYS ? nkeys : FEATURES_REC_KEYS;
	rc->i = 0;
	rc->fbytes = 0;
	rc->vstart = out->len;
	codec_enc_array(out, ncols + 1);
	codec_enc_nil(out);
}

void features_rec_field(struct features_rec *rc, const char *p, size_t len)
{
	if (!len) {
		buf_putc(rc->out, (char)0xc0);		/* msgpack nil */
	} else if (len < 32) {
		/* msgpack's fixstr, what codec_enc_str makes of it, without
		 * a packer per field (a refresh makes millions) */
		char h = (char)(0xa0 | len);
		buf_append(rc->out, &h, 1);
		buf_append(rc->out, p, len);
		rc->fbytes += features_field_len(p, len);
	} else {
		codec_enc_str(rc->out, p, len);
		rc->fbytes += features_field_len(p, len);
	}
	if (rc->i < rc->nkeys) {
		rc->koff[rc->i] = rc->out->len - len;
		rc->klen[rc->i] = len;
	}
	rc->i++;
}

void features_rec_end(struct features_rec *rc, size_t *kstart)
{
	struct buf *out = rc->out;
	*kstart = out->len;
	for (uint32_t k = 0; k < rc->nkeys; k++) {
		/* The key's text is in OUT, which may move as it grows. */
		buf_reserve(out, 2 * rc->klen[k] + 12);
		features_enc_key_field(out, out->data + rc->koff[k], rc->klen[k]);
	}
}

/* The length of the msgpack string or nil header at P[0..N), its body's
 * length in *BODY; 0 when it is neither (or cut short). */
static size_t rec_item(const unsigned char *p, size_t n, size_t *body)
{
	size_t h, b;
	if (!n)
		return 0;
	if (p[0] == 0xc0) {
		h = 1, b = 0;
	} else if ((p[0] & 0xe0) == 0xa0) {
		h = 1, b = p[0] & 0x1f;
	} else if (p[0] == 0xd9 && n >= 2) {
		h = 2, b = p[1];
	} else if (p[0] == 0xda && n >= 3) {
		h = 3, b = (size_t)p[1] << 8 | p[2];
	} else if (p[0] == 0xdb && n >= 5) {
		h = 5, b = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
	} else {
		return 0;
	}
	if (h + b > n)
		return 0;
	*body = b;
	return h;
}

const char *features_rec_text(const char *val, size_t vlen, uint32_t c,
			      size_t *len)
{
	const unsigned char *p = (const unsigned char *)val;
	size_t pos, body;
	*len = 0;
	if (!vlen)
		return NULL;
	/* fixarray, array16 or array32, then the nil of the time */
	pos = (p[0] & 0xf0) == 0x90 ? 1 : p[0] == 0xdc ? 3 : 5;
	for (uint32_t i = 0; i <= c + 1; i++) {
		size_t h = pos < vlen ? rec_item(p + pos, vlen - pos, &body) : 0;
		if (!h)
			return NULL;
		if (i == c + 1) {
			if (p[pos] == 0xc0)
				return NULL;
			*len = body;
			return val + pos + h;
		}
		pos += h + body;
	}
	return NULL;
}

/* Split KEY text at ',' into NK parts (the last takes the rest).  False
 * when the count does not match. */
bool features_split_key(const char *key, uint32_t nk, const char **parts,
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
