/* trainset_scan.c - the labels side of a training set through the labels
 * table's columnar form (columnar.h) instead of its CSV text.
 *
 * One parallel pass over the chunks (split by chunk ranges across the
 * thread pool) reads the numeric labels columns as numbers and finds each
 * row's feature row in every lookup's index (ts_index_find); then the
 * frame is filled in row order, column by column: the same values and
 * nulls frame_append_text would give from the text.  Owns no store keys. */
#include "trainset_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "columnar.h"

size_t trainset_columnar_min_bytes = 1u << 20;

struct scan_ctx {
	struct ts_ctx *c;
	uint32_t *cols;		/* labels columns read, at most c->ncols */
	size_t ncols;
	int *pos;		/* labels column -> index into cols, -1 */
	double **num;		/* per labels column: values (numeric ones) */
	long **rowof;		/* per lookup: the feature row of each label */
};

/* The text of row R of key column V (a canonical int or date printed
 * back into TMP); false for a null. */
static bool key_text(const struct col_vec *v, size_t r, char tmp[32],
		     const char **p, size_t *len)
{
	if (col_vec_null(v, r))
		return false;
	if (v->off) {
		*p = v->bytes + v->off[r];
		*len = v->off[r + 1] - v->off[r];
		return *len > 0;
	}
	if (v->type == COL_DATE)
		fmt_date(tmp, (int32_t)v->i[r]);
	else
		snprintf(tmp, 32, "%lld", (long long)v->i[r]);
	*p = tmp;
	*len = strlen(tmp);
	return true;
}

/* Row R of numeric column V as frame.c reads its text. */
static double vec_number(const struct col_vec *v, size_t r)
{
	if (col_vec_null(v, r) || (!v->i && !v->f))
		return NAN;
	switch (v->type) {
	case COL_FLOAT:
		return v->f[r];
	case COL_TIMESTAMP:
		return (double)v->i[r] / 1e6;
	default:
		return (double)v->i[r];
	}
}

static void chunk_lookups(struct scan_ctx *sc, uint64_t first,
			  const struct col_vec *cols, size_t n)
{
	char tmp[16][32];
	for (size_t k = 0; k < sc->c->nlk; k++) {
		const struct lk *l = &sc->c->lks[k];
		long *rowof = sc->rowof[k] + first;
		const struct col_vec *v = &cols[sc->pos[l->keycol[0]]];
		if (ts_index_int_keys(l->ix) && v->type == COL_INT && v->i && !v->off) {
			/* Int keys on both sides: no text. */
			for (size_t r = 0; r < n; r++)
				rowof[r] = col_vec_null(v, r) ? -1 : ts_index_find_int(l->ix, v->i[r]);
			continue;
		}
		for (size_t r = 0; r < n; r++) {
			const char *keys[16];
			size_t lens[16];
			bool ok = true;
			for (uint32_t i = 0; ok && i < l->sc->nkeys; i++)
				ok = key_text(&cols[sc->pos[l->keycol[i]]], r, tmp[i], &keys[i], &lens[i]);
			rowof[r] = ok ? ts_index_find(l->ix, keys, lens) : -1;
		}
	}
}

static int on_chunk(void *ctx, int thread, uint64_t first,
		    const struct col_vec *cols, size_t n)
{
	struct scan_ctx *sc = ctx;
	for (size_t j = 0; j < sc->ncols; j++) {
		double *out = sc->num[sc->cols[j]];
		for (size_t r = 0; out && r < n; r++)
			out[first + r] = vec_number(&cols[j], r);
	}
	(void)thread;
	chunk_lookups(sc, first, cols, n);
	return 0;
}

/* Categorical labels columns, a chunk at a time in row order (their
 * dictionaries number values by first appearance). */
struct text_ctx {
	struct ts_ctx *c;
	uint32_t col;
	struct mlfs_err *err;
};

static int on_text_chunk(void *ctx, int thread, uint64_t first,
			 const struct col_vec *cols, size_t n)
{
	struct text_ctx *tc = ctx;
	(void)thread;
	(void)first;
	size_t fc = (size_t)tc->c->frame_col[tc->col];
	for (size_t r = 0; r < n; r++) {
		int rc = col_vec_null(cols, r) ? frame_append_null(tc->c->f, fc, tc->err) :
			 frame_append_text(tc->c->f, fc, cols->bytes + cols->off[r],
					   cols->off[r + 1] - cols->off[r], tc->err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Does form CF fit: every lookup indexed, keys that stand for their
 * text, numeric columns read as numbers? */
static bool form_fits(const struct ts_ctx *c, const struct columnar *cf)
{
	if (columnar_ncols(cf) != c->ncols)
		return false;
	for (uint32_t i = 0; i < c->ncols; i++) {
		enum col_type t = columnar_type(cf, i);
		if (t != c->types[i])
			return false;
		bool text = t == COL_STRING || t == COL_NULL;
		if (c->frame_col[i] >= 0 && !text && !columnar_as_number(cf, i))
			return false;
	}
	for (size_t k = 0; k < c->nlk; k++) {
		const struct lk *l = &c->lks[k];
		if (!l->ix || l->tscol >= 0)
			return false;
		for (uint32_t i = 0; i < l->sc->nkeys; i++) {
			enum col_type t = columnar_type(cf, (uint32_t)l->keycol[i]);
			if (t != COL_STRING && t != COL_NULL &&
			    ((t != COL_INT && t != COL_DATE) || !columnar_canonical(cf, (uint32_t)l->keycol[i])))
				return false;
		}
	}
	return true;
}

/* The columns the parallel pass reads: numeric frame columns and keys. */
static void scan_columns(struct scan_ctx *sc, const struct columnar *cf, uint64_t rows)
{
	struct ts_ctx *c = sc->c;
	for (uint32_t i = 0; i < c->ncols; i++) {
		bool key = false;
		for (size_t k = 0; k < c->nlk; k++)
			for (uint32_t j = 0; j < c->lks[k].sc->nkeys; j++)
				key |= c->lks[k].keycol[j] == (int)i;
		enum col_type t = columnar_type(cf, i);
		bool number = c->frame_col[i] >= 0 && t != COL_STRING;
		sc->pos[i] = -1;
		if (!key && !number)
			continue;
		sc->pos[i] = (int)sc->ncols;
		sc->cols[sc->ncols++] = i;
		if (number && !(sc->num[i] = malloc((rows + 1) * sizeof(double))))
			mlfs_oom();
	}
	for (size_t k = 0; k < c->nlk; k++)
		if (!(sc->rowof[k] = malloc((rows + 1) * sizeof(long))))
			mlfs_oom();
}

/* The frame in row order: labels columns, then each lookup's. */
static int fill_frame(struct scan_ctx *sc, struct columnar *cf, uint64_t rows,
		      struct mlfs_err *err)
{
	struct ts_ctx *c = sc->c;
	int rc = frame_reserve(c->f, rows) ? mlfs_fail(err, -ENOMEM, "out of memory") : 0;
	for (uint32_t i = 0; !rc && i < c->ncols; i++) {
		if (c->frame_col[i] < 0)
			continue;
		if (sc->num[i]) {
			rc = frame_append_numbers(c->f, (size_t)c->frame_col[i], sc->num[i], rows, err);
			continue;
		}
		struct text_ctx tc = { c, i, err };
		for (size_t ch = 0; !rc && ch < columnar_nchunks(cf); ch++)
			rc = columnar_scan_chunks(cf, ch, ch + 1, &i, 1, on_text_chunk, &tc, err);
	}
	for (size_t k = 0; !rc && k < c->nlk; k++) {
		const struct lk *l = &c->lks[k];
		rc = ts_index_append_rows(l->ix, sc->rowof[k], rows, l->fcol, l->n, c->f, l->first, err);
	}
	return rc;
}

int ts_scan_columnar(struct store *s, const char *labels, struct ts_ctx *c,
		     bool *used, struct mlfs_err *err)
{
	struct table_info ti;
	struct columnar *cf = NULL;
	*used = false;
	if (table_stat(s, labels, &ti) || ti.data_bytes < trainset_columnar_min_bytes)
		return 0;
	int rc = columnar_open(s, labels, &cf, err);
	if (rc)
		return rc == -EAGAIN ? 0 : rc;	/* changed meanwhile: the text */
	if (!form_fits(c, cf)) {
		columnar_free(cf);
		return 0;
	}
	uint64_t rows = columnar_rows(cf);
	struct scan_ctx sc = { .c = c };
	sc.cols = calloc(c->ncols + 1, sizeof(*sc.cols));
	sc.pos = calloc(c->ncols + 1, sizeof(*sc.pos));
	sc.num = calloc(c->ncols + 1, sizeof(*sc.num));
	sc.rowof = calloc(c->nlk + 1, sizeof(*sc.rowof));
	if (!sc.cols || !sc.pos || !sc.num || !sc.rowof)
		mlfs_oom();
	scan_columns(&sc, cf, rows);
	rc = columnar_scan(cf, sc.cols, sc.ncols, on_chunk, &sc, err);
	if (rc == -EAGAIN)
		rc = 0;		/* the table changed during the pass: the text */
	else
		*used = true;
	if (!rc && *used)
		rc = fill_frame(&sc, cf, rows, err);
	for (uint32_t i = 0; i < c->ncols; i++)
		free(sc.num[i]);
	for (size_t k = 0; k < c->nlk; k++)
		free(sc.rowof[k]);
	free(sc.rowof);
	free(sc.num);
	free(sc.pos);
	free(sc.cols);
	columnar_free(cf);
	return rc;
}
