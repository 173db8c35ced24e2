/* wdata.c - the rows of a monitor's window as columns of cells (null, a
 * number or a text interned in the window's strings), and their stored
 * form: a msgpack block per refresh and window.  No statistics here. */
#include "monitor_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "types.h"

static void *grow(void *p, size_t n, size_t size)
{
	void *q = realloc(p, n * size);
	if (!q && n)
		mlfs_oom();
	return q;
}

static void wcol_grow(struct wcol *c, size_t cap)
{
	c->num = grow(c->num, cap, sizeof(double));
	if (c->str)
		c->str = grow(c->str, cap, sizeof(uint32_t));
}

static void wcol_free(struct wcol *c)
{
	free(c->num);
	free(c->str);
}

struct wdata *wdata_new(size_t ncols, size_t nslices)
{
	struct wdata *w = calloc(1, sizeof(*w));
	if (!w)
		mlfs_oom();
	w->ncols = ncols;
	w->nslices = nslices;
	w->strs = strmap_new();
	w->slice = calloc(nslices + 1, sizeof(*w->slice));
	w->cols = calloc(ncols + 1, sizeof(*w->cols));
	if (!w->slice || !w->cols)
		mlfs_oom();
	return w;
}

void wdata_free(struct wdata *w)
{
	if (!w)
		return;
	strmap_free(w->strs);
	free(w->version);
	free(w->shadow);
	for (size_t j = 0; j < w->nslices; j++)
		free(w->slice[j]);
	free(w->slice);
	for (size_t c = 0; c < w->ncols; c++)
		wcol_free(&w->cols[c]);
	free(w->cols);
	free(w->key);
	wcol_free(&w->pred);
	free(w->prob);
	free(w);
}

void wdata_reserve(struct wdata *w, size_t n)
{
	if (n <= w->cap)
		return;
	w->cap = n > 2 * w->cap ? n : 2 * w->cap;	/* blocks add up: no quadratic copying */
	w->version = grow(w->version, w->cap, sizeof(uint32_t));
	w->shadow = grow(w->shadow, w->cap, 1);
	for (size_t j = 0; j < w->nslices; j++)
		w->slice[j] = grow(w->slice[j], w->cap, sizeof(uint32_t));
	for (size_t c = 0; c < w->ncols; c++)
		wcol_grow(&w->cols[c], w->cap);
	w->key = grow(w->key, w->cap, sizeof(uint32_t));
	wcol_grow(&w->pred, w->cap);
	w->prob = grow(w->prob, w->cap, sizeof(double));
}

static void wcol_clear(struct wcol *c, size_t i)
{
	c->num[i] = NAN;
	if (c->str)
		c->str[i] = UINT32_MAX;
}

size_t wdata_add_row(struct wdata *w)
{
	if (w->n == w->cap)
		wdata_reserve(w, w->cap ? 2 * w->cap : 256);
	size_t i = w->n++;
	w->version[i] = UINT32_MAX;
	w->shadow[i] = 0;
	for (size_t j = 0; j < w->nslices; j++)
		w->slice[j][i] = UINT32_MAX;
	for (size_t c = 0; c < w->ncols; c++)
		wcol_clear(&w->cols[c], i);
	w->key[i] = UINT32_MAX;
	wcol_clear(&w->pred, i);
	w->prob[i] = NAN;
	return i;
}

uint32_t wdata_str(struct wdata *w, const char *p, size_t len)
{
	return (uint32_t)strmap_intern(w->strs, p, len);
}

void wcol_set_num(struct wcol *c, size_t row, double v)
{
	c->num[row] = v;
	if (c->str)
		c->str[row] = UINT32_MAX;
}

void wcol_set_str(struct wdata *w, struct wcol *c, size_t row,
		  const char *p, size_t len)
{
	if (!c->str) {
		c->str = grow(NULL, w->cap, sizeof(uint32_t));
		for (size_t i = 0; i < w->cap; i++)
			c->str[i] = UINT32_MAX;
	}
	c->num[row] = NAN;
	c->str[row] = wdata_str(w, p, len);
}

void wcol_set_text(struct wdata *w, struct wcol *c, size_t row,
		   const char *p, size_t len)
{
	double v;
	bool b;
	if (!p || !len)
		wcol_set_num(c, row, NAN);
	else if (value_parse_float(p, len, &v) && isfinite(v))
		wcol_set_num(c, row, v);
	else if (value_parse_bool(p, len, &b))
		wcol_set_num(c, row, b);
	else
		wcol_set_str(w, c, row, p, len);
}

/* ---- the stored block ---- */

static void enc_cell(struct buf *out, const struct wdata *w,
		     const struct wcol *c, size_t i)
{
	size_t len;
	const char *p;
	switch (wcol_kind(c, i)) {
	case CELL_NUM:
		codec_enc_f64(out, c->num[i]);
		break;
	case CELL_STR:
		p = strmap_str(w->strs, c->str[i], &len);
		codec_enc_str(out, p, len);
		break;
	default:
		codec_enc_nil(out);
	}
}

static void enc_index(struct buf *out, const struct wdata *w, uint32_t idx)
{
	size_t len;
	const char *p;
	if (idx == UINT32_MAX) {
		codec_enc_nil(out);
		return;
	}
	p = strmap_str(w->strs, idx, &len);
	codec_enc_str(out, p, len);
}

/* Rows [FIRST, FIRST + N) of column C: one bin of float64 (NaN: null)
 * without texts, else an array of cells. */
static void enc_col(struct buf *out, const struct wdata *w, const struct wcol *c,
		    size_t first, size_t n)
{
	bool texts = false;
	for (size_t i = first; c->str && i < first + n && !texts; i++)
		texts = c->str[i] != UINT32_MAX;
	if (!texts) {
		codec_enc_bin(out, c->num + first, n * sizeof(double));
		return;
	}
	codec_enc_array(out, (uint32_t)n);
	for (size_t i = first; i < first + n; i++)
		enc_cell(out, w, c, i);
}

/* Texts by row; nil when none of the rows has one. */
static void enc_indexes(struct buf *out, const struct wdata *w, const uint32_t *v,
			size_t first, size_t n)
{
	bool any = false;
	for (size_t i = first; i < first + n && !any; i++)
		any = v[i] != UINT32_MAX;
	if (!any) {
		codec_enc_nil(out);
		return;
	}
	codec_enc_array(out, (uint32_t)n);
	for (size_t i = first; i < first + n; i++)
		enc_index(out, w, v[i]);
}

/* [n, versions, shadow, [slices], [cols], keys, pred, prob (float64 bin)] */
void wdata_encode(const struct wdata *w, size_t first, size_t n, struct buf *out)
{
	codec_enc_array(out, 8);
	codec_enc_u64(out, n);
	enc_indexes(out, w, w->version, first, n);
	codec_enc_bin(out, w->shadow + first, n);
	codec_enc_array(out, (uint32_t)w->nslices);
	for (size_t j = 0; j < w->nslices; j++)
		enc_indexes(out, w, w->slice[j], first, n);
	codec_enc_array(out, (uint32_t)w->ncols);
	for (size_t c = 0; c < w->ncols; c++)
		enc_col(out, w, &w->cols[c], first, n);
	enc_indexes(out, w, w->key, first, n);
	enc_col(out, w, &w->pred, first, n);
	codec_enc_bin(out, w->prob + first, n * sizeof(double));
}

static void dec_cell(struct wdata *w, struct wcol *c, size_t row, struct dval v)
{
	const char *p;
	size_t len;
	double d;
	int64_t i;
	if (codec_dval_str(v, &p, &len))
		wcol_set_str(w, c, row, p, len);
	else if (codec_dval_f64(v, &d))
		wcol_set_num(c, row, d);
	else if (codec_dval_i64(v, &i))
		wcol_set_num(c, row, (double)i);
}

static uint32_t dec_index(struct wdata *w, struct dval v)
{
	const char *p;
	size_t len;
	return codec_dval_str(v, &p, &len) ? wdata_str(w, p, len) : UINT32_MAX;
}

/* A column of N rows from FIRST on: packed float64 or cells. */
static bool dec_col(struct wdata *w, struct wcol *c, size_t first, size_t n, struct dval v)
{
	const char *p;
	size_t len;
	if (codec_dval_str(v, &p, &len)) {
		if (len != n * sizeof(double))
			return false;
		memcpy(c->num + first, p, n * sizeof(double));
		return true;
	}
	if (codec_dval_len(v) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		dec_cell(w, c, first + i, codec_dval_at(v, i));
	return true;
}

static bool dec_indexes(struct wdata *w, uint32_t *dst, size_t first, size_t n, struct dval v)
{
	if (codec_dval_is_nil(v))
		return true;	/* the rows were made with none */
	if (codec_dval_len(v) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		dst[first + i] = dec_index(w, codec_dval_at(v, i));
	return true;
}

int wdata_decode_append(struct wdata *w, const char *data, size_t size)
{
	struct dec *d = codec_dec_new(data, size);
	if (!d)
		return -EIO;
	struct dval r = codec_dec_root(d), sl, cols;
	uint64_t n = 0;
	const char *shp, *pb;
	size_t shl, pbl;
	bool ok = codec_dval_len(r) == 8 && codec_dval_u64(codec_dval_at(r, 0), &n) &&
		  codec_dval_str(codec_dval_at(r, 2), &shp, &shl) && shl == n &&
		  codec_dval_str(codec_dval_at(r, 7), &pb, &pbl) && pbl == n * sizeof(double);
	sl = codec_dval_at(r, 3);
	cols = codec_dval_at(r, 4);
	ok = ok && codec_dval_len(sl) == w->nslices && codec_dval_len(cols) == w->ncols;
	size_t first = w->n;
	if (ok)
		wdata_reserve(w, first + n);
	for (size_t i = 0; ok && i < n; i++) {
		size_t row = wdata_add_row(w);
		w->shadow[row] = (uint8_t)shp[i];
		memcpy(&w->prob[row], pb + i * sizeof(double), sizeof(double));
	}
	ok = ok && dec_indexes(w, w->version, first, n, codec_dval_at(r, 1)) &&
	     dec_indexes(w, w->key, first, n, codec_dval_at(r, 5)) &&
	     dec_col(w, &w->pred, first, n, codec_dval_at(r, 6));
	for (size_t j = 0; ok && j < w->nslices; j++)
		ok = dec_indexes(w, w->slice[j], first, n, codec_dval_at(sl, j));
	for (size_t c = 0; ok && c < w->ncols; c++)
		ok = dec_col(w, &w->cols[c], first, n, codec_dval_at(cols, c));
	codec_dec_free(d);
	if (!ok) {
		w->n = first;	/* the rows of a damaged block go */
		return -EIO;
	}
	return 0;
}

void wdata_append(struct wdata *dst, const struct wdata *src)
{
	wdata_reserve(dst, dst->n + src->n);
	for (size_t i = 0; i < src->n; i++) {
		size_t row = wdata_add_row(dst);
		const char *p;
		size_t len;
#define COPY_INDEX(to, from) \
		if ((from) != UINT32_MAX) { \
			p = strmap_str(src->strs, (from), &len); \
			(to) = wdata_str(dst, p, len); \
		}
		COPY_INDEX(dst->version[row], src->version[i]);
		COPY_INDEX(dst->key[row], src->key[i]);
		for (size_t j = 0; j < src->nslices; j++)
			COPY_INDEX(dst->slice[j][row], src->slice[j][i]);
#undef COPY_INDEX
		dst->shadow[row] = src->shadow[i];
		dst->prob[row] = src->prob[i];
		for (size_t c = 0; c <= src->ncols; c++) {
			const struct wcol *from = c < src->ncols ? &src->cols[c] : &src->pred;
			struct wcol *to = c < src->ncols ? &dst->cols[c] : &dst->pred;
			int kind = wcol_kind(from, i);
			if (kind == CELL_NUM) {
				wcol_set_num(to, row, from->num[i]);
			} else if (kind == CELL_STR) {
				p = strmap_str(src->strs, from->str[i], &len);
				wcol_set_str(dst, to, row, p, len);
			}
		}
	}
}
