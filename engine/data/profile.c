/* profile.c - column profiles: the builder (values in, sorted quantile
 * samples, moments and category counts out), the shortcut from a frame,
 * and the msgpack form (docs/store-format.md, "model/profile").
 *
 * Not stats.c: that one summarises a table for stats.csv in bounded
 * memory; a builder keeps every numeric value (8 bytes each) until
 * finish, so that the sample's ranks are exact.  Not the drift
 * statistics either: those are engine/monitor's, on what this keeps. */
#include "profile.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "hash.h"
#include "sort.h"
#include "types.h"

#define PROFILE_FORMAT "mlfs-profile"
#define PROFILE_VERSION 1

/* A distinct value of a categorical column: S (NUL-terminated, LEN bytes,
 * no NUL inside), seen N times; H its hash. */
struct cat {
	char *s;
	size_t len;
	uint64_t n, h;
};

/* A column being built.  Between rows, count + nulls == the builder's
 * rows; within a row, ROW == rows + 1 once the column took its value.
 * Numeric columns keep their COUNT values in X; categorical ones their
 * distinct values in CATS (first seen first), found through SLOT (open
 * addressing, 1 + index into CATS, 0 empty; NSLOT a power of two at least
 * twice NCATS). */
struct bcol {
	char *name;
	enum profile_kind kind;
	uint64_t count, nulls, row;
	double *x;
	size_t xcap;
	struct cat *cats;
	size_t ncats, catcap;
	uint32_t *slot;
	size_t nslot;
};

struct profile_builder {
	struct bcol *cols;
	size_t ncols, cap;
	uint64_t rows;
};

/* ---- memory ---- */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		mlfs_oom();
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		mlfs_oom();
	return p;
}

static char *xstrndup(const char *s, size_t len)
{
	char *p = xrealloc(NULL, len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Room for one more element in an array P of *CAP elements, N in use. */
static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? 2 * *cap : 16;
	return xrealloc(p, *cap * size);
}

/* ---- the builder ---- */

struct profile_builder *profile_builder_new(void)
{
	return xcalloc(1, sizeof(struct profile_builder));
}

static void bcol_free(struct bcol *c)
{
	free(c->name);
	free(c->x);
	for (size_t i = 0; i < c->ncats; i++)
		free(c->cats[i].s);
	free(c->cats);
	free(c->slot);
}

void profile_builder_free(struct profile_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->ncols; i++)
		bcol_free(&b->cols[i]);
	free(b->cols);
	free(b);
}

int profile_builder_column(struct profile_builder *b, const char *name,
			   enum profile_kind kind)
{
	if (!name || !*name ||
	    (kind != PROFILE_NUMERIC && kind != PROFILE_CATEGORICAL) ||
	    b->ncols >= INT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < b->ncols; i++)
		if (!strcmp(b->cols[i].name, name))
			return -EINVAL;
	b->cols = grow(b->cols, &b->cap, b->ncols, sizeof(*b->cols));
	b->cols[b->ncols] = (struct bcol){
		.name = xstrndup(name, strlen(name)),
		.kind = kind,
		.nulls = b->rows,
	};
	return (int)b->ncols++;
}

static void num_add(struct bcol *c, double v)
{
	c->x = grow(c->x, &c->xcap, c->count, sizeof(*c->x));
	c->x[c->count++] = v;
}

static void cat_rehash(struct bcol *c)
{
	size_t n = c->nslot ? 2 * c->nslot : 64;
	uint32_t *slot = xcalloc(n, sizeof(*slot));
	for (size_t i = 0; i < c->ncats; i++) {
		size_t j = c->cats[i].h & (n - 1);
		while (slot[j])
			j = (j + 1) & (n - 1);
		slot[j] = (uint32_t)(i + 1);
	}
	free(c->slot);
	c->slot = slot;
	c->nslot = n;
}

/* N more rows hold S[0..LEN) (non-empty, no NUL) in categorical column C. */
static void cat_add(struct bcol *c, const char *s, size_t len, uint64_t n)
{
	uint64_t h = hash64(s, len, 0x70726f66696c65ull);
	if (2 * (c->ncats + 1) > c->nslot)
		cat_rehash(c);
	size_t j = h & (c->nslot - 1);
	for (; c->slot[j]; j = (j + 1) & (c->nslot - 1)) {
		struct cat *k = &c->cats[c->slot[j] - 1];
		if (k->h == h && k->len == len && !memcmp(k->s, s, len)) {
			k->n += n;
			c->count += n;
			return;
		}
	}
	if (c->ncats >= UINT32_MAX - 1)
		mlfs_oom();	/* four billion distinct values */
	c->cats = grow(c->cats, &c->catcap, c->ncats, sizeof(*c->cats));
	c->cats[c->ncats] = (struct cat){ xstrndup(s, len), len, n, h };
	c->slot[j] = (uint32_t)++c->ncats;
	c->count += n;
}

/* Text as a number the way frame_append_text reads it; false when it is
 * none. */
static bool text_number(const char *s, size_t len, double *out)
{
	enum col_type t = value_infer(s, len);
	if (t == COL_STRING)
		return value_parse_float(s, len, out);	/* "nan", "inf" */
	return t != COL_NULL && value_as_double(t, s, len, out);
}

/* Column COL when it takes a value in the current row, else NULL. */
static struct bcol *take_value(struct profile_builder *b, size_t col)
{
	if (col >= b->ncols || b->cols[col].row == b->rows + 1)
		return NULL;
	b->cols[col].row = b->rows + 1;
	return &b->cols[col];
}

void profile_builder_number(struct profile_builder *b, size_t col, double v)
{
	struct bcol *c = take_value(b, col);
	char text[32];
	if (!c)
		return;
	if (isnan(v))
		c->nulls++;
	else if (c->kind == PROFILE_NUMERIC)
		num_add(c, v);
	else
		cat_add(c, text, (size_t)buf_fmt_double(text, v), 1);
}

void profile_builder_text(struct profile_builder *b, size_t col,
			  const char *s, size_t len)
{
	struct bcol *c = take_value(b, col);
	double v;
	if (!c)
		return;
	if (s && c->kind == PROFILE_CATEGORICAL)
		len = strnlen(s, len);
	if (!s || !len)
		c->nulls++;
	else if (c->kind == PROFILE_CATEGORICAL)
		cat_add(c, s, len, 1);
	else if (text_number(s, len, &v) && !isnan(v))
		num_add(c, v);
	else
		c->nulls++;
}

void profile_builder_row(struct profile_builder *b)
{
	for (size_t i = 0; i < b->ncols; i++)
		if (b->cols[i].row != b->rows + 1)
			b->cols[i].nulls++;
	b->rows++;
}

/* ---- finishing ---- */

void profile_builder_merge(struct profile_builder *dst, struct profile_builder *src)
{
	for (size_t i = 0; i < dst->ncols && i < src->ncols; i++) {
		struct bcol *d = &dst->cols[i], *c = &src->cols[i];
		d->nulls += c->nulls;
		for (size_t k = 0; k < c->ncats; k++)
			cat_add(d, c->cats[k].s, c->cats[k].len, c->cats[k].n);
		if (d->kind != PROFILE_NUMERIC || !c->count)
			continue;
		if (d->count + c->count > d->xcap) {
			d->xcap = d->count + c->count;
			d->x = xrealloc(d->x, d->xcap * sizeof(*d->x));
		}
		memcpy(d->x + d->count, c->x, c->count * sizeof(*d->x));
		d->count += c->count;
	}
	dst->rows += src->rows;
	profile_builder_free(src);
}

static int cmp_cat(const void *a, const void *b)
{
	return strcmp(((const struct cat *)a)->s, ((const struct cat *)b)->s);
}

/* The rank floor((i + 0.5) * n / PROFILE_SAMPLE), in integers (exact for
 * n below 2^51). */
static size_t sample_rank(size_t i, uint64_t n)
{
	return (size_t)((2 * (uint64_t)i + 1) * n / (2 * PROFILE_SAMPLE));
}

/* Mean and population standard deviation of X[0..N), N > 0: the
 * corrected two-pass algorithm (Chan, Golub and LeVeque) in extended
 * precision. */
static void moments(const double *x, size_t n, double *mean, double *std)
{
	long double sum = 0, ss = 0, dev = 0;
	for (size_t i = 0; i < n; i++)
		sum += x[i];
	long double m = sum / (long double)n;
	for (size_t i = 0; i < n; i++) {
		long double d = (long double)x[i] - m;
		ss += d * d;
		dev += d;
	}
	long double var = (ss - dev * dev / (long double)n) / (long double)n;
	*mean = (double)m;
	*std = var > 0 ? (double)sqrtl(var) : isnan((double)var) ? NAN : 0;
}

static void finish_numeric(struct bcol *c, struct profile_col *pc)
{
	size_t n = c->count;
	pc->mean = pc->std = pc->min = pc->max = NAN;
	if (!n)
		return;
	sort_doubles(c->x, n);
	moments(c->x, n, &pc->mean, &pc->std);
	pc->min = c->x[0];
	pc->max = c->x[n - 1];
	if (n <= PROFILE_SAMPLE) {
		pc->sample = xrealloc(c->x, n * sizeof(*c->x));
		pc->nsample = n;
		c->x = NULL;
		return;
	}
	pc->sample = xrealloc(NULL, PROFILE_SAMPLE * sizeof(*pc->sample));
	pc->nsample = PROFILE_SAMPLE;
	for (size_t i = 0; i < PROFILE_SAMPLE; i++)
		pc->sample[i] = c->x[sample_rank(i, n)];
}

static void finish_categorical(struct bcol *c, struct profile_col *pc)
{
	if (c->ncats)	/* qsort's array may not be NULL, even empty */
		qsort(c->cats, c->ncats, sizeof(*c->cats), cmp_cat);
	pc->mean = pc->std = pc->min = pc->max = NAN;
	pc->ncats = c->ncats;
	pc->cats = xcalloc(c->ncats, sizeof(*pc->cats));
	pc->cat_counts = xcalloc(c->ncats, sizeof(*pc->cat_counts));
	for (size_t i = 0; i < c->ncats; i++) {
		pc->cats[i] = c->cats[i].s;
		pc->cat_counts[i] = c->cats[i].n;
		c->cats[i].s = NULL;
	}
}

struct profile *profile_builder_finish(struct profile_builder *b)
{
	if (!b)
		return NULL;
	/* A row whose values came without its profile_builder_row. */
	for (size_t i = 0; i < b->ncols; i++)
		if (b->cols[i].row == b->rows + 1) {
			profile_builder_row(b);
			break;
		}
	struct profile *p = xcalloc(1, sizeof(*p));
	p->rows = b->rows;
	p->ncols = b->ncols;
	p->cols = xcalloc(b->ncols, sizeof(*p->cols));
	for (size_t i = 0; i < b->ncols; i++) {
		struct bcol *c = &b->cols[i];
		struct profile_col *pc = &p->cols[i];
		pc->name = c->name;
		c->name = NULL;
		pc->kind = c->kind;
		pc->count = c->count;
		pc->nulls = c->nulls;
		if (c->kind == PROFILE_NUMERIC)
			finish_numeric(c, pc);
		else
			finish_categorical(c, pc);
	}
	profile_builder_free(b);
	return p;
}

/* ---- from a frame ---- */

static void frame_numbers(struct bcol *c, const struct frame *f, size_t col,
			  const bool *keep, size_t nrows)
{
	const double *x = frame_col_numbers(f, col);
	size_t len = frame_col_len(f, col);
	for (size_t i = 0; i < nrows; i++) {
		if (keep && !keep[i])
			continue;
		if (i < len && !isnan(x[i]))
			num_add(c, x[i]);
		else
			c->nulls++;
	}
}

/* Codes are counted first, then each category added once. */
static void frame_codes(struct bcol *c, const struct frame *f, size_t col,
			const bool *keep, size_t nrows)
{
	const int32_t *code = frame_col_codes(f, col);
	size_t len = frame_col_len(f, col), ncats = frame_col_ncats(f, col);
	uint64_t *n = xcalloc(ncats, sizeof(*n));
	for (size_t i = 0; i < nrows; i++) {
		if (keep && !keep[i])
			continue;
		if (i < len && code[i] >= 0 && (size_t)code[i] < ncats)
			n[code[i]]++;
		else
			c->nulls++;
	}
	for (size_t k = 0; k < ncats; k++) {
		size_t slen;
		const char *s = n[k] ? frame_col_category(f, col, (int32_t)k, &slen) : NULL;
		if (!s)
			continue;
		slen = strnlen(s, slen);
		if (slen)
			cat_add(c, s, slen, n[k]);
		else
			c->nulls += n[k];
	}
	free(n);
}

struct profile *profile_from_frame(const struct frame *f, const bool *keep)
{
	struct profile_builder *b = profile_builder_new();
	size_t nrows = frame_nrows(f);
	for (size_t col = 0; col < frame_ncols(f); col++) {
		bool num = frame_col_kind(f, col) == FRAME_NUMERIC;
		int i = profile_builder_column(b, frame_col_name(f, col),
					       num ? PROFILE_NUMERIC : PROFILE_CATEGORICAL);
		if (i < 0)
			continue;	/* frame names are unique: not reached */
		if (num)
			frame_numbers(&b->cols[i], f, col, keep, nrows);
		else
			frame_codes(&b->cols[i], f, col, keep, nrows);
	}
	for (size_t i = 0; i < nrows; i++)
		b->rows += !keep || keep[i];
	return profile_builder_finish(b);
}

/* ---- msgpack ---- */

/* Float64 little-endian, as the forest's bins (docs/store-format.md). */
static void put_le_double(struct buf *out, double v)
{
	unsigned char o[8];
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	for (int k = 0; k < 8; k++)
		o[k] = (unsigned char)(u >> (8 * k));
	buf_append(out, o, sizeof(o));
}

static double get_le_double(const unsigned char *p)
{
	uint64_t u = 0;
	double v;
	for (int k = 0; k < 8; k++)
		u |= (uint64_t)p[k] << (8 * k);
	memcpy(&v, &u, sizeof(v));
	return v;
}

static void encode_col(const struct profile_col *c, struct buf *out)
{
	bool num = c->kind == PROFILE_NUMERIC;
	codec_enc_map(out, num ? 9 : 6);
	codec_enc_cstr(out, "name");
	codec_enc_cstr(out, c->name);
	codec_enc_cstr(out, "kind");
	codec_enc_cstr(out, num ? "numeric" : "categorical");
	codec_enc_cstr(out, "count");
	codec_enc_u64(out, c->count);
	codec_enc_cstr(out, "nulls");
	codec_enc_u64(out, c->nulls);
	if (!num) {
		codec_enc_cstr(out, "cats");
		codec_enc_array(out, (uint32_t)c->ncats);
		for (size_t i = 0; i < c->ncats; i++)
			codec_enc_cstr(out, c->cats[i]);
		codec_enc_cstr(out, "counts");
		codec_enc_array(out, (uint32_t)c->ncats);
		for (size_t i = 0; i < c->ncats; i++)
			codec_enc_u64(out, c->cat_counts[i]);
		return;
	}
	const char *keys[4] = { "mean", "std", "min", "max" };
	const double vals[4] = { c->mean, c->std, c->min, c->max };
	for (int k = 0; k < 4; k++) {
		codec_enc_cstr(out, keys[k]);
		codec_enc_f64(out, vals[k]);
	}
	char hdr[5];
	codec_enc_cstr(out, "sample");
	buf_append(out, hdr, codec_enc_bin_header(hdr, c->nsample * 8));
	for (size_t i = 0; i < c->nsample; i++)
		put_le_double(out, c->sample[i]);
}

void profile_encode(const struct profile *p, struct buf *out)
{
	codec_enc_map(out, 4);
	codec_enc_cstr(out, "format");
	codec_enc_cstr(out, PROFILE_FORMAT);
	codec_enc_cstr(out, "version");
	codec_enc_u64(out, PROFILE_VERSION);
	codec_enc_cstr(out, "rows");
	codec_enc_u64(out, p->rows);
	codec_enc_cstr(out, "cols");
	codec_enc_array(out, (uint32_t)p->ncols);
	for (size_t i = 0; i < p->ncols; i++)
		encode_col(&p->cols[i], out);
}

#define DAMAGED(...) mlfs_fail(err, -EINVAL, "damaged profile: " __VA_ARGS__)

static bool get_u64(struct dval map, const char *key, uint64_t *out)
{
	struct dval v;
	return codec_dval_get(map, key, &v) && codec_dval_u64(v, out);
}

static bool get_f64(struct dval map, const char *key, double *out)
{
	struct dval v;
	return codec_dval_get(map, key, &v) && codec_dval_f64(v, out);
}

/* A string field: non-empty, no NUL byte. */
static bool get_name(struct dval v, const char **s, size_t *len)
{
	return codec_dval_str(v, s, len) && *len && !memchr(*s, '\0', *len);
}

static int decode_numeric(struct dval v, struct profile_col *c,
			  struct mlfs_err *err)
{
	struct dval f;
	const char *s;
	size_t len, n = c->count < PROFILE_SAMPLE ? c->count : PROFILE_SAMPLE;

	if (!get_f64(v, "mean", &c->mean) || !get_f64(v, "std", &c->std) ||
	    !get_f64(v, "min", &c->min) || !get_f64(v, "max", &c->max))
		return DAMAGED("column '%s': no mean, std, min or max", c->name);
	if (!codec_dval_get(v, "sample", &f) || !codec_dval_str(f, &s, &len) ||
	    len != 8 * n)
		return DAMAGED("column '%s': no sample of %zu values", c->name, n);
	c->sample = xcalloc(n, sizeof(*c->sample));
	c->nsample = n;
	for (size_t i = 0; i < n; i++) {
		c->sample[i] = get_le_double((const unsigned char *)s + 8 * i);
		if (isnan(c->sample[i]) || (i && c->sample[i] < c->sample[i - 1]))
			return DAMAGED("column '%s': sample not sorted", c->name);
	}
	if (n && !(c->min <= c->sample[0] && c->sample[n - 1] <= c->max))
		return DAMAGED("column '%s': sample outside min and max", c->name);
	return 0;
}

static int decode_categorical(struct dval v, struct profile_col *c,
			      struct mlfs_err *err)
{
	struct dval cats, counts;
	uint64_t sum = 0;

	c->mean = c->std = c->min = c->max = NAN;
	if (!codec_dval_get(v, "cats", &cats) || !codec_dval_get(v, "counts", &counts) ||
	    codec_dval_len(cats) != codec_dval_len(counts))
		return DAMAGED("column '%s': no cats and counts", c->name);
	c->ncats = codec_dval_len(cats);
	c->cats = xcalloc(c->ncats, sizeof(*c->cats));
	c->cat_counts = xcalloc(c->ncats, sizeof(*c->cat_counts));
	for (size_t i = 0; i < c->ncats; i++) {
		const char *s;
		size_t len;
		uint64_t *n = &c->cat_counts[i];
		if (!get_name(codec_dval_at(cats, i), &s, &len) ||
		    !codec_dval_u64(codec_dval_at(counts, i), n) || !*n ||
		    *n > c->count - sum)
			return DAMAGED("column '%s': bad category %zu", c->name, i);
		sum += *n;
		c->cats[i] = xstrndup(s, len);
		if (i && strcmp(c->cats[i - 1], c->cats[i]) >= 0)
			return DAMAGED("column '%s': categories not sorted", c->name);
	}
	if (sum != c->count)
		return DAMAGED("column '%s': counts do not sum to %llu", c->name,
			       (unsigned long long)c->count);
	return 0;
}

static int decode_col(struct dval v, uint64_t rows, struct profile_col *c,
		      struct mlfs_err *err)
{
	struct dval f;
	const char *s;
	size_t len;

	if (!codec_dval_get(v, "name", &f) || !get_name(f, &s, &len))
		return DAMAGED("a column without a name");
	c->name = xstrndup(s, len);
	if (!codec_dval_get(v, "kind", &f) || !codec_dval_str(f, &s, &len))
		return DAMAGED("column '%s': no kind", c->name);
	if (len == 7 && !memcmp(s, "numeric", len))
		c->kind = PROFILE_NUMERIC;
	else if (len == 11 && !memcmp(s, "categorical", len))
		c->kind = PROFILE_CATEGORICAL;
	else
		return DAMAGED("column '%s': unknown kind", c->name);
	if (!get_u64(v, "count", &c->count) || !get_u64(v, "nulls", &c->nulls) ||
	    c->count > rows || c->nulls != rows - c->count)
		return DAMAGED("column '%s': count and nulls do not make %llu rows",
			       c->name, (unsigned long long)rows);
	return c->kind == PROFILE_NUMERIC ? decode_numeric(v, c, err)
					  : decode_categorical(v, c, err);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 0 when no two columns share a name. */
static int check_names(const struct profile *p, struct mlfs_err *err)
{
	char **names = xcalloc(p->ncols, sizeof(*names));
	int rc = 0;
	for (size_t i = 0; i < p->ncols; i++)
		names[i] = p->cols[i].name;
	qsort(names, p->ncols, sizeof(*names), cmp_name);
	for (size_t i = 1; !rc && i < p->ncols; i++)
		if (!strcmp(names[i - 1], names[i]))
			rc = DAMAGED("two columns named '%s'", names[i]);
	free(names);
	return rc;
}

int profile_decode(const char *data, size_t len, struct profile **out,
		   struct mlfs_err *err)
{
	struct dec *d = codec_check_sizes(data, len) ? codec_dec_new(data, len) : NULL;
	struct profile *p = NULL;
	struct dval root, cols;
	uint64_t version;
	char format[16];
	int rc = 0;

	*out = NULL;
	if (!d)
		return DAMAGED("not one msgpack value");
	root = codec_dec_root(d);
	if (!codec_dget_str(root, "format", format, sizeof(format)) ||
	    strcmp(format, PROFILE_FORMAT) || !get_u64(root, "version", &version) ||
	    !version) {
		rc = DAMAGED("not an mlfs profile");
		goto out;
	}
	if (version > PROFILE_VERSION) {
		rc = mlfs_fail(err, -ENOTSUP, "profile format version %llu is newer than this mlfs reads (%d)",
			       (unsigned long long)version, PROFILE_VERSION);
		goto out;
	}
	p = xcalloc(1, sizeof(*p));
	if (!get_u64(root, "rows", &p->rows) || !codec_dval_get(root, "cols", &cols)) {
		rc = DAMAGED("no rows or cols");
		goto out;
	}
	p->ncols = codec_dval_len(cols);
	p->cols = xcalloc(p->ncols, sizeof(*p->cols));
	for (size_t i = 0; !rc && i < p->ncols; i++)
		rc = decode_col(codec_dval_at(cols, i), p->rows, &p->cols[i], err);
	if (!rc)
		rc = check_names(p, err);
out:
	codec_dec_free(d);
	if (rc)
		profile_free(p);
	else
		*out = p;
	return rc;
}

/* ---- reading ---- */

const struct profile_col *profile_find(const struct profile *p, const char *name)
{
	for (size_t i = 0; p && i < p->ncols; i++)
		if (!strcmp(p->cols[i].name, name))
			return &p->cols[i];
	return NULL;
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ncols; i++) {
		struct profile_col *c = &p->cols[i];
		free(c->name);
		free(c->sample);
		for (size_t k = 0; c->cats && k < c->ncats; k++)
			free(c->cats[k]);
		free(c->cats);
		free(c->cat_counts);
	}
	free(p->cols);
	free(p);
}
