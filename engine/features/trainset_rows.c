/* trainset_rows.c - one key range of a feature table's stored latest rows
 * read into a training-set index segment (trainset_int.h): each msgpack
 * row record decoded in place (no CSV text), numeric fields read once as
 * frame.c reads their text, text fields and keys copied.  Rows whose
 * record is not the plain shape (array of nil/str) go through the
 * features.c decoder.  Owns no store keys. */
#include "features_int.h"
#include "trainset_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vmem.h"

/* A plain decimal "[+-]digits.digits" of at most 15 digits: the integer
 * of its digits and 10^(digits after the point) are exact doubles, so one
 * IEEE division rounds as value_parse_float does (Clinger's fast path). */
static bool plain_decimal(const char *s, size_t len, double *v)
{
	static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
				      1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
	size_t i = len && (s[0] == '-' || s[0] == '+'), point = 0;
	uint64_t m = 0;
	if (len - i > 16 || len - i < 3)
		return false;
	for (size_t k = i; k < len; k++) {
		if (s[k] >= '0' && s[k] <= '9')
			m = m * 10 + (uint64_t)(s[k] - '0');
		else if (s[k] == '.' && !point && k > i && k + 1 < len)
			point = k;
		else
			return false;
	}
	if (!point)
		return false;
	double d = (double)m / p10[len - 1 - point];
	*v = s[0] == '-' ? -d : d;
	return true;
}

/* The number frame_append_text reads from text S[0..LEN) in a numeric
 * column (frame.c: value_infer, then value_as_double; "nan" and "inf"
 * as floats): false when it reads none.  A plain decimal with a point
 * ("-0.1234") is a float to value_infer (no int, date or timestamp has
 * that shape), so it goes straight to value_parse_float. */
bool ts_frame_number(const char *s, size_t len, double *v)
{
	if (plain_decimal(s, len, v))
		return true;
	size_t i = len && (s[0] == '-' || s[0] == '+'), dots = 0, digits = 0;
	for (size_t k = i; k < len; k++) {
		if (s[k] == '.')
			dots++;
		else if (s[k] >= '0' && s[k] <= '9')
			digits++;
		else
			break;
		if (k + 1 == len && dots == 1 && digits)
			return value_parse_float(s, len, v);
	}
	enum col_type t = value_infer(s, len);
	if (t == COL_STRING && value_parse_float(s, len, v))
		return true;
	return t != COL_STRING && t != COL_NULL && value_as_double(t, s, len, v);
}

bool ts_canonical_int(const char *p, size_t len, int64_t *v)
{
	size_t i = len && p[0] == '-';
	if (len == i || len - i > 19 || (p[i] == '0' && (len - i > 1 || i)))
		return false;
	uint64_t u = 0;
	for (size_t k = i; k < len; k++) {
		if (p[k] < '0' || p[k] > '9')
			return false;
		u = u * 10 + (uint64_t)(p[k] - '0');
	}
	if (u > (uint64_t)INT64_MAX + (uint64_t)i)
		return false;
	*v = i ? (int64_t)(0 - u) : (int64_t)u;
	return true;
}

/* ---- decoding a row record ---- */

static bool be(const unsigned char *p, size_t left, size_t n, uint64_t *v)
{
	if (left < n)
		return false;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | p[i];
	return true;
}

/* One element at P[0..LEFT): nil, an int (skipped), str or bin.  *S NULL
 * for nil or int; the bytes taken, 0 for any other shape. */
static size_t dec_elem(const unsigned char *p, size_t left, const char **s, size_t *len)
{
	static const unsigned char ilen[] = { 1, 2, 4, 8, 1, 2, 4, 8 };
	uint64_t n;
	unsigned char b = left ? p[0] : 0xc1;
	*s = NULL;
	if (b == 0xc0 || b <= 0x7f || b >= 0xe0)
		return 1;
	if (b >= 0xcc && b <= 0xd3)
		return left > ilen[b - 0xcc] ? 1 + (size_t)ilen[b - 0xcc] : 0;
	size_t h;
	if (b >= 0xa0 && b <= 0xbf)
		h = 1, n = b & 0x1f;
	else if (b == 0xd9 || b == 0xc4)
		h = 2;
	else if (b == 0xda || b == 0xc5)
		h = 3;
	else if (b == 0xdb || b == 0xc6)
		h = 5;
	else
		return 0;
	if (h > 1 && !be(p + 1, left - 1, h - 1, &n))
		return 0;
	if (n > left - h)
		return 0;
	*s = (const char *)p + h;
	*len = (size_t)n;
	return h + (size_t)n;
}

/* Fields of record V[0..VL) into P/LEN (meta column order; NULL_LEN for a
 * null or an absent field): false when the record is not array of
 * nil/int/str/bin. */
static bool dec_row(const char *v, size_t vl, uint32_t ncols, const char **p, size_t *len)
{
	const unsigned char *u = (const unsigned char *)v;
	uint64_t n;
	size_t at;
	if (!vl)
		return false;
	if (u[0] >= 0x90 && u[0] <= 0x9f)
		n = u[0] & 0x0f, at = 1;
	else if (u[0] == 0xdc && be(u + 1, vl - 1, 2, &n))
		at = 3;
	else if (u[0] == 0xdd && be(u + 1, vl - 1, 4, &n))
		at = 5;
	else
		return false;
	if (n == 0)
		return false;
	for (uint32_t c = 0; c < ncols; c++)
		len[c] = NULL_LEN;
	for (uint64_t i = 0; i < n; i++) {
		const char *s;
		size_t l = 0, took = dec_elem(u + at, vl - at, &s, &l);
		if (!took)
			return false;
		at += took;
		if (i >= 1 && i - 1 < ncols && s) {
			p[i - 1] = s;
			len[i - 1] = l;
		}
	}
	return true;
}

/* ---- a segment ---- */

struct seg_job {
	struct ts_seg *g;
	const struct ts_layout *lay;
};

/* The cells, the one array a row of every column: room for all the
 * table's rows reserved at once (vmem.h; growing past it moves them with
 * mremap, whose TLB flushes cost), huge pages where the kernel gives them
 * (a million rows of twenty cells is 160 MB: page faults were a fifth of
 * the join). */
static size_t cells_bytes(const struct ts_seg *g, size_t cap)
{
	return cap * (g->width ? g->width : 1) * sizeof(*g->cells);
}

void ts_seg_reserve(struct ts_seg *g, const struct ts_layout *lay, size_t n)
{
	if (g->nrows + n <= g->cap)
		return;
	size_t cap = g->cap ? 2 * g->cap : lay->rows_hint + 16384;
	while (cap < g->nrows + n)
		cap *= 2;
	g->width = lay->width;
	void *p = vmem_grow(g->cells, g->cap ? cells_bytes(g, g->cap) : 0, cells_bytes(g, cap), true);
	if (!p && !g->cap)	/* the whole table refused (strict overcommit): grow */
		p = vmem_grow(NULL, 0, cells_bytes(g, cap = 16384), true);
	if (!p)
		mlfs_oom();
	g->cells = p;
	g->cap = cap;
	g->keys = realloc(g->keys, g->cap * lay->nkeys * sizeof(*g->keys));
	g->ikey = realloc(g->ikey, g->cap * sizeof(*g->ikey));
	if (!g->keys || !g->ikey)
		mlfs_oom();
}

void ts_seg_free(struct ts_seg *g)
{
	if (g->cells)
		vmem_free(g->cells, cells_bytes(g, g->cap));
	free(g->keys);
	free(g->ikey);
	free(g->exc);
	buf_free(&g->text);
}

static uint32_t seg_text(struct ts_seg *g, const char *p, size_t len)
{
	uint32_t off = (uint32_t)g->text.len;
	buf_append(&g->text, p, len);
	return off;
}

void ts_seg_key(struct ts_seg *g, const struct ts_layout *lay, size_t row, int k,
		const char *p, size_t len)
{
	bool null = len == NULL_LEN || len == 0;
	g->keys[row * lay->nkeys + (size_t)k] = null ? (struct ts_ref){ 0, NULL_LEN } :
		(struct ts_ref){ seg_text(g, p, len), (uint32_t)len };
	if (!null && lay->nkeys == 1 && g->all_int && !ts_canonical_int(p, len, &g->ikey[row]))
		g->all_int = false;
}

void ts_seg_cell(struct ts_seg *g, const struct ts_layout *lay, uint64_t *cell,
		 const char *p, size_t len, int slot)
{
	bool null = len == NULL_LEN || len == 0;
	double d;
	if (!lay->number[slot]) {
		struct ts_ref r = null ? (struct ts_ref){ 0, NULL_LEN } :
				  (struct ts_ref){ seg_text(g, p, len), (uint32_t)len };
		memcpy(cell, &r, 8);
	} else if (null) {
		d = NAN;
		memcpy(cell, &d, 8);
	} else if (ts_frame_number(p, len, &d)) {
		memcpy(cell, &d, 8);
	} else {
		if (g->nexc == g->excap) {
			g->excap = g->excap ? 2 * g->excap : 64;
			if (!(g->exc = realloc(g->exc, g->excap * sizeof(*g->exc))))
				mlfs_oom();
		}
		g->exc[g->nexc] = (struct ts_ref){ seg_text(g, p, len), (uint32_t)len };
		*cell = TS_EXC_TAG | g->nexc++;
	}
}

int ts_seg_text_fits(const struct ts_seg *g, struct mlfs_err *err)
{
	if (g->text.len > UINT32_MAX - TABLE_MAX_RECORD)
		return mlfs_fail(err, -EFBIG, "feature table too large to join in memory");
	return 0;
}

/* Row fields P/LEN (meta columns) into the segment. */
static int seg_add(void *ctx, const char *const *p, const size_t *len, struct mlfs_err *err)
{
	struct seg_job *j = ctx;
	struct ts_seg *g = j->g;
	const struct ts_layout *lay = j->lay;
	ts_seg_reserve(g, lay, 1);
	uint64_t *cell = g->cells + g->nrows * lay->width;
	for (uint32_t c = 0; c < lay->ncols; c++) {
		if (lay->key[c] >= 0)
			ts_seg_key(g, lay, g->nrows, lay->key[c], p[c], len[c]);
		if (lay->slot[c] >= 0)
			ts_seg_cell(g, lay, &cell[lay->slot[c]], p[c], len[c], lay->slot[c]);
	}
	int rc = ts_seg_text_fits(g, err);
	g->nrows += !rc;
	return rc;
}

int ts_rows_each(struct store *s, const struct store_snapshot *snap, uint32_t ncols,
		 const struct buf *lo, const struct buf *hi, ts_row_fn fn, void *ctx,
		 struct mlfs_err *err)
{
	const char **p = calloc(ncols + 1, sizeof(*p));
	size_t *len = calloc(ncols + 1, sizeof(*len));
	struct mrow row;
	int rc = features_mrow_init(&row, ncols);
	if (!p || !len || rc)
		mlfs_oom();
	struct store_iter *it = store_iter_new(s, snap, lo->data, lo->len, hi->data, hi->len);
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t vl;
		const char *v = store_iter_value(it, &vl);
		if (dec_row(v, vl, ncols, p, len)) {
			rc = fn(ctx, p, len, err);
			continue;
		}
		struct dec *d;
		if (features_mrow_load(&row, v, vl, &d))
			rc = mlfs_fail(err, -EIO, "damaged feature row");
		else
			rc = fn(ctx, row.p, row.len, err);
		codec_dec_free(d);
	}
	if (!rc)
		rc = store_iter_status(it, err);
	store_iter_free(it);
	features_mrow_free(&row);
	free(p);
	free(len);
	return rc;
}

int ts_rows_read(struct store *s, const struct store_snapshot *snap,
		 const struct ts_layout *lay, const struct buf *lo, const struct buf *hi,
		 struct ts_seg *g, struct mlfs_err *err)
{
	struct seg_job j = { g, lay };
	g->all_int = true;
	return ts_rows_each(s, snap, lay->ncols, lo, hi, seg_add, &j, err);
}
