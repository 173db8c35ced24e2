/* baseline.c - what a refresh compares with: a model version's training
 * profile (kept with the version), or a table's profile - whole and per
 * slice value - kept under m/b/DID until the table changes; and the
 * labels table as key -> label.  No windows here. */
#include "monitor_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "columnar.h"
#include "registry.h"
#include "types.h"

/* ---- baseline and labels ---- */

/* The baseline table's rows into the whole profile and, for each slice
 * column it has, one profile per value. */
struct builder_ctx {
	struct profile_builder *b;
	size_t n;
	char **names;
	enum col_type *types;
	size_t nslices;
	long *slice_field;		/* per monitor slice: the field, -1 none */
	struct strmap **values;		/* per monitor slice: value -> builder */
	struct profile_builder ***per;	/* [slice][value] */
	size_t *nper;
};

static struct profile_builder *builder_for(struct builder_ctx *bc)
{
	struct profile_builder *b = profile_builder_new();
	for (size_t i = 0; i < bc->n; i++)
		profile_builder_column(b, bc->names[i],
				       bc->types[i] == COL_STRING ? PROFILE_CATEGORICAL : PROFILE_NUMERIC);
	return b;
}

static void builder_row(struct profile_builder *b, const struct csv_field *f, size_t n, size_t ncols)
{
	for (size_t i = 0; i < ncols && i < n; i++)
		profile_builder_text(b, i, f[i].len ? f[i].p : NULL, f[i].len);
	profile_builder_row(b);
}

/* The builder of value P[0..LEN) of slice J, made on its first row. */
static struct profile_builder *builder_of(struct builder_ctx *bc, size_t j,
					  const char *p, size_t len)
{
	size_t k = strmap_intern(bc->values[j], p, len);
	if (k == bc->nper[j]) {
		bc->per[j] = realloc(bc->per[j], (k + 1) * sizeof(*bc->per[j]));
		if (!bc->per[j])
			mlfs_oom();
		bc->per[j][k] = builder_for(bc);
		bc->nper[j]++;
	}
	return bc->per[j][k];
}

static int on_baseline_row(void *ctx, const struct csv_field *f, size_t n,
			   uint64_t line, struct mlfs_err *err)
{
	struct builder_ctx *bc = ctx;
	builder_row(bc->b, f, n, bc->n);
	for (size_t j = 0; j < bc->nslices; j++) {
		long at = bc->slice_field[j];
		if (at < 0 || (size_t)at >= n || !f[at].len)
			continue;
		builder_row(builder_of(bc, j, f[at].p, f[at].len), f, n, bc->n);
	}
	return 0;
}

/* BC's builders, empty (its columns and slice fields set). */
static void builders_init(struct builder_ctx *bc)
{
	bc->b = builder_for(bc);
	bc->values = calloc(bc->nslices + 1, sizeof(*bc->values));
	bc->per = calloc(bc->nslices + 1, sizeof(*bc->per));
	bc->nper = calloc(bc->nslices + 1, sizeof(size_t));
	if (!bc->values || !bc->per || !bc->nper)
		mlfs_oom();
	for (size_t j = 0; j < bc->nslices; j++)
		bc->values[j] = strmap_new();
}

/* Finish (OK) or drop what BC built, the slices into BASE. */
static void builders_end(struct builder_ctx *bc, struct baseline *base, bool ok)
{
	for (size_t j = 0; j < bc->nslices; j++) {
		for (size_t k = 0; k < bc->nper[j]; k++) {
			if (!ok) {
				profile_builder_free(bc->per[j][k]);
				continue;
			}
			base->slices = realloc(base->slices, (base->nslices + 1) * sizeof(*base->slices));
			if (!base->slices)
				mlfs_oom();
			struct base_slice *sl = &base->slices[base->nslices++];
			sl->key = strdup(bc->names[bc->slice_field[j]]);
			sl->value = strdup(strmap_str(bc->values[j], k, NULL));
			sl->prof = profile_builder_finish(bc->per[j][k]);
			if (!sl->key || !sl->value)
				mlfs_oom();
		}
		free(bc->per[j]);
		strmap_free(bc->values[j]);
	}
	if (ok)
		base->prof = profile_builder_finish(bc->b);
	else
		profile_builder_free(bc->b);
	free(bc->slice_field);
	free(bc->values);
	free(bc->per);
	free(bc->nper);
}

/* ---- the baseline table through its columnar form ----
 * A baseline table of columnar_scan_min_bytes or more (below, building
 * the form costs more than it saves) is profiled from its form
 * (columnar.h): each chunk into partial builders on a pool thread, merged
 * in row order, so slice values keep their first-seen order; a profile
 * does not depend on the order of its rows, so it is the text path's.
 * Numeric columns are read as numbers where the form holds the number the
 * text parses to (columnar_as_number), slice columns where it gives their
 * text (strings; ints and dates written canonically); else the text. */

/* Row R of COLS into B as builder_row puts the row's text. */
static void vec_row(struct profile_builder *b, const struct col_vec *cols, size_t n, size_t r)
{
	for (size_t i = 0; i < n; i++) {
		const struct col_vec *v = &cols[i];
		if (v->off)
			profile_builder_text(b, i, v->bytes + v->off[r], v->off[r + 1] - v->off[r]);
		else
			profile_builder_number(b, i, col_vec_number(v, r));
	}
	profile_builder_row(b);
}

/* The text of row R of V (a text, or a canonical int or date) into TMP;
 * its length, 0 for a null. */
static size_t vec_text(const struct col_vec *v, size_t r, char tmp[32], const char **p)
{
	*p = tmp;
	if (col_vec_null(v, r))
		return 0;
	if (v->off) {
		*p = v->bytes + v->off[r];
		return v->off[r + 1] - v->off[r];
	}
	if (v->type == COL_DATE)
		fmt_date(tmp, (int32_t)v->i[r]);
	else
		snprintf(tmp, 32, "%lld", (long long)v->i[r]);
	return strlen(tmp);
}

/* A chunk's rows into partial builders (on a pool thread). */
static void *profile_chunk(void *ctx, uint64_t first, const struct col_vec *cols, size_t n)
{
	const struct builder_ctx *bc = ctx;
	struct builder_ctx *part = malloc(sizeof(*part));
	if (!part)
		mlfs_oom();
	*part = (struct builder_ctx){ .n = bc->n, .names = bc->names, .types = bc->types,
				      .nslices = bc->nslices, .slice_field = bc->slice_field };
	builders_init(part);
	(void)first;
	for (size_t r = 0; r < n; r++) {
		vec_row(part->b, cols, bc->n, r);
		for (size_t j = 0; j < bc->nslices; j++) {
			char tmp[32];
			const char *p;
			size_t len = bc->slice_field[j] < 0 ? 0 : vec_text(&cols[bc->slice_field[j]], r, tmp, &p);
			if (len)
				vec_row(builder_of(part, j, p, len), cols, bc->n, r);
		}
	}
	return part;
}

/* Free PART, what it built kept by nobody. */
static void part_free(struct builder_ctx *part)
{
	part->slice_field = NULL;	/* the whole's */
	builders_end(part, NULL, false);
	free(part);
}

/* Merge a chunk's partial builders into the whole, in row order. */
static int merge_chunk(void *ctx, void *made, bool skip)
{
	struct builder_ctx *bc = ctx, *part = made;
	if (!skip) {
		profile_builder_merge(bc->b, part->b);
		part->b = NULL;
		for (size_t j = 0; j < bc->nslices; j++) {
			for (size_t k = 0; k < part->nper[j]; k++) {
				size_t len;
				const char *v = strmap_str(part->values[j], k, &len);
				profile_builder_merge(builder_of(bc, j, v, len), part->per[j][k]);
			}
			part->nper[j] = 0;
		}
	}
	part_free(part);
	return 0;
}

static bool form_fits(const struct builder_ctx *bc, const struct columnar *cf)
{
	if (columnar_ncols(cf) != bc->n)
		return false;
	for (uint32_t i = 0; i < bc->n; i++) {
		enum col_type t = columnar_type(cf, i);
		if (t != bc->types[i] || (t != COL_STRING && t != COL_NULL && !columnar_as_number(cf, i)))
			return false;
	}
	for (size_t j = 0; j < bc->nslices; j++) {
		long at = bc->slice_field[j];
		enum col_type t = at < 0 ? COL_STRING : columnar_type(cf, (uint32_t)at);
		if (t != COL_STRING && t != COL_NULL &&
		    ((t != COL_INT && t != COL_DATE) || !columnar_canonical(cf, (uint32_t)at)))
			return false;
	}
	return true;
}

/* Profile table NAME into BC (empty builders) through its form: false
 * when it has none that fits or the scan failed (BC empty again). */
static bool profile_form(struct store *s, const char *name, struct builder_ctx *bc)
{
	struct columnar *cf = NULL;
	struct mlfs_err e;
	if (columnar_open(s, name, &cf, &e))
		return false;
	bool ok = form_fits(bc, cf);
	uint32_t *cols = calloc(bc->n + 1, sizeof(uint32_t));
	if (!cols)
		mlfs_oom();
	for (uint32_t i = 0; i < bc->n; i++)
		cols[i] = i;
	if (ok && columnar_scan_ordered(cf, cols, bc->n, profile_chunk, merge_chunk, bc, &e)) {
		long *fields = bc->slice_field;
		bc->slice_field = NULL;
		builders_end(bc, NULL, false);
		bc->slice_field = fields;
		builders_init(bc);
		ok = false;
	}
	free(cols);
	columnar_free(cf);
	return ok;
}

/* ---- the table baseline's profiles, kept until the table changes ----
 * m/b/DID: {tag, p: profile, s: [[slice key, value, profile], ...]} */

static void cache_key(struct buf *k, const struct refresh *rf)
{
	mon_key(k, 'b', rf->r.did);
}

/* The profiles of the baseline tagged RF->base.tag from the cache. */
static bool cache_get(struct refresh *rf)
{
	struct buf k = { 0 }, v = { 0 };
	struct baseline *b = &rf->base;
	bool ok = false;
	cache_key(&k, rf);
	if (!store_get(rf->s, NULL, k.data, k.len, &v, NULL)) {
		struct dec *d = codec_dec_new(v.data, v.len);
		struct dval root = d ? codec_dec_root(d) : (struct dval){ 0 }, x, sl;
		char tag[sizeof(b->tag)];
		const char *p;
		size_t len;
		ok = d && codec_dget_str(root, "tag", tag, sizeof(tag)) && !strcmp(tag, b->tag) &&
		     codec_dval_get(root, "p", &x) && codec_dval_str(x, &p, &len) &&
		     !profile_decode(p, len, &b->prof, NULL) && codec_dval_get(root, "s", &sl);
		for (size_t i = 0; ok && i < codec_dval_len(sl); i++) {
			struct dval e = codec_dval_at(sl, i);
			const char *kp, *vp;
			size_t kl, vl;
			struct base_slice one = { 0 };
			ok = codec_dval_str(codec_dval_at(e, 0), &kp, &kl) &&
			     codec_dval_str(codec_dval_at(e, 1), &vp, &vl) &&
			     codec_dval_str(codec_dval_at(e, 2), &p, &len) &&
			     !profile_decode(p, len, &one.prof, NULL);
			if (!ok)
				break;
			one.key = strndup(kp, kl);
			one.value = strndup(vp, vl);
			if (!one.key || !one.value ||
			    !(b->slices = realloc(b->slices, (b->nslices + 1) * sizeof(*b->slices))))
				mlfs_oom();
			b->slices[b->nslices++] = one;
		}
		codec_dec_free(d);
	}
	if (!ok) {
		/* damaged or stale: built again */
		profile_free(b->prof);
		b->prof = NULL;
		for (size_t i = 0; i < b->nslices; i++) {
			free(b->slices[i].key);
			free(b->slices[i].value);
			profile_free(b->slices[i].prof);
		}
		free(b->slices);
		b->slices = NULL;
		b->nslices = 0;
	}
	buf_free(&k);
	buf_free(&v);
	return ok;
}

void baseline_keep(struct refresh *rf, struct store_batch *batch)
{
	struct buf k = { 0 }, v = { 0 }, p = { 0 };
	const struct baseline *b = &rf->base;
	cache_key(&k, rf);
	codec_enc_map(&v, 3);
	codec_enc_cstr(&v, "tag");
	codec_enc_cstr(&v, b->tag);
	codec_enc_cstr(&v, "p");
	profile_encode(b->prof, &p);
	codec_enc_bin(&v, p.data, p.len);
	codec_enc_cstr(&v, "s");
	codec_enc_array(&v, (uint32_t)b->nslices);
	for (size_t i = 0; i < b->nslices; i++) {
		codec_enc_array(&v, 3);
		codec_enc_cstr(&v, b->slices[i].key);
		codec_enc_cstr(&v, b->slices[i].value);
		buf_reset(&p);
		profile_encode(b->slices[i].prof, &p);
		codec_enc_bin(&v, p.data, p.len);
	}
	store_batch_put(batch, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
	buf_free(&p);
}

int baseline_load(struct refresh *rf, uint64_t *version, struct mlfs_err *err)
{
	const struct monitor_spec *sp = rf->sp;
	int rc = 0;
	*version = 0;
	rf->base.problem = MONITOR_PROBLEM_AUTO;
	if (sp->base_kind == MONITOR_BASE_MODEL) {
		struct registry_version v;
		struct buf file = { 0 };
		if ((rc = registry_resolve(rf->s, sp->base_name, sp->base_ref, version, err)))
			return rc;
		snprintf(rf->base.tag, sizeof(rf->base.tag), "model:%s@%" PRIu64, sp->base_name, *version);
		rc = registry_version_get(rf->s, sp->base_name, *version, &v);
		if (!rc && registry_version_file(rf->s, &v, "profile", &file, NULL))
			rc = mlfs_fail(err, -EINVAL, "baseline: version %" PRIu64 " of %s has no training profile (trained before drift monitors: train and register it again)",
				       *version, sp->base_name);
		else if (!rc)
			rc = profile_decode(file.data, file.len, &rf->base.prof, err);
		buf_free(&file);
		if (!rc) {
			const struct profile_col *p = profile_find(rf->base.prof, "prediction");
			if (p)
				rf->base.problem = p->kind == PROFILE_NUMERIC ? MONITOR_PROBLEM_REGRESSION
									      : MONITOR_PROBLEM_CLASSIFICATION;
		}
		return rc;
	}
	if (sp->base_kind == MONITOR_BASE_TABLE) {
		struct table_info ti;
		char **names = NULL;
		enum col_type *types = NULL;
		uint32_t n = 0;
		if (table_stat(rf->s, sp->base_name, &ti) ||
		    table_columns(rf->s, sp->base_name, &names, &types, &n))
			return mlfs_fail(err, -EINVAL, "baseline: no table '%s'", sp->base_name);
		snprintf(rf->base.tag, sizeof(rf->base.tag), "table:%s#%" PRIu64 ".%" PRIu64,
			 sp->base_name, ti.id, ti.version);
		if (cache_get(rf)) {
			free(names);
			free(types);
			return 0;
		}
		struct builder_ctx bc = { NULL, n, names, types, sp->nslices, NULL, NULL, NULL, NULL };
		if (!(bc.slice_field = calloc(sp->nslices + 1, sizeof(long))))
			mlfs_oom();
		for (size_t j = 0; j < sp->nslices; j++)
			bc.slice_field[j] = mon_field(names, n, sp->slice_by[j]);
		builders_init(&bc);
		if (ti.data_bytes < columnar_scan_min_bytes || !profile_form(rf->s, sp->base_name, &bc))
			rc = table_scan(rf->s, sp->base_name, on_baseline_row, &bc, err);
		builders_end(&bc, &rf->base, rc == 0);
		rf->base_built = rc == 0;
		free(names);
		free(types);
	}
	return rc;
}

static int on_label_row(void *ctx, const struct csv_field *f, size_t n,
			uint64_t line, struct mlfs_err *err)
{
	struct refresh *rf = ctx;
	long k = rf->field_key, l = rf->field_ts;	/* reused: key and label fields */
	if ((size_t)k >= n || (size_t)l >= n || !f[k].len || !f[l].len)
		return 0;
	size_t i = strmap_intern(rf->lab.keys, f[k].p, f[k].len);
	if (i >= rf->lab.n) {
		size_t cap = rf->lab.n ? 2 * rf->lab.n : 1024;
		while (cap <= i)
			cap *= 2;
		if (!(rf->lab.label = realloc(rf->lab.label, cap * sizeof(uint32_t))))
			mlfs_oom();
		rf->lab.n = cap;
	}
	rf->lab.label[i] = (uint32_t)strmap_intern(rf->lab.texts, f[l].p, f[l].len);
	return 0;
}

int labels_load(struct refresh *rf, uint64_t *version, struct mlfs_err *err)
{
	const struct monitor_spec *sp = rf->sp;
	struct table_info ti;
	char **names = NULL;
	enum col_type *types = NULL;
	uint32_t n = 0;
	if (table_stat(rf->s, sp->labels_table, &ti) ||
	    table_columns(rf->s, sp->labels_table, &names, &types, &n))
		return mlfs_fail(err, -EINVAL, "labels: no table '%s'", sp->labels_table);
	*version = ti.id << 32 ^ ti.version;
	long saved_key = rf->field_key, saved_ts = rf->field_ts;
	rf->field_key = mon_field(names, n, sp->labels_key);
	rf->field_ts = mon_field(names, n, sp->labels_label);
	free(names);
	free(types);
	int rc = 0;
	if (rf->field_key < 0 || rf->field_ts < 0)
		rc = mlfs_fail(err, -EINVAL, "labels: table '%s' has no column '%s'", sp->labels_table,
			       rf->field_key < 0 ? sp->labels_key : sp->labels_label);
	rf->lab.keys = strmap_new();
	rf->lab.texts = strmap_new();
	if (!rc)
		rc = table_scan(rf->s, sp->labels_table, on_label_row, rf, err);
	rf->field_key = saved_key;
	rf->field_ts = saved_ts;
	rf->have_labels = !rc;
	return rc;
}
