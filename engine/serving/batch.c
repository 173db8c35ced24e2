/* batch.c - batch scoring in bounded memory (see batch.h): CSV records
 * are collected by the base CSV reader as they arrive, rewritten with the
 * header into chunk requests of BATCH_CHUNK_ROWS rows, scored through
 * served.c and appended to an unlinked spool file; a table of 1 MiB or
 * more is read through its columnar form instead (chunk requests made
 * across the pool, scored in row order). */
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "columnar.h"
#include "csv.h"
#include "forest/forest.h"
#include "request.h"
#include "served.h"
#include "table.h"
#include "types.h"

struct batch {
	struct store *s;
	struct served *m;
	int fd;			/* the spool */
	uint64_t rows;		/* scored so far */
	bool json, started, failed, finished;
	struct csv_bom bom;	/* a byte order mark before the request is dropped */
	bool table;		/* a table's rows (batch_score_table), not a response */
	char when[40];		/* table: the prediction_timestamp */
	struct csv_reader *csv;
	struct buf header;	/* the CSV header line */
	struct buf chunk;	/* header + rows not scored yet */
	size_t chunk_rows;
	struct buf json_text;
	struct buf out;		/* one chunk's response */
};

static int spool_open(struct mlfs_err *err)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/mlfs-score.XXXXXX", dir);
		fd = mkstemp(path);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		return mlfs_fail(err, -errno, "cannot make a spool file in %s: %s", dir, strerror(errno));
	return fd;
}

static int spool_put(struct batch *b, const char *p, size_t len,
		     struct mlfs_err *err)
{
	while (len) {
		ssize_t n = write(b->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mlfs_fail(err, -EIO, "spool: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A table's rows for scored request R: keys, features used, prediction,
 * probability, model_version, prediction_timestamp. */
static void table_rows(const struct batch *b, const struct request *r,
		       const double *x, const double *proba, bool header,
		       struct buf *out)
{
	const struct served *m = b->m;
	const struct forest *f = m->forest;
	size_t nf = m->nfeatures, nout = served_nout(m);
	long keys[64];
	size_t nk = served_key_columns(m, r, "", keys, 64);
	char text[40];
	if (header) {
		for (size_t k = 0; k < nk; k++) {
			csv_put_field(out, r->names[keys[k]], strlen(r->names[keys[k]]));
			buf_putc(out, ',');
		}
		for (size_t j = 0; j < nf; j++) {
			const char *name = forest_feature_name(f, j);
			csv_put_field(out, name, strlen(name));
			buf_putc(out, ',');
		}
		buf_puts(out, "prediction,probability,model_version,prediction_timestamp\n");
	}
	for (size_t i = 0; i < r->nrows; i++) {
		const double *xi = x + i * nf, *p = proba + i * nout;
		for (size_t k = 0; k < nk; k++) {
			const char *v = request_cell(r, i, (size_t)keys[k]);
			if (v)
				csv_put_field(out, v, strlen(v));
			buf_putc(out, ',');
		}
		for (size_t j = 0; j < nf; j++) {
			const char *cat = forest_feature_kind(f, j) == FRAME_CATEGORICAL && xi[j] == xi[j] ?
				forest_category_name(f, j, (size_t)xi[j]) : NULL;
			if (cat)
				csv_put_field(out, cat, strlen(cat));
			else if (xi[j] == xi[j] && forest_feature_type(f, j) == COL_INT)
				buf_put_int(out, (int64_t)xi[j]);
			else if (xi[j] == xi[j])
				buf_put_double(out, xi[j]);
			buf_putc(out, ',');
		}
		const char *label = served_label(m, p, text);
		csv_put_field(out, label, strlen(label));
		buf_putc(out, ',');
		if (served_is_classifier(m))
			buf_put_double(out, nout == 2 ? p[1] : p[forest_argmax(p, nout)]);
		buf_printf(out, ",%llu,%s\n", (unsigned long long)m->version, b->when);
	}
}

/* Score request R and spool its response; SKIP_HEADER for a chunk after
 * the first. */
static int score_request(struct batch *b, const struct request *r,
			 bool skip_header, struct mlfs_err *err)
{
	size_t n = r->nrows, nout = served_nout(b->m);
	double *proba = calloc(n * nout + 1, sizeof(double));
	double *x = b->table ? calloc(n * b->m->nfeatures + 1, sizeof(double)) : NULL;
	uint32_t *misses = calloc(n + 1, sizeof(uint32_t));
	size_t *rows = calloc(n + 1, sizeof(size_t));
	struct served_scored *sc = calloc(n + 1, sizeof(*sc));
	if (!proba || !misses || !rows || !sc || (b->table && !x))
		mlfs_oom();
	for (size_t i = 0; i < n; i++) {
		rows[i] = i;
		sc[i].m = b->m;
		sc[i].proba = proba + i * nout;
	}
	struct served_rows sr = { .nrows = n, .rows = rows, .proba = proba,
				  .features = x, .misses = misses,
				  .row_base = b->rows };
	int rc = served_score(b->s, b->m, r, &sr, err);
	if (!rc && b->table) {
		buf_reset(&b->out);
		table_rows(b, r, x, proba, !skip_header, &b->out);
		rc = spool_put(b, b->out.data, b->out.len, err);
		b->rows += n;
	} else if (!rc) {
		long keys[64];
		size_t nk = served_key_columns(b->m, r, "", keys, 64);
		buf_reset(&b->out);
		served_respond(r, sc, keys, nk, &b->out);
		const char *p = b->out.data;
		size_t plen = b->out.len;
		if (skip_header) {
			const char *nl = memchr(p, '\n', plen);
			size_t cut = nl ? (size_t)(nl - p) + 1 : plen;
			p += cut;
			plen -= cut;
		}
		rc = spool_put(b, p, plen, err);
		b->rows += n;
	}
	free(proba);
	free(x);
	free(misses);
	free(rows);
	free(sc);
	return rc;
}

/* Score TEXT (a whole request) and spool its response; SKIP_HEADER for a
 * CSV chunk after the first. */
static int score_text(struct batch *b, const char *text, size_t len,
		      bool skip_header, struct mlfs_err *err)
{
	struct request *r = NULL;
	int rc = request_parse(text, len, b->json ? BATCH_JSON_MAX : len + 1, &r, err);
	if (!rc)
		rc = score_request(b, r, skip_header, err);
	request_free(r);
	return rc;
}

static int flush_chunk(struct batch *b, struct mlfs_err *err)
{
	if (!b->chunk_rows)
		return 0;
	int rc = score_text(b, b->chunk.data, b->chunk.len, b->rows > 0, err);
	buf_reset(&b->chunk);
	buf_append(&b->chunk, b->header.data, b->header.len);
	b->chunk_rows = 0;
	return rc;
}

static void put_record(struct buf *out, const struct csv_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(out, ',');
		if (f[i].quoted && !f[i].len)
			buf_puts(out, "\"\"");
		else
			csv_put_field(out, f[i].p, f[i].len);
	}
	buf_putc(out, '\n');
}

static int on_record(void *ctx, const struct csv_field *f, size_t n,
		     uint64_t line, struct mlfs_err *err)
{
	struct batch *b = ctx;
	if (!b->header.len) {
		put_record(&b->header, f, n);
		buf_append(&b->chunk, b->header.data, b->header.len);
		return 0;
	}
	put_record(&b->chunk, f, n);
	return ++b->chunk_rows >= BATCH_CHUNK_ROWS ? flush_chunk(b, err) : 0;
}

int batch_open(struct store *s, const char *model, uint64_t version,
	       struct batch **out, struct mlfs_err *err)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b)
		mlfs_oom();
	b->s = s;
	b->fd = -1;
	int rc = served_load(s, model, version, &b->m, err);
	if (!rc && (b->fd = spool_open(err)) < 0)
		rc = b->fd;
	if (rc) {
		batch_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* DATA of a request whose format is known. */
static int batch_write_text(struct batch *b, const char *data, size_t len,
			    struct mlfs_err *err)
{
	int rc = 0;
	if (b->json) {
		if (b->json_text.len + len > BATCH_JSON_MAX)
			rc = mlfs_fail(err, -EFBIG, "a JSON request is at most %u bytes (CSV has no limit)", BATCH_JSON_MAX);
		else
			buf_append(&b->json_text, data, len);
	} else {
		rc = csv_reader_feed(b->csv, data, len, err);
	}
	b->failed = rc != 0;
	return rc;
}

int batch_write(struct batch *b, const char *data, size_t len,
		struct mlfs_err *err)
{
	if (b->failed || b->finished)
		return mlfs_fail(err, -EINVAL, b->failed ? "an earlier part of this request failed" :
				 "the request was already scored");
	const char *replay = "";
	size_t nreplay = 0;
	if (!b->bom.done) {
		size_t skip = csv_bom_take(&b->bom, data, len, &replay, &nreplay);
		data += skip;
		len -= skip;
	}
	if (!b->started) {	/* the first byte that is not space decides */
		size_t i = 0;
		while (i < len && strchr(" \t\r\n", data[i]))
			i++;
		if (i == len && !nreplay)
			return 0;
		b->started = true;
		b->json = !nreplay && data[i] == '{';
		if (!b->json && !(b->csv = csv_reader_new(CSV_DEFAULT_MAX_RECORD, on_record, b)))
			mlfs_oom();
	}
	int rc = nreplay ? batch_write_text(b, replay, nreplay, err) : 0;
	return rc ? rc : batch_write_text(b, data, len, err);
}

int batch_finish(struct batch *b, struct mlfs_err *err)
{
	if (b->failed)
		return mlfs_fail(err, -EINVAL, "an earlier part of this request failed");
	if (b->finished)
		return 0;
	int rc = 0;
	if (!b->started)
		rc = mlfs_fail(err, -EINVAL, "empty request: write CSV with a header line, or MLflow's JSON");
	else if (b->json)
		rc = score_text(b, b->json_text.data, b->json_text.len, false, err);
	else if (!(rc = csv_reader_finish(b->csv, err)) && !b->chunk_rows && !b->rows)
		rc = mlfs_fail(err, -EINVAL, "no rows after the header");
	if (!rc && !b->json)
		rc = flush_chunk(b, err);
	buf_free(&b->json_text);
	b->failed = rc != 0;
	b->finished = !rc;
	return rc;
}

int batch_spool_fd(const struct batch *b)
{
	return b->finished ? b->fd : -1;
}

uint64_t batch_rows(const struct batch *b)
{
	return b->rows;
}

void batch_free(struct batch *b)
{
	if (!b)
		return;
	served_free(b->m);
	if (b->fd >= 0)
		close(b->fd);
	csv_reader_free(b->csv);
	buf_free(&b->header);
	buf_free(&b->chunk);
	buf_free(&b->json_text);
	buf_free(&b->out);
	free(b);
}

/* Copy B's spool into table OUTPUT, replacing its rows in one commit. */
static int spool_to_table(struct store *s, struct batch *b, const char *output,
			  struct mlfs_err *err)
{
	struct table_writer *w = NULL;
	struct table_info ti;
	char *chunk = malloc(1u << 20);
	if (!chunk)
		mlfs_oom();
	int rc = table_stat(s, output, &ti) == -ENOENT ? table_create(s, output, err) : 0;
	if (!rc)
		rc = table_writer_open(s, output, true, &w, err);
	for (off_t off = 0; !rc;) {
		ssize_t n = pread(b->fd, chunk, 1u << 20, off);
		if (n < 0)
			rc = mlfs_fail(err, -EIO, "spool: %s", strerror(errno));
		if (n <= 0)
			break;
		rc = table_writer_write(w, chunk, (size_t)n, err);
		off += n;
	}
	if (!rc)
		rc = table_writer_commit(w, true, err);
	table_writer_free(w);
	free(chunk);
	return rc;
}

/* ---- a table through its columnar form ----
 * batch_score_table of a table of columnar_scan_min_bytes or more reads
 * the form (columnar.h) instead of data.csv (below 1 MiB building the
 * form costs more than it saves).  Pool threads make each chunk of rows
 * a request of the columns the model reads - its features, the lookups'
 * keys and timestamp columns, in table order - holding the text data.csv
 * has: strings as stored, ints and dates written canonically printed
 * back; floats (and bools of bool features), which only numeric features
 * may read, as a text that gives feature_value the same number.  The
 * requests are scored in row order, a few chunks at a time; scoring is
 * per row, so the spool is byte for byte what the CSV path writes.
 * Where a column read has no such text, the CSV is read. */

struct batch_form {
	uint32_t cols[TABLE_MAX_COLUMNS];	/* table columns read */
	char **names;				/* the table's column names */
	size_t ncols;
	struct batch *b;
	struct mlfs_err *err;
};

/* The text of row R of V into TEXT (NUL after it); false for a null. */
static bool vec_text(const struct col_vec *v, size_t r, struct buf *text)
{
	char tmp[40];
	if (col_vec_null(v, r))
		return false;
	switch (v->type) {
	case COL_FLOAT:
		buf_put_double(text, v->f[r]);
		break;
	case COL_BOOL:
		buf_puts(text, v->i[r] ? "true" : "false");
		break;
	case COL_DATE:
		fmt_date(tmp, (int32_t)v->i[r]);
		buf_puts(text, tmp);
		break;
	case COL_INT:
		buf_put_int(text, v->i[r]);
		break;
	default:
		buf_append(text, v->bytes + v->off[r], v->off[r + 1] - v->off[r]);
	}
	buf_putc(text, '\0');
	return true;
}

/* Rows [FROM, FROM + N) of a chunk as a request. */
static struct request *rows_request(const struct batch_form *bf, const struct col_vec *cols,
				    size_t from, size_t n)
{
	struct request *r = calloc(1, sizeof(*r));
	if (!r)
		mlfs_oom();
	r->format = REQUEST_CSV;
	r->shape = REQUEST_SHAPE_CSV;
	r->ncols = bf->ncols;
	r->nrows = n;
	r->names = calloc(bf->ncols + 1, sizeof(*r->names));
	r->cells = calloc(n * bf->ncols + 1, sizeof(*r->cells));
	if (!r->names || !r->cells)
		mlfs_oom();
	for (size_t k = 0; k < bf->ncols; k++)
		if (!(r->names[k] = strdup(bf->names[bf->cols[k]])))
			mlfs_oom();
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < bf->ncols; k++) {
			struct request_cell *c = &r->cells[i * bf->ncols + k];
			c->off = r->text.len;
			c->missing = !vec_text(&cols[k], from + i, &r->text);
			c->len = c->missing ? 0 : r->text.len - c->off - 1;
		}
	return r;
}

/* A chunk's rows as requests of BATCH_CHUNK_ROWS rows (as the CSV path
 * makes them: their buffers stay small), NULL-terminated (on a pool
 * thread). */
static void *chunk_requests(void *ctx, uint64_t first, const struct col_vec *cols, size_t n)
{
	size_t nr = (n + BATCH_CHUNK_ROWS - 1) / BATCH_CHUNK_ROWS;
	struct request **rs = calloc(nr + 1, sizeof(*rs));
	if (!rs)
		mlfs_oom();
	(void)first;
	for (size_t k = 0; k < nr; k++) {
		size_t from = k * BATCH_CHUNK_ROWS;
		rs[k] = rows_request(ctx, cols, from, n - from < BATCH_CHUNK_ROWS ? n - from : BATCH_CHUNK_ROWS);
	}
	return rs;
}

/* Score a chunk's requests, in row order. */
static int score_chunk(void *ctx, void *made, bool skip)
{
	struct batch_form *bf = ctx;
	struct request **rs = made;
	int rc = 0;
	for (size_t k = 0; rs[k]; k++) {
		if (!skip && !rc)
			rc = score_request(bf->b, rs[k], bf->b->rows > 0, bf->err);
		request_free(rs[k]);
	}
	free(rs);
	return rc;
}

/* May table column COL of CF, named NAME, be read for model M: does the
 * form give each of its values as text the model reads the same? */
static bool column_fits(const struct served *m, const struct columnar *cf,
			uint32_t col, const char *name, bool *read)
{
	enum col_type t = columnar_type(cf, col);
	bool exact = t == COL_STRING || t == COL_NULL ||
		     ((t == COL_INT || t == COL_DATE) && columnar_canonical(cf, col));
	bool ok = true;
	*read = false;
	for (size_t l = 0; l < m->nlookups; l++) {
		const struct served_lookup *lk = &m->lookups[l];
		for (size_t k = 0; k < lk->nkeys; k++)
			*read |= !strcmp(lk->keys[k], name);
		*read |= lk->ts_key && !strcmp(lk->ts_key, name);
	}
	ok = !*read || exact;
	for (size_t j = 0; j < m->nfeatures; j++) {
		if (strcmp(forest_feature_name(m->forest, j), name))
			continue;
		*read = true;
		bool numeric = forest_feature_kind(m->forest, j) != FRAME_CATEGORICAL;
		ok &= exact || (numeric && (t == COL_FLOAT ||
			(t == COL_BOOL && forest_feature_type(m->forest, j) == COL_BOOL)));
	}
	return ok;
}

/* The columns of CF batch B reads into BF; false when one does not fit. */
static bool form_plan(struct batch *b, const char *input, const struct columnar *cf,
		      struct batch_form *bf)
{
	enum col_type *types = NULL;
	uint32_t n = 0;
	bool ok = !table_columns(b->s, input, &bf->names, &types, &n) &&
		  n == columnar_ncols(cf);
	for (uint32_t i = 0; ok && i < n; i++) {
		bool read = false;
		ok = types[i] == columnar_type(cf, i) &&
		     column_fits(b->m, cf, i, bf->names[i], &read);
		if (read)
			bf->cols[bf->ncols++] = i;
	}
	free(types);
	return ok && bf->ncols > 0;
}

/* Score table INPUT through its form when it has one that fits: *USED
 * then.  A form that goes meanwhile (-EAGAIN) leaves the spool empty for
 * the CSV path; other errors are the scoring's. */
static int score_table_form(struct batch *b, const char *input, bool *used,
			    struct mlfs_err *err)
{
	struct table_info ti;
	struct columnar *cf = NULL;
	struct mlfs_err e;
	*used = false;
	if (table_stat(b->s, input, &ti) || ti.data_bytes < columnar_scan_min_bytes ||
	    !ti.rows || columnar_open(b->s, input, &cf, &e))
		return 0;
	struct batch_form *bf = calloc(1, sizeof(*bf));
	if (!bf)
		mlfs_oom();
	int rc = 0;
	if (form_plan(b, input, cf, bf)) {
		bf->b = b;
		bf->err = err;
		rc = columnar_scan_ordered(cf, bf->cols, bf->ncols, chunk_requests, score_chunk, bf, err);
		*used = rc != -EAGAIN;
		if (rc == -EAGAIN) {
			rc = ftruncate(b->fd, 0) ? mlfs_fail(err, -EIO, "spool: %s", strerror(errno)) : 0;
			b->rows = 0;
		}
	}
	free(bf->names);
	free(bf);
	columnar_free(cf);
	return rc;
}

int batch_score_table(struct store *s, const char *model, uint64_t version,
		      const char *input, const char *output, uint64_t *rows,
		      struct mlfs_err *err)
{
	struct batch *b = NULL;
	struct table_reader *r = NULL;
	char *chunk = malloc(1u << 20);
	if (!chunk)
		mlfs_oom();
	int rc = batch_open(s, model, version, &b, err);
	bool form = false;
	if (!rc) {
		b->table = true;
		fmt_timestamp(b->when, clock_now_ns() / 1000);
		rc = score_table_form(b, input, &form, err);
		b->finished = form;
	}
	if (!rc && !form)
		rc = table_reader_open(s, input, &r, err);
	for (uint64_t off = 0; !rc && !form;) {
		long n = table_reader_read(r, chunk, 1u << 20, off, err);
		if (n < 0)
			rc = (int)n;
		if (n <= 0)
			break;
		rc = batch_write(b, chunk, (size_t)n, err);
		off += (uint64_t)n;
	}
	if (!rc && !form)
		rc = batch_finish(b, err);
	if (!rc)
		rc = spool_to_table(s, b, output, err);
	if (!rc && rows)
		*rows = batch_rows(b);
	table_reader_free(r);
	batch_free(b);
	free(chunk);
	return rc;
}
