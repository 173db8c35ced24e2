/* frame.c - typed columns in memory, and CSV -> frame loading.
 *
 * Numeric columns are arrays of doubles (NaN = null); categorical columns
 * are arrays of int32 codes into a per-column dictionary (an open-addressing
 * hash over the strings, -1 = null).  CSV loading streams the input twice:
 * once to infer each column's type, once to fill the columns.  This file
 * knows nothing of models. */
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "hash.h"

#define NAME_MAX_LEN 1024

/* Dictionary: strs[code] (NUL-terminated copies), slots[] holds code + 1
 * (0 = empty), capacity a power of two kept at most half full. */
struct dict {
	char **strs;
	uint32_t *lens;
	size_t n, cap;
	uint32_t *slots;
	size_t nslots;
};

struct frame_col {
	char *name;
	enum frame_kind kind;
	enum col_type type;
	size_t len, cap;
	double *num;		/* FRAME_NUMERIC */
	int32_t *codes;		/* FRAME_CATEGORICAL */
	struct dict dict;
};

struct frame {
	struct frame_col *cols;
	size_t ncols, cap;
};

static void dict_free(struct dict *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->strs[i]);
	free(d->strs);
	free(d->lens);
	free(d->slots);
	memset(d, 0, sizeof(*d));
}

static int32_t dict_find(const struct dict *d, const char *s, size_t len)
{
	if (!d->nslots)
		return -ENOENT;
	size_t mask = d->nslots - 1;
	for (size_t i = hash64(s, len, 0) & mask;; i = (i + 1) & mask) {
		uint32_t v = d->slots[i];
		if (!v)
			return -ENOENT;
		if (d->lens[v - 1] == len && !memcmp(d->strs[v - 1], s, len))
			return (int32_t)(v - 1);
	}
}

static int dict_rehash(struct dict *d, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t c = 0; c < d->n; c++) {
		size_t i = hash64(d->strs[c], d->lens[c], 0) & (nslots - 1);
		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = (uint32_t)c + 1;
	}
	free(d->slots);
	d->slots = slots;
	d->nslots = nslots;
	return 0;
}

/* Code of S, adding it when new.  >= 0 or -ENOMEM/-E2BIG. */
static int32_t dict_intern(struct dict *d, const char *s, size_t len)
{
	int32_t code = dict_find(d, s, len);
	if (code >= 0)
		return code;
	if (d->n >= INT32_MAX - 1 || len > UINT32_MAX)
		return -E2BIG;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		char **strs = realloc(d->strs, cap * sizeof(*strs));
		if (!strs)
			return -ENOMEM;
		d->strs = strs;
		uint32_t *lens = realloc(d->lens, cap * sizeof(*lens));
		if (!lens)
			return -ENOMEM;
		d->lens = lens;
		d->cap = cap;
	}
	if ((d->n + 1) * 2 > d->nslots) {
		int rc = dict_rehash(d, d->nslots ? d->nslots * 2 : 32);
		if (rc)
			return rc;
	}
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, s, len);
	copy[len] = '\0';
	code = (int32_t)d->n;
	d->strs[d->n] = copy;
	d->lens[d->n] = (uint32_t)len;
	d->n++;
	size_t mask = d->nslots - 1;
	size_t i = hash64(s, len, 0) & mask;
	while (d->slots[i])
		i = (i + 1) & mask;
	d->slots[i] = (uint32_t)code + 1;
	return code;
}

struct frame *frame_new(void)
{
	return calloc(1, sizeof(struct frame));
}

void frame_free(struct frame *f)
{
	if (!f)
		return;
	for (size_t c = 0; c < f->ncols; c++) {
		struct frame_col *col = &f->cols[c];
		free(col->name);
		free(col->num);
		free(col->codes);
		dict_free(&col->dict);
	}
	free(f->cols);
	free(f);
}

int frame_add_column(struct frame *f, const char *name, enum frame_kind kind,
		     enum col_type type, struct mlfs_err *err)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > NAME_MAX_LEN)
		return mlfs_fail(err, -EINVAL, "column name must be 1..%d bytes",
				 NAME_MAX_LEN);
	if (frame_col_index(f, name) >= 0)
		return mlfs_fail(err, -EINVAL, "duplicate column name '%s'", name);
	if (kind == FRAME_CATEGORICAL) {
		if (type == COL_NULL)
			type = COL_STRING;
	} else if (kind == FRAME_NUMERIC) {
		if (type == COL_NULL)
			type = COL_FLOAT;
		if (type == COL_STRING)
			return mlfs_fail(err, -EINVAL,
					 "column '%s': a numeric column cannot have type string",
					 name);
	} else {
		return mlfs_fail(err, -EINVAL, "column '%s': unknown kind", name);
	}
	if (f->ncols > INT32_MAX - 1)
		return mlfs_fail(err, -E2BIG, "too many columns");
	if (f->ncols == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct frame_col *cols = realloc(f->cols, cap * sizeof(*cols));
		if (!cols)
			return mlfs_fail(err, -ENOMEM, "out of memory");
		f->cols = cols;
		f->cap = cap;
	}
	struct frame_col *col = &f->cols[f->ncols];
	memset(col, 0, sizeof(*col));
	col->name = strdup(name);
	if (!col->name)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	col->kind = kind;
	col->type = type;
	return (int)f->ncols++;
}

static int col_grow(struct frame_col *col, size_t want)
{
	if (want <= col->cap)
		return 0;
	size_t cap = col->cap ? col->cap : 64;
	while (cap < want)
		cap *= 2;
	if (col->kind == FRAME_NUMERIC) {
		double *p = realloc(col->num, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		col->num = p;
	} else {
		int32_t *p = realloc(col->codes, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		col->codes = p;
	}
	col->cap = cap;
	return 0;
}

int frame_reserve(struct frame *f, size_t nrows)
{
	for (size_t c = 0; c < f->ncols; c++) {
		int rc = col_grow(&f->cols[c], nrows);
		if (rc)
			return rc;
	}
	return 0;
}

/* The column COL with room for one more value in *OUT; 0 or <0. */
static int col_at(struct frame *f, size_t col, struct frame_col **out,
		  struct mlfs_err *err)
{
	if (col >= f->ncols)
		return mlfs_fail(err, -EINVAL, "column %zu out of range", col);
	struct frame_col *c = &f->cols[col];
	if (c->len == c->cap && col_grow(c, c->len + 1))
		return mlfs_fail(err, -ENOMEM, "out of memory");
	*out = c;
	return 0;
}

int frame_append_number(struct frame *f, size_t col, double v,
			struct mlfs_err *err)
{
	struct frame_col *c = NULL;
	int rc = col_at(f, col, &c, err);
	if (rc)
		return rc;
	if (c->kind != FRAME_NUMERIC)
		return mlfs_fail(err, -EINVAL, "column '%s' is not numeric", c->name);
	c->num[c->len++] = v;
	return 0;
}

int frame_extend_numbers(struct frame *f, size_t col, size_t n, double **out,
			 struct mlfs_err *err)
{
	if (col >= f->ncols)
		return mlfs_fail(err, -EINVAL, "column %zu out of range", col);
	struct frame_col *c = &f->cols[col];
	if (c->kind != FRAME_NUMERIC)
		return mlfs_fail(err, -EINVAL, "column '%s' is not numeric", c->name);
	if (n > SIZE_MAX / sizeof(double) - c->len || col_grow(c, c->len + n))
		return mlfs_fail(err, -ENOMEM, "out of memory");
	*out = c->num + c->len;
	c->len += n;
	return 0;
}

int frame_append_numbers(struct frame *f, size_t col, const double *v, size_t n,
			 struct mlfs_err *err)
{
	double *to;
	int rc = frame_extend_numbers(f, col, n, &to, err);
	if (!rc && n)
		memcpy(to, v, n * sizeof(double));
	return rc;
}

int frame_append_null(struct frame *f, size_t col, struct mlfs_err *err)
{
	struct frame_col *c = NULL;
	int rc = col_at(f, col, &c, err);
	if (rc)
		return rc;
	if (c->kind == FRAME_NUMERIC)
		c->num[c->len++] = NAN;
	else
		c->codes[c->len++] = -1;
	return 0;
}

int frame_append_text(struct frame *f, size_t col, const char *s, size_t len,
		      struct mlfs_err *err)
{
	if (!s || !len)
		return frame_append_null(f, col, err);
	struct frame_col *c = NULL;
	int rc = col_at(f, col, &c, err);
	if (rc)
		return rc;
	if (c->kind == FRAME_CATEGORICAL) {
		int32_t code = dict_intern(&c->dict, s, len);
		if (code < 0)
			return mlfs_fail(err, code, "column '%s': %s", c->name,
					 code == -ENOMEM ? "out of memory"
							 : "too many categories");
		c->codes[c->len++] = code;
		return 0;
	}
	double v;
	enum col_type t = value_infer(s, len);
	if (t == COL_STRING && value_parse_float(s, len, &v)) {
		/* "nan", "inf": accepted by a numeric column. */
	} else if (t == COL_STRING || t == COL_NULL ||
		   !value_as_double(t, s, len, &v)) {
		int show = len > 40 ? 40 : (int)len;
		return mlfs_fail(err, -EINVAL,
				 "column '%s': '%.*s%s' is not a number",
				 c->name, show, s, len > 40 ? "..." : "");
	}
	c->num[c->len++] = v;
	return 0;
}

size_t frame_nrows(const struct frame *f)
{
	return f->ncols ? f->cols[0].len : 0;
}

size_t frame_ncols(const struct frame *f)
{
	return f->ncols;
}

int frame_check(const struct frame *f, struct mlfs_err *err)
{
	size_t n = frame_nrows(f);
	for (size_t c = 0; c < f->ncols; c++)
		if (f->cols[c].len != n)
			return mlfs_fail(err, -EINVAL,
					 "column '%s' has %zu values, the frame %zu rows",
					 f->cols[c].name, f->cols[c].len, n);
	return 0;
}

int frame_col_index(const struct frame *f, const char *name)
{
	for (size_t c = 0; c < f->ncols; c++)
		if (!strcmp(f->cols[c].name, name))
			return (int)c;
	return -ENOENT;
}

const char *frame_col_name(const struct frame *f, size_t col)
{
	return f->cols[col].name;
}

enum frame_kind frame_col_kind(const struct frame *f, size_t col)
{
	return f->cols[col].kind;
}

enum col_type frame_col_type(const struct frame *f, size_t col)
{
	return f->cols[col].type;
}

size_t frame_col_len(const struct frame *f, size_t col)
{
	return f->cols[col].len;
}

const double *frame_col_numbers(const struct frame *f, size_t col)
{
	return f->cols[col].kind == FRAME_NUMERIC ? f->cols[col].num : NULL;
}

const int32_t *frame_col_codes(const struct frame *f, size_t col)
{
	return f->cols[col].kind == FRAME_CATEGORICAL ? f->cols[col].codes : NULL;
}

size_t frame_col_ncats(const struct frame *f, size_t col)
{
	return f->cols[col].dict.n;
}

const char *frame_col_category(const struct frame *f, size_t col,
			       int32_t code, size_t *len)
{
	const struct dict *d = &f->cols[col].dict;
	if (code < 0 || (size_t)code >= d->n)
		return NULL;
	if (len)
		*len = d->lens[code];
	return d->strs[code];
}

int32_t frame_col_find(const struct frame *f, size_t col, const char *s,
		       size_t len)
{
	return dict_find(&f->cols[col].dict, s, len);
}

/* ---- CSV loading ---- */

enum load_pass { PASS_TYPES, PASS_VALUES };

struct loader {
	enum load_pass pass;
	const struct frame_csv_opts *opts;
	size_t ncols;
	enum col_type *types;	/* PASS_TYPES result */
	char **names;		/* header, PASS_TYPES */
	struct frame *f;	/* PASS_VALUES */
	uint64_t rows;
	bool header_seen;
};

static bool forced_text(const struct frame_csv_opts *opts, const char *name)
{
	if (!opts)
		return false;
	for (size_t i = 0; i < opts->ntext; i++)
		if (opts->text_cols[i] && !strcmp(opts->text_cols[i], name))
			return true;
	return false;
}

static int on_record(void *ctx, const struct csv_field *fields, size_t nfields,
		     uint64_t line, struct mlfs_err *err)
{
	struct loader *ld = ctx;
	int rc;

	if (!ld->header_seen) {
		ld->header_seen = true;
		if (ld->pass == PASS_VALUES)
			return 0;
		ld->ncols = nfields;
		ld->types = calloc(nfields, sizeof(*ld->types));
		ld->names = calloc(nfields, sizeof(*ld->names));
		if (!ld->types || !ld->names)
			return mlfs_fail(err, -ENOMEM, "out of memory");
		for (size_t i = 0; i < nfields; i++) {
			if (fields[i].len == 0 || fields[i].len > NAME_MAX_LEN)
				return mlfs_fail(err, -EINVAL,
						 "line %llu: column %zu has an empty or too long name",
						 (unsigned long long)line, i + 1);
			if (memchr(fields[i].p, '\0', fields[i].len))
				return mlfs_fail(err, -EINVAL,
						 "line %llu: column %zu name holds a NUL byte",
						 (unsigned long long)line, i + 1);
			ld->names[i] = strndup(fields[i].p, fields[i].len);
			if (!ld->names[i])
				return mlfs_fail(err, -ENOMEM, "out of memory");
			for (size_t j = 0; j < i; j++)
				if (!strcmp(ld->names[j], ld->names[i]))
					return mlfs_fail(err, -EINVAL,
							 "line %llu: duplicate column name '%s'",
							 (unsigned long long)line, ld->names[i]);
		}
		return 0;
	}
	if (nfields != ld->ncols)
		return mlfs_fail(err, -EINVAL,
				 "line %llu: %zu fields, the header has %zu",
				 (unsigned long long)line, nfields, ld->ncols);
	ld->rows++;
	if (ld->pass == PASS_TYPES) {
		for (size_t i = 0; i < nfields; i++) {
			if (ld->types[i] == COL_STRING || !fields[i].len)
				continue;
			ld->types[i] = col_type_widen(ld->types[i],
				value_infer(fields[i].p, fields[i].len));
		}
		return 0;
	}
	for (size_t i = 0; i < nfields; i++) {
		struct frame_col *c = &ld->f->cols[i];
		if (c->kind == FRAME_NUMERIC) {
			double v = NAN;
			if (fields[i].len && !value_as_double(c->type, fields[i].p,
						fields[i].len, &v))
				return mlfs_fail(err, -EINVAL,
						 "line %llu: column '%s': bad value",
						 (unsigned long long)line, c->name);
			c->num[c->len++] = v;
		} else if ((rc = frame_append_text(ld->f, i, fields[i].p,
						    fields[i].len, err))) {
			return rc;
		}
	}
	return 0;
}

typedef int (*feed_fn)(void *src, struct csv_reader *r, struct mlfs_err *err);

struct mem_src {
	const char *data;
	size_t len;
};

static int feed_mem(void *src, struct csv_reader *r, struct mlfs_err *err)
{
	struct mem_src *m = src;
	int rc = csv_reader_feed(r, m->data, m->len, err);
	return rc ? rc : csv_reader_finish(r, err);
}

struct file_src {
	int fd;
	char *chunk;
	size_t chunk_len;
};

static int feed_file(void *src, struct csv_reader *r, struct mlfs_err *err)
{
	struct file_src *fs = src;
	int rc;

	if (lseek(fs->fd, 0, SEEK_SET) < 0)
		return mlfs_fail(err, -errno, "seek: %s", strerror(errno));
	for (;;) {
		ssize_t n = read(fs->fd, fs->chunk, fs->chunk_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return mlfs_fail(err, -errno, "read: %s", strerror(errno));
		}
		if (n == 0)
			break;
		if ((rc = csv_reader_feed(r, fs->chunk, (size_t)n, err)))
			return rc;
	}
	return csv_reader_finish(r, err);
}

static int run_pass(struct loader *ld, feed_fn feed, void *src,
		    struct mlfs_err *err)
{
	struct csv_reader *r = csv_reader_new(0, on_record, ld);
	if (!r)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	csv_reader_strip_bom(r);
	ld->header_seen = false;
	ld->rows = 0;
	int rc = feed(src, r, err);
	csv_reader_free(r);
	return rc;
}

static int load(feed_fn feed, void *src, const struct frame_csv_opts *opts,
		struct frame **out, struct mlfs_err *err)
{
	struct loader ld = { .pass = PASS_TYPES, .opts = opts };
	struct frame *f = NULL;
	int rc;

	*out = NULL;
	if ((rc = run_pass(&ld, feed, src, err)))
		goto out;
	if (!ld.header_seen) {
		rc = mlfs_fail(err, -EINVAL, "empty input: no header line");
		goto out;
	}
	f = frame_new();
	if (!f) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	uint64_t rows = ld.rows;
	for (size_t i = 0; i < ld.ncols; i++) {
		enum col_type t = ld.types[i];
		bool text = t == COL_STRING || forced_text(opts, ld.names[i]);
		rc = frame_add_column(f, ld.names[i],
				      text ? FRAME_CATEGORICAL : FRAME_NUMERIC,
				      text ? COL_STRING : (t == COL_NULL ? COL_FLOAT : t),
				      err);
		if (rc < 0)
			goto out;
	}
	if ((rc = frame_reserve(f, rows))) {
		rc = mlfs_fail(err, rc, "out of memory");
		goto out;
	}
	ld.pass = PASS_VALUES;
	ld.f = f;
	if ((rc = run_pass(&ld, feed, src, err)))
		goto out;
	if (ld.rows != rows) {
		rc = mlfs_fail(err, -EIO, "input changed while being read");
		goto out;
	}
	*out = f;
	f = NULL;
out:
	frame_free(f);
	if (ld.names)
		for (size_t i = 0; i < ld.ncols; i++)
			free(ld.names[i]);
	free(ld.names);
	free(ld.types);
	return rc;
}

int frame_load_csv_buf(const char *data, size_t len,
		       const struct frame_csv_opts *opts, struct frame **out,
		       struct mlfs_err *err)
{
	struct mem_src m = { data, len };
	return load(feed_mem, &m, opts, out, err);
}

int frame_load_csv(const char *path, const struct frame_csv_opts *opts,
		   struct frame **out, struct mlfs_err *err)
{
	struct file_src fs = { .fd = -1, .chunk_len = 1u << 20 };
	int rc;

	*out = NULL;
	fs.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fs.fd < 0)
		return mlfs_fail(err, -errno, "%s: %s", path, strerror(errno));
	fs.chunk = malloc(fs.chunk_len);
	if (!fs.chunk) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = load(feed_file, &fs, opts, out, err);
	if (rc && err) {
		/* Prefix the path once. */
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%.200s: %.300s", path, err->msg);
		memcpy(err->msg, msg, sizeof(msg));
	}
out:
	free(fs.chunk);
	close(fs.fd);
	return rc;
}
