/* trainset.c - labels + feature lookups -> frame.
 *
 * One pass over the labels table (its columnar form when large:
 * trainset_scan.c; else table_scan); per row and lookup one
 * point read, or one bounded seek for a point-in-time lookup, on a
 * snapshot of each feature table (features_lookup) - or, for many labels
 * and no time, a probe of the table's rows read once into memory
 * (trainset_index.c).  Owns no store keys. */
#include "trainset.h"
#include "trainset_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features.h"
#include "table.h"

static enum frame_kind kind_of(enum col_type t)
{
	return t == COL_STRING ? FRAME_CATEGORICAL : FRAME_NUMERIC;
}

static enum col_type frame_type(enum col_type t)
{
	return t == COL_NULL ? COL_FLOAT : t;
}

static int on_label_row(void *ctx, const struct csv_field *f, size_t n,
			uint64_t line, struct mlfs_err *err)
{
	struct ts_ctx *c = ctx;
	int rc;

	if (n != c->ncols)
		return mlfs_fail(err, -EIO, "labels line %llu: %zu fields, the table has %u",
				 (unsigned long long)line, n, c->ncols);
	for (size_t i = 0; i < n; i++)
		if (c->frame_col[i] >= 0 &&
		    (rc = frame_append_text(c->f, (size_t)c->frame_col[i], f[i].p, f[i].len, err)))
			return rc;
	for (size_t k = 0; k < c->nlk; k++) {
		struct lk *l = &c->lks[k];
		const char *keys[16];
		size_t lens[16];
		bool as_of = l->tscol >= 0, ok = true;
		int64_t at = 0;
		for (uint32_t i = 0; i < l->sc->nkeys; i++) {
			keys[i] = f[l->keycol[i]].p;
			lens[i] = f[l->keycol[i]].len;
			ok = ok && lens[i] > 0;
		}
		if (as_of) {
			const struct csv_field *t = &f[l->tscol];
			int32_t d;
			if (value_parse_date(t->p, t->len, &d))
				at = (int64_t)d * 86400000000LL;
			else if (!value_parse_timestamp(t->p, t->len, &at))
				ok = false;
		}
		if (l->ix) {
			long row = ok ? ts_index_find(l->ix, keys, lens) : -1;
			if ((rc = ts_index_append_rows(l->ix, &row, 1, l->fcol, l->n, c->f, l->first, err)))
				return rc;
			continue;
		}
		const char *const *fv = NULL;
		const size_t *fl = NULL;
		rc = ok ? features_lookup_get(l->l, keys, lens, as_of, at, &fv, &fl) : -ENOENT;
		if (rc && rc != -ENOENT)
			return mlfs_fail(err, rc, "feature lookup failed");
		bool found = rc == 0;
		for (size_t j = 0; j < l->n; j++) {
			size_t col = l->first + j;
			uint32_t fc = l->fcol[j];
			if (!found || !fv[fc])
				rc = frame_append_null(c->f, col, err);
			else
				rc = frame_append_text(c->f, col, fv[fc], fl[fc], err);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Many labels: read each lookup's table once instead of a point read a
 * row (lookups without a time only). */
static int bulk_lookups(struct store *s, const char *labels,
			const struct trainset_lookup *lookups, struct ts_ctx *c,
			struct mlfs_err *err)
{
	struct table_info ti;
	if (table_stat(s, labels, &ti) || ti.rows < TRAINSET_BULK_ROWS)
		return 0;
	for (size_t k = 0; k < c->nlk; k++) {
		struct lk *l = &c->lks[k];
		if (l->tscol >= 0)
			continue;
		int rc = ts_index_build(s, lookups[k].table, l->sc, l->fcol, l->n, &l->ix, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int find(char **names, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return (int)i;
	return -1;
}

static bool excluded(const char *const *exclude, size_t nexclude, const char *name)
{
	for (size_t e = 0; e < nexclude; e++)
		if (!strcmp(exclude[e], name))
			return true;
	return false;
}

/* The labels table's columns into the frame (less the excluded ones),
 * after checking the label and the exclusions. */
static int label_columns(struct ts_ctx *c, const char *labels, const char *label,
			 const struct trainset_lookup *lookups, size_t nlookups,
			 const char *const *exclude, size_t nexclude,
			 struct mlfs_err *err)
{
	if (label && find(c->names, c->ncols, label) < 0)
		return mlfs_fail(err, -EINVAL, "label: no column '%s' in table '%s'", label, labels);
	for (size_t i = 0; i < nexclude; i++) {
		if (find(c->names, c->ncols, exclude[i]) < 0) {
			bool in_lookup = false;
			for (size_t k = 0; k < nlookups && !in_lookup; k++)
				for (size_t j = 0; lookups[k].columns && j < lookups[k].ncolumns; j++)
					in_lookup |= !strcmp(lookups[k].columns[j], exclude[i]);
			if (!in_lookup)
				return mlfs_fail(err, -EINVAL, "exclude: no column '%s' in the training set", exclude[i]);
		}
		if (label && !strcmp(exclude[i], label))
			return mlfs_fail(err, -EINVAL, "exclude: '%s' is the label", label);
	}
	for (uint32_t i = 0; i < c->ncols; i++) {
		c->frame_col[i] = -1;
		if (excluded(exclude, nexclude, c->names[i]))
			continue;
		int rc = frame_add_column(c->f, c->names[i], kind_of(c->types[i]),
					  frame_type(c->types[i]), err);
		if (rc < 0)
			return rc;
		c->frame_col[i] = rc;
	}
	return 0;
}

/* Lookup L's keys and time in the labels table LABELS. */
static int lookup_keys(struct ts_ctx *c, struct lk *l, const struct trainset_lookup *L,
		       const char *labels, struct mlfs_err *err)
{
	if (L->nkeys != l->sc->nkeys)
		return mlfs_fail(err, -EINVAL, "lookup_key of '%s' names %zu column(s); the table's key has %u",
				 L->table, L->nkeys, l->sc->nkeys);
	for (uint32_t i = 0; i < l->sc->nkeys; i++) {
		l->keycol[i] = find(c->names, c->ncols, L->lookup_keys[i]);
		if (l->keycol[i] < 0)
			return mlfs_fail(err, -EINVAL, "lookup_key: no column '%s' in labels table '%s'",
					 L->lookup_keys[i], labels);
	}
	if (!L->timestamp_lookup_key)
		return 0;
	if (l->sc->ts < 0)
		return mlfs_fail(err, -EINVAL, "timestamp_lookup_key: feature table '%s' has no timestamp_key",
				 L->table);
	l->tscol = find(c->names, c->ncols, L->timestamp_lookup_key);
	if (l->tscol < 0)
		return mlfs_fail(err, -EINVAL, "timestamp_lookup_key: no column '%s' in labels table '%s'",
				 L->timestamp_lookup_key, labels);
	return 0;
}

/* Lookup L's feature columns: the ones it names, or every non-key one;
 * those not excluded become frame columns. */
static int lookup_columns(struct ts_ctx *c, struct lk *l, const struct trainset_lookup *L,
			  const char *const *exclude, size_t nexclude,
			  struct mlfs_err *err)
{
	l->fcol = calloc(l->sc->ncols + (L->columns ? L->ncolumns : 0) + 1, sizeof(uint32_t));
	if (!l->fcol)
		mlfs_oom();
	for (size_t j = 0; L->columns && j < L->ncolumns; j++) {
		int fc = find(l->sc->names, l->sc->ncols, L->columns[j]);
		if (fc < 0)
			return mlfs_fail(err, -EINVAL, "columns: no column '%s' in feature table '%s'",
					 L->columns[j], L->table);
		l->fcol[l->n++] = (uint32_t)fc;
	}
	for (uint32_t fc = 0; !L->columns && fc < l->sc->ncols; fc++) {
		bool key = (int)fc == l->sc->ts;
		for (uint32_t i = 0; i < l->sc->nkeys; i++)
			key |= l->sc->keys[i] == fc;
		if (!key)
			l->fcol[l->n++] = fc;
	}
	l->first = frame_ncols(c->f);
	size_t kept = 0;
	for (size_t j = 0; j < l->n; j++) {
		const char *nm = l->sc->names[l->fcol[j]];
		if (excluded(exclude, nexclude, nm))
			continue;
		if (frame_col_index(c->f, nm) >= 0)
			return mlfs_fail(err, -EINVAL, "column '%s' of feature table '%s' is already in the training set",
					 nm, L->table);
		enum col_type t = l->sc->types[l->fcol[j]];
		int rc = frame_add_column(c->f, nm, kind_of(t), frame_type(t), err);
		if (rc < 0)
			return rc;
		l->fcol[kept++] = l->fcol[j];
	}
	l->n = kept;
	return 0;
}

static int open_lookup(struct store *s, struct ts_ctx *c, size_t k,
		       const struct trainset_lookup *L, const char *labels,
		       const char *const *exclude, size_t nexclude,
		       struct mlfs_err *err)
{
	struct lk *l = &c->lks[k];
	int rc;
	c->nlk = k + 1;
	l->tscol = -1;
	if ((rc = features_lookup_open(s, L->table, &l->l, err)))
		return rc == -ENOENT ? mlfs_fail(err, -ENOENT, "lookup: no feature table '%s'", L->table) : rc;
	l->sc = features_lookup_schema(l->l);
	if (l->sc->nkeys == 0 || l->sc->ncols == 0)
		return mlfs_fail(err, -EINVAL, "lookup: feature table '%s' has no rows yet", L->table);
	if ((rc = lookup_keys(c, l, L, labels, err)))
		return rc;
	return lookup_columns(c, l, L, exclude, nexclude, err);
}

int trainset_build(struct store *s, const char *labels, const char *label,
		   const struct trainset_lookup *lookups, size_t nlookups,
		   const char *const *exclude, size_t nexclude,
		   struct frame **out, struct mlfs_err *err)
{
	struct ts_ctx c = { 0 };
	int rc;

	*out = NULL;
	if (!names_valid(labels) || table_columns(s, labels, &c.names, &c.types, &c.ncols))
		return mlfs_fail(err, -ENOENT, "labels: no table '%s' under /tables", labels);
	c.f = frame_new();
	c.frame_col = calloc(c.ncols + 1, sizeof(int));
	c.lks = calloc(nlookups + 1, sizeof(*c.lks));
	if (!c.f || !c.frame_col || !c.lks)
		mlfs_oom();
	rc = label_columns(&c, labels, label, lookups, nlookups, exclude, nexclude, err);
	for (size_t k = 0; !rc && k < nlookups; k++)
		rc = open_lookup(s, &c, k, &lookups[k], labels, exclude, nexclude, err);
	if (!rc)
		rc = bulk_lookups(s, labels, lookups, &c, err);
	bool columnar = false;
	if (!rc)
		rc = ts_scan_columnar(s, labels, &c, &columnar, err);
	if (!rc && !columnar)
		rc = table_scan(s, labels, on_label_row, &c, err);
	if (!rc)
		rc = frame_check(c.f, err);
	for (size_t k = 0; k < c.nlk; k++) {
		features_lookup_free(c.lks[k].l);
		ts_index_free(c.lks[k].ix);
		free(c.lks[k].fcol);
	}
	free(c.lks);
	free(c.frame_col);
	free(c.names);
	free(c.types);
	if (rc < 0) {
		frame_free(c.f);
		return rc;
	}
	*out = c.f;
	return 0;
}
