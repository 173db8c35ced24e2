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
	c->kind = grow(c->kind, cap, 1);
	c->num = grow(c->num, cap, sizeof(double));
	c->str = grow(c->str, cap, sizeof(uint32_t));
}

static void wcol_free(struct wcol *c)
{
	free(c->kind);
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

size_t wdata_add_row(struct wdata *w)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 256;
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
	size_t i = w->n++;
	w->version[i] = UINT32_MAX;
	w->shadow[i] = 0;
	for (size_t j = 0; j < w->nslices; j++)
		w->slice[j][i] = UINT32_MAX;
	for (size_t c = 0; c < w->ncols; c++)
		w->cols[c].kind[i] = CELL_NULL;
	w->key[i] = UINT32_MAX;
	w->pred.kind[i] = CELL_NULL;
	w->prob[i] = NAN;
	return i;
}

uint32_t wdata_str(struct wdata *w, const char *p, size_t len)
{
	return (uint32_t)strmap_intern(w->strs, p, len);
}

void wcol_set_num(struct wcol *c, size_t row, double v)
{
	c->kind[row] = isnan(v) ? CELL_NULL : CELL_NUM;
	c->num[row] = v;
}

void wcol_set_str(struct wdata *w, struct wcol *c, size_t row,
		  const char *p, size_t len)
{
	c->kind[row] = CELL_STR;
	c->str[row] = wdata_str(w, p, len);
}

void wcol_set_text(struct wdata *w, struct wcol *c, size_t row,
		   const char *p, size_t len)
{
	double v;
	bool b;
	if (!p || !len)
		c->kind[row] = CELL_NULL;
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
	switch (c->kind[i]) {
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

static void enc_col(struct buf *out, const struct wdata *w, const struct wcol *c)
{
	codec_enc_array(out, (uint32_t)w->n);
	for (size_t i = 0; i < w->n; i++)
		enc_cell(out, w, c, i);
}

static void enc_indexes(struct buf *out, const struct wdata *w, const uint32_t *v)
{
	codec_enc_array(out, (uint32_t)w->n);
	for (size_t i = 0; i < w->n; i++)
		enc_index(out, w, v[i]);
}

/* [n, versions, shadow, [slices], [cols], keys, pred, prob] */
void wdata_encode(const struct wdata *w, struct buf *out)
{
	codec_enc_array(out, 8);
	codec_enc_u64(out, w->n);
	enc_indexes(out, w, w->version);
	codec_enc_bin(out, w->shadow, w->n);
	codec_enc_array(out, (uint32_t)w->nslices);
	for (size_t j = 0; j < w->nslices; j++)
		enc_indexes(out, w, w->slice[j]);
	codec_enc_array(out, (uint32_t)w->ncols);
	for (size_t c = 0; c < w->ncols; c++)
		enc_col(out, w, &w->cols[c]);
	enc_indexes(out, w, w->key);
	enc_col(out, w, &w->pred);
	codec_enc_array(out, (uint32_t)w->n);
	for (size_t i = 0; i < w->n; i++) {
		if (isnan(w->prob[i]))
			codec_enc_nil(out);
		else
			codec_enc_f64(out, w->prob[i]);
	}
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

int wdata_decode_append(struct wdata *w, const char *data, size_t size)
{
	struct dec *d = codec_dec_new(data, size);
	if (!d)
		return -EIO;
	struct dval r = codec_dec_root(d), sh, sl, cols;
	uint64_t n = 0;
	const char *shp;
	size_t shl;
	bool ok = codec_dval_len(r) == 8 && codec_dval_u64(codec_dval_at(r, 0), &n);
	sh = codec_dval_at(r, 2);
	sl = codec_dval_at(r, 3);
	cols = codec_dval_at(r, 4);
	ok = ok && codec_dval_str(sh, &shp, &shl) && shl == n &&
	     codec_dval_len(sl) == w->nslices && codec_dval_len(cols) == w->ncols &&
	     codec_dval_len(codec_dval_at(r, 1)) == n && codec_dval_len(codec_dval_at(r, 5)) == n &&
	     codec_dval_len(codec_dval_at(r, 6)) == n && codec_dval_len(codec_dval_at(r, 7)) == n;
	for (size_t j = 0; ok && j < w->nslices; j++)
		ok = codec_dval_len(codec_dval_at(sl, j)) == n;
	for (size_t c = 0; ok && c < w->ncols; c++)
		ok = codec_dval_len(codec_dval_at(cols, c)) == n;
	if (!ok) {
		codec_dec_free(d);
		return -EIO;
	}
	for (size_t i = 0; i < n; i++) {
		size_t row = wdata_add_row(w);
		double p;
		w->version[row] = dec_index(w, codec_dval_at(codec_dval_at(r, 1), i));
		w->shadow[row] = (uint8_t)shp[i];
		for (size_t j = 0; j < w->nslices; j++)
			w->slice[j][row] = dec_index(w, codec_dval_at(codec_dval_at(sl, j), i));
		for (size_t c = 0; c < w->ncols; c++)
			dec_cell(w, &w->cols[c], row, codec_dval_at(codec_dval_at(cols, c), i));
		w->key[row] = dec_index(w, codec_dval_at(codec_dval_at(r, 5), i));
		dec_cell(w, &w->pred, row, codec_dval_at(codec_dval_at(r, 6), i));
		if (codec_dval_f64(codec_dval_at(codec_dval_at(r, 7), i), &p))
			w->prob[row] = p;
	}
	codec_dec_free(d);
	return 0;
}
