/* refresh.c - a monitor's refresh: read the source rows added since the
 * last one (the endpoint's log after its SEQ, the table after its
 * cursor), add them to their windows as new blocks, and recompute the
 * windows that changed - those that got rows, the window after each
 * (consecutive drift), and all of them when the baseline, the labels or
 * the table's rows (a replace) changed - with the alert lines that rose.
 * Everything is one batch: a crash leaves the previous refresh whole.
 *
 * Window of a time T (seconds): [floor(T / G) * G, + G) for granularity
 * G, aligned to the epoch; whole weeks start on Monday (the epoch was a
 * Thursday, so they are shifted by four days). */
#include "monitor_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "endpoint.h"
#include "registry.h"
#include "types.h"

#define WEEK (7 * 86400)
#define MONDAY_SHIFT (4 * 86400)

static int64_t window_of(int64_t t, int64_t g)
{
	int64_t shift = g % WEEK == 0 ? MONDAY_SHIFT : 0;
	int64_t x = t - shift;
	int64_t q = x >= 0 ? x / g : -((-x + g - 1) / g);
	return q * g + shift;
}

/* ---- windows being refreshed ---- */

struct pending {
	int64_t start;
	struct wdata *rows;	/* the new rows of this window */
};

struct refresh {
	struct store *s;
	const char *name;
	struct monitor_spec *sp;
	struct mon_record r;
	struct baseline base;
	struct labels lab;
	bool have_labels;
	struct pending *win;
	size_t nwin;
	size_t last;		/* the window the last row went to */
	uint64_t rows_in, rows_skipped;
	/* endpoint rows: where each layout column is in the current record */
	uint64_t rec;
	long *at_col, at_key, *at_slice, at_ts;
	/* table rows: each layout column's field */
	long *field_col, field_key, *field_slice, field_ts, field_model, field_pred, field_prob;
	struct store_batch *batch;	/* what a successful run writes */
	bool dropped;			/* the stored windows go (a replace) */
	bool base_built;		/* the table baseline was profiled now */
	int64_t now_ms;			/* the refresh's time: report, alerts */
	char when[40];			/* the same, ISO 8601 with milliseconds */
};

static struct wdata *window_rows(struct refresh *rf, int64_t t)
{
	int64_t start = window_of(t, rf->sp->granularity_s);
	if (rf->nwin && rf->win[rf->last].start == start)
		return rf->win[rf->last].rows;
	for (size_t i = 0; i < rf->nwin; i++)
		if (rf->win[i].start == start) {
			rf->last = i;
			return rf->win[i].rows;
		}
	if (!(rf->win = realloc(rf->win, (rf->nwin + 1) * sizeof(*rf->win))))
		mlfs_oom();
	rf->last = rf->nwin++;
	rf->win[rf->last] = (struct pending){ start, wdata_new(rf->r.layout.ncols, rf->r.layout.nslices) };
	return rf->win[rf->last].rows;
}

static bool is_log_time(const char *name)
{
	return !name || !strcmp(name, "timestamp") || !strcmp(name, "prediction_timestamp") ||
	       !strcmp(name, "time");
}

/* ---- the layout (which columns, fixed at the first refresh) ---- */

/* Not watched by default: what places, slices or identifies a row (the
 * prediction is always watched). */
static bool excluded(const struct monitor_spec *sp, const char *col)
{
	if (!strcmp(col, "prediction"))
		return false;
	if ((sp->timestamp && !strcmp(col, sp->timestamp)) ||
	    (sp->model_id && !strcmp(col, sp->model_id)) ||
	    (sp->labels_key && !strcmp(col, sp->labels_key)) || !strcmp(col, "model_version") ||
	    !strcmp(col, "prediction_timestamp"))
		return true;
	for (size_t i = 0; i < sp->nslices; i++)
		if (!strcmp(col, sp->slice_by[i]))
			return true;
	return false;
}

static void layout_set(struct mon_layout *lay, const struct monitor_spec *sp,
		       const char *const *cols, size_t n)
{
	size_t bytes = 0, k = 0;
	for (size_t i = 0; i < n; i++)
		bytes += strlen(cols[i]) + 1;
	lay->cols = malloc((n + 1) * sizeof(char *) + bytes);
	if (!lay->cols)
		mlfs_oom();
	char *at = (char *)(lay->cols + n + 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(cols[i]) + 1;
		memcpy(at, cols[i], l);
		lay->cols[k++] = at;
		at += l;
	}
	lay->ncols = k;
	bytes = 0;
	for (size_t i = 0; i < sp->nslices; i++)
		bytes += strlen(sp->slice_by[i]) + 1;
	lay->slices = malloc((sp->nslices + 1) * sizeof(char *) + bytes);
	if (!lay->slices)
		mlfs_oom();
	at = (char *)(lay->slices + sp->nslices + 1);
	for (size_t i = 0; i < sp->nslices; i++) {
		size_t l = strlen(sp->slice_by[i]) + 1;
		memcpy(at, sp->slice_by[i], l);
		lay->slices[i] = at;
		at += l;
	}
	lay->nslices = sp->nslices;
	lay->set = true;
}

/* The label column of the baseline version (features.yaml "label: X"). */
static void model_label(struct store *s, const struct monitor_spec *sp, uint64_t version,
			char *out, size_t n)
{
	struct registry_version v;
	struct buf text = { 0 };
	out[0] = '\0';
	if (registry_version_get(s, sp->base_name, version, &v) ||
	    registry_version_file(s, &v, "features.yaml", &text, NULL))
		goto out;
	for (const char *p = text.data; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > 6 && !strncmp(p, "label:", 6)) {
			const char *v0 = p + 6;
			while (*v0 == ' ')
				v0++;
			size_t vl = (size_t)(p + len - v0);
			while (vl && (v0[vl - 1] == ' ' || v0[vl - 1] == '\r' || v0[vl - 1] == '"'))
				vl--;
			if (*v0 == '"')
				v0++, vl--;
			snprintf(out, n, "%.*s", (int)vl, v0);
			break;
		}
		p = nl ? nl + 1 : p + len;
	}
out:
	buf_free(&text);
}

struct cols_ctx {
	const char **v;
	size_t n;
};

/* Decide the layout if it is not set: false when it cannot be yet (an
 * endpoint with no baseline and no rows). */
static bool decide_layout(struct refresh *rf, uint64_t base_version,
			  const struct endpoint_log_row *first)
{
	const struct monitor_spec *sp = rf->sp;
	const char **cols = NULL;
	size_t n = 0;
	char label[256] = "";
	char **tnames = NULL, **bnames = NULL;
	enum col_type *ttypes = NULL, *btypes = NULL;
	uint32_t tn = 0, bn = 0;
	if (rf->r.layout.set)
		return true;
	if (sp->columns) {
		layout_set(&rf->r.layout, sp, (const char *const *)sp->columns, sp->ncolumns);
		return true;
	}
	if (!(cols = calloc(8192, sizeof(char *))))
		mlfs_oom();
	if (sp->base_kind == MONITOR_BASE_MODEL && rf->base.prof) {
		model_label(rf->s, sp, base_version, label, sizeof(label));
		for (size_t i = 0; i < rf->base.prof->ncols && n < 8192; i++) {
			const char *c = rf->base.prof->cols[i].name;
			if (strcmp(c, label) && !excluded(sp, c))
				cols[n++] = c;
		}
	} else if (sp->source_kind == MONITOR_SOURCE_TABLE) {
		if (!table_columns(rf->s, sp->source, &tnames, &ttypes, &tn) &&
		    (sp->base_kind != MONITOR_BASE_TABLE ||
		     !table_columns(rf->s, sp->base_name, &bnames, &btypes, &bn)))
			for (uint32_t i = 0; i < tn && n < 8192; i++) {
				bool in_base = sp->base_kind != MONITOR_BASE_TABLE;
				for (uint32_t j = 0; !in_base && j < bn; j++)
					in_base = !strcmp(bnames[j], tnames[i]);
				if (in_base && !excluded(sp, tnames[i]) && strcmp(tnames[i], "probability"))
					cols[n++] = tnames[i];
			}
	} else if (first) {
		for (size_t i = 0; i < first->nfeatures && n < 8191; i++) {
			const struct endpoint_cell *c = &first->feature_names[i];
			char *name = strndup(c->str, c->len);
			if (!name)
				mlfs_oom();
			bool in_base = true;
			if (sp->base_kind == MONITOR_BASE_TABLE && rf->base.prof)
				in_base = profile_find(rf->base.prof, name) != NULL;
			if (in_base && !excluded(sp, name))
				cols[n++] = name;
			else
				free(name);
		}
		cols[n++] = "prediction";
	}
	bool done = n > 0;
	if (done)
		layout_set(&rf->r.layout, sp, cols, n);
	if (first && sp->source_kind == MONITOR_SOURCE_ENDPOINT && !(sp->base_kind == MONITOR_BASE_MODEL && rf->base.prof))
		for (size_t i = 0; i + 1 < n; i++)
			free((char *)cols[i]);
	free(cols);
	free(tnames);
	free(ttypes);
	free(bnames);
	free(btypes);
	return done;
}

/* ---- reading the endpoint's log ---- */

static long find_name(const struct endpoint_cell *names, size_t n, const char *want)
{
	size_t wl = strlen(want);
	for (size_t i = 0; i < n; i++)
		if (names[i].len == wl && !memcmp(names[i].str, want, wl))
			return (long)i;
	return -1;
}

/* Where NAME is in a row: >= 0 a key, <= -2 feature -(i + 2), -1 none. */
static long locate(const struct endpoint_log_row *row, const char *name)
{
	long i = find_name(row->key_names, row->nkeys, name);
	if (i >= 0)
		return i;
	i = find_name(row->feature_names, row->nfeatures, name);
	return i >= 0 ? -(i + 2) : -1;
}

static const struct endpoint_cell *cell_at(const struct endpoint_log_row *row, long at)
{
	if (at >= 0)
		return &row->keys[at];
	if (at <= -2)
		return &row->features[-at - 2];
	return NULL;
}

static void set_cell(struct wdata *w, struct wcol *c, size_t i, const struct endpoint_cell *e)
{
	if (!e || e->kind == ENDPOINT_CELL_NULL)
		return;
	if (e->kind == ENDPOINT_CELL_NUM)
		wcol_set_num(c, i, e->num);
	else
		wcol_set_str(w, c, i, e->str, e->len);
}

static uint32_t cell_str(struct wdata *w, const struct endpoint_cell *e)
{
	char tmp[40];
	if (!e || e->kind == ENDPOINT_CELL_NULL)
		return UINT32_MAX;
	if (e->kind == ENDPOINT_CELL_STR)
		return wdata_str(w, e->str, e->len);
	int n = buf_fmt_double(tmp, e->num);
	return wdata_str(w, tmp, (size_t)n);
}

static int on_log_row(void *ctx, const struct endpoint_log_row *row)
{
	struct refresh *rf = ctx;
	const struct mon_layout *lay = &rf->r.layout;
	if (!lay->set && !decide_layout(rf, 0, row))
		return 0;
	if (rf->rec != row->record || !rf->at_col) {
		rf->rec = row->record;
		free(rf->at_col);
		rf->at_col = calloc(lay->ncols + lay->nslices + 1, sizeof(long));
		if (!rf->at_col)
			mlfs_oom();
		rf->at_slice = rf->at_col + lay->ncols;
		for (size_t c = 0; c < lay->ncols; c++)
			rf->at_col[c] = locate(row, lay->cols[c]);
		for (size_t j = 0; j < lay->nslices; j++)
			rf->at_slice[j] = locate(row, lay->slices[j]);
		rf->at_key = rf->sp->labels_key ? locate(row, rf->sp->labels_key) : -1;
		rf->at_ts = is_log_time(rf->sp->timestamp) ? -1 : locate(row, rf->sp->timestamp);
	}
	int64_t t = row->time_us >= 0 ? row->time_us / 1000000 : -((-row->time_us + 999999) / 1000000);
	if (rf->at_ts != -1) {
		const struct endpoint_cell *c = cell_at(row, rf->at_ts);
		int64_t us;
		if (c && c->kind == ENDPOINT_CELL_NUM)
			t = (int64_t)floor(c->num);
		else if (c && c->kind == ENDPOINT_CELL_STR && value_parse_timestamp(c->str, c->len, &us))
			t = us / 1000000;
		else {
			rf->rows_skipped++;
			return 0;
		}
	}
	struct wdata *w = window_rows(rf, t);
	size_t i = wdata_add_row(w);
	char ver[300];
	snprintf(ver, sizeof(ver), "%s@%" PRIu64, row->model, row->version);
	w->version[i] = wdata_str(w, ver, strlen(ver));
	w->shadow[i] = row->shadow;
	for (size_t c = 0; c < lay->ncols; c++) {
		if (!strcmp(lay->cols[c], "prediction") && rf->at_col[c] == -1)
			set_cell(w, &w->cols[c], i, &row->prediction);
		else if (!strcmp(lay->cols[c], "probability") && rf->at_col[c] == -1)
			wcol_set_num(&w->cols[c], i, row->probability);
		else
			set_cell(w, &w->cols[c], i, cell_at(row, rf->at_col[c]));
	}
	for (size_t j = 0; j < lay->nslices; j++)
		w->slice[j][i] = rf->at_slice[j] == -1 && !strcmp(lay->slices[j], "prediction")
					 ? cell_str(w, &row->prediction)
					 : cell_str(w, cell_at(row, rf->at_slice[j]));
	w->key[i] = cell_str(w, cell_at(row, rf->at_key));
	set_cell(w, &w->pred, i, &row->prediction);
	w->prob[i] = row->probability;
	rf->rows_in++;
	return 0;
}

/* ---- reading a table ---- */

static long field_of(char **names, uint32_t n, const char *want)
{
	if (!want)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(names[i], want))
			return i;
	return -1;
}

static int table_fields(struct refresh *rf, struct mlfs_err *err)
{
	char **names = NULL;
	enum col_type *types = NULL;
	uint32_t n = 0;
	const struct mon_layout *lay = &rf->r.layout;
	int rc = table_columns(rf->s, rf->sp->source, &names, &types, &n);
	if (rc)
		return mlfs_fail(err, rc, "source: no table '%s'", rf->sp->source);
	free(rf->field_col);
	rf->field_col = calloc(lay->ncols + lay->nslices + 1, sizeof(long));
	if (!rf->field_col)
		mlfs_oom();
	rf->field_slice = rf->field_col + lay->ncols;
	for (size_t c = 0; c < lay->ncols; c++)
		rf->field_col[c] = field_of(names, n, lay->cols[c]);
	for (size_t j = 0; j < lay->nslices; j++)
		rf->field_slice[j] = field_of(names, n, lay->slices[j]);
	rf->field_key = field_of(names, n, rf->sp->labels_key);
	rf->field_ts = field_of(names, n, rf->sp->timestamp);
	rf->field_model = field_of(names, n, rf->sp->model_id ? rf->sp->model_id : "model_version");
	rf->field_pred = field_of(names, n, "prediction");
	rf->field_prob = field_of(names, n, "probability");
	if (rf->field_ts < 0)
		rc = mlfs_fail(err, -EINVAL, "timestamp: table '%s' has no column '%s'", rf->sp->source,
			       rf->sp->timestamp);
	free(names);
	free(types);
	return rc;
}

static bool field_time(const struct csv_field *f, int64_t *t)
{
	int64_t us;
	int32_t days;
	double secs;
	if (value_parse_timestamp(f->p, f->len, &us)) {
		*t = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
		return true;
	}
	if (value_parse_date(f->p, f->len, &days)) {
		*t = (int64_t)days * 86400;
		return true;
	}
	if (value_parse_float(f->p, f->len, &secs) && isfinite(secs)) {
		*t = (int64_t)floor(secs);
		return true;
	}
	return false;
}

static uint32_t field_str(struct wdata *w, const struct csv_field *f, size_t n, long at)
{
	if (at < 0 || (size_t)at >= n || !f[at].len)
		return UINT32_MAX;
	return wdata_str(w, f[at].p, f[at].len);
}

static int on_table_row(void *ctx, const struct csv_field *f, size_t n,
			uint64_t line, struct mlfs_err *err)
{
	struct refresh *rf = ctx;
	const struct mon_layout *lay = &rf->r.layout;
	int64_t t;
	if ((size_t)rf->field_ts >= n || !field_time(&f[rf->field_ts], &t)) {
		rf->rows_skipped++;
		return 0;
	}
	struct wdata *w = window_rows(rf, t);
	size_t i = wdata_add_row(w);
	w->version[i] = field_str(w, f, n, rf->field_model);
	for (size_t c = 0; c < lay->ncols; c++) {
		long at = rf->field_col[c];
		if (at >= 0 && (size_t)at < n)
			wcol_set_text(w, &w->cols[c], i, f[at].p, f[at].len);
	}
	for (size_t j = 0; j < lay->nslices; j++)
		w->slice[j][i] = field_str(w, f, n, rf->field_slice[j]);
	w->key[i] = field_str(w, f, n, rf->field_key);
	if (rf->field_pred >= 0 && (size_t)rf->field_pred < n)
		wcol_set_text(w, &w->pred, i, f[rf->field_pred].p, f[rf->field_pred].len);
	if (rf->field_prob >= 0 && (size_t)rf->field_prob < n) {
		double p;
		if (value_parse_float(f[rf->field_prob].p, f[rf->field_prob].len, &p))
			w->prob[i] = p;
	}
	rf->rows_in++;
	return 0;
}

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

static int on_baseline_row(void *ctx, const struct csv_field *f, size_t n,
			   uint64_t line, struct mlfs_err *err)
{
	struct builder_ctx *bc = ctx;
	builder_row(bc->b, f, n, bc->n);
	for (size_t j = 0; j < bc->nslices; j++) {
		long at = bc->slice_field[j];
		if (at < 0 || (size_t)at >= n || !f[at].len)
			continue;
		size_t k = strmap_intern(bc->values[j], f[at].p, f[at].len);
		if (k == bc->nper[j]) {
			bc->per[j] = realloc(bc->per[j], (k + 1) * sizeof(*bc->per[j]));
			if (!bc->per[j])
				mlfs_oom();
			bc->per[j][k] = builder_for(bc);
			bc->nper[j]++;
		}
		builder_row(bc->per[j][k], f, n, bc->n);
	}
	return 0;
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

static void cache_put(struct refresh *rf, struct store_batch *batch)
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

static int load_baseline(struct refresh *rf, uint64_t *version, struct mlfs_err *err)
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
		bc.b = builder_for(&bc);
		bc.slice_field = calloc(sp->nslices + 1, sizeof(long));
		bc.values = calloc(sp->nslices + 1, sizeof(*bc.values));
		bc.per = calloc(sp->nslices + 1, sizeof(*bc.per));
		bc.nper = calloc(sp->nslices + 1, sizeof(size_t));
		if (!bc.slice_field || !bc.values || !bc.per || !bc.nper)
			mlfs_oom();
		for (size_t j = 0; j < sp->nslices; j++) {
			bc.slice_field[j] = field_of(names, n, sp->slice_by[j]);
			bc.values[j] = strmap_new();
		}
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

static int load_labels(struct refresh *rf, uint64_t *version, struct mlfs_err *err)
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
	rf->field_key = field_of(names, n, sp->labels_key);
	rf->field_ts = field_of(names, n, sp->labels_label);
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

/* ---- the windows ---- */

/* Decode every stored block of window START of data id DID into a new
 * wdata, plus the pending rows ADD (may be NULL). */
static int load_window(struct refresh *rf, int64_t start, const struct wdata *add,
		       struct wdata **out)
{
	struct buf lo = { 0 }, hi = { 0 };
	const struct mon_layout *lay = &rf->r.layout;
	struct wdata *w = wdata_new(lay->ncols, lay->nslices);
	int rc = 0;
	/* after a replace the stored rows are of the table before it */
	if (!rf->dropped) {
		mon_key(&lo, 'w', rf->r.did);
		mon_key_time(&lo, start);
		mon_key(&hi, 'w', rf->r.did);
		mon_key_time(&hi, start + 1);
		struct store_iter *it = store_iter_new(rf->s, NULL, lo.data, lo.len, hi.data, hi.len);
		for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
			size_t vl;
			const char *v = store_iter_value(it, &vl);
			rc = wdata_decode_append(w, v, vl);
		}
		if (!rc)
			rc = store_iter_status(it, NULL);
		store_iter_free(it);
	}
	if (!rc && add)
		wdata_append(w, add);
	buf_free(&lo);
	buf_free(&hi);
	if (rc) {
		wdata_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* Window starts that have results now, ascending. */
static int stored_windows(struct refresh *rf, int64_t **out, size_t *n)
{
	struct buf lo = { 0 }, hi = { 0 };
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	mon_key(&lo, 'r', rf->r.did);
	mon_key(&hi, 'r', rf->r.did + 1);
	struct store_iter *it = store_iter_new(rf->s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl != lo.len + 8)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			if (!(*out = realloc(*out, cap * sizeof(int64_t))))
				mlfs_oom();
		}
		(*out)[(*n)++] = mon_key_get_time(k + lo.len);
	}
	int rc = store_iter_status(it, NULL);
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static const struct wdata *pending_of(const struct refresh *rf, int64_t start)
{
	for (size_t i = 0; i < rf->nwin; i++)
		if (rf->win[i].start == start)
			return rf->win[i].rows;
	return NULL;
}

static bool in_list(const int64_t *v, size_t n, int64_t x)
{
	return bsearch(&x, v, n, sizeof(*v), cmp_i64) != NULL;
}

/* The previous results' MEDIUM/HIGH lines of window START into OLD. */
static void old_levels(struct refresh *rf, int64_t start, struct buf *old)
{
	struct buf k = { 0 }, v = { 0 };
	buf_reset(old);
	mon_key(&k, 'r', rf->r.did);
	mon_key_time(&k, start);
	if (!store_get(rf->s, NULL, k.data, k.len, &v, NULL)) {
		struct dec *d = codec_dec_new(v.data, v.len);
		struct dval x;
		const char *p;
		size_t len;
		if (d && codec_dval_get(codec_dec_root(d), "lv", &x) && codec_dval_str(x, &p, &len))
			buf_append(old, p, len);
		codec_dec_free(d);
	}
	buf_reserve(old, 1);
	old->data[old->len] = '\0';
	buf_free(&k);
	buf_free(&v);
}

static int level_rank(const char *l)
{
	return !strncmp(l, "HIGH", 4) ? 2 : !strncmp(l, "MEDIUM", 6) ? 1 : 0;
}

/* Alert lines for every result of NEW ("KEY\tLEVEL\tVALUE" lines) that
 * is above its level in OLD. */
static void rising(struct refresh *rf, const char *when, const char *ws,
		   const struct buf *new, const struct buf *old, struct buf *alerts,
		   bool *high)
{
	for (const char *p = new->data; p && p < new->data + new->len;) {
		const char *nl = memchr(p, '\n', (size_t)(new->data + new->len - p));
		const char *t1 = memchr(p, '\t', (size_t)(nl - p)), *t2 = memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1));
		size_t kl = (size_t)(t1 - p);
		int was = 0;
		/* the same key in OLD */
		for (const char *q = old->data; q && *q;) {
			const char *qn = strchr(q, '\n');
			if (!qn)
				break;
			if ((size_t)(qn - q) > kl && !memcmp(q, p, kl) && q[kl] == '\t') {
				was = level_rank(q + kl + 1);
				break;
			}
			q = qn + 1;
		}
		int now = level_rank(t1 + 1);
		if (now > was) {
			/* KEY is slice_key,slice_value,model,version,column,metric */
			buf_printf(alerts, "%s,", when);
			csv_put_field(alerts, rf->name, strlen(rf->name));
			buf_printf(alerts, ",%s,", ws);
			buf_append(alerts, p, kl);
			buf_putc(alerts, ',');
			buf_append(alerts, t2 + 1, (size_t)(nl - t2 - 1));
			buf_putc(alerts, ',');
			buf_append(alerts, t1 + 1, (size_t)(t2 - t1 - 1));
			buf_putc(alerts, '\n');
			*high |= now == 2;
		}
		p = nl + 1;
	}
}

static void results_put(struct store_batch *b, struct refresh *rf, int64_t start,
			const struct buf *prof, const struct buf *drift,
			const struct buf *perf, const struct buf *levels)
{
	struct buf k = { 0 }, v = { 0 };
	mon_key(&k, 'r', rf->r.did);
	mon_key_time(&k, start);
	codec_enc_map(&v, 4);
	codec_enc_cstr(&v, "p");
	codec_enc_str(&v, prof->data ? prof->data : "", prof->len);
	codec_enc_cstr(&v, "d");
	codec_enc_str(&v, drift->data ? drift->data : "", drift->len);
	codec_enc_cstr(&v, "f");
	codec_enc_str(&v, perf->data ? perf->data : "", perf->len);
	codec_enc_cstr(&v, "lv");
	codec_enc_str(&v, levels->data ? levels->data : "", levels->len);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

struct outcome {
	size_t windows, computed, alerts;
	bool high;
};

/* Recompute the windows in TODO (sorted), with the rows pending, into B. */
static int compute(struct refresh *rf, const int64_t *todo, size_t ntodo,
		   const int64_t *all, size_t nall, struct store_batch *b,
		   struct buf *alerts, struct outcome *oc)
{
	struct buf prof = { 0 }, drift = { 0 }, perf = { 0 }, levels = { 0 }, old = { 0 };
	struct wsum *prev = NULL;
	struct wdata *cur = NULL;
	int64_t prev_start = 0;
	int rc = 0;
	int64_t g = rf->sp->granularity_s;
	for (size_t i = 0; !rc && i < ntodo; i++) {
		int64_t start = todo[i], before = start - g;
		if (!(prev && prev_start == before)) {
			/* the window before was not computed just now */
			wsum_free(prev);
			prev = NULL;
			if (in_list(all, nall, before)) {
				struct wdata *w = NULL;
				rc = load_window(rf, before, pending_of(rf, before), &w);
				if (!rc)
					prev = window_summarize(&rf->r.layout, &rf->base, w);
				wdata_free(w);
			}
		}
		if (!rc)
			rc = load_window(rf, start, pending_of(rf, start), &cur);
		if (rc)
			break;
		buf_reset(&prof);
		buf_reset(&drift);
		buf_reset(&perf);
		buf_reset(&levels);
		struct wsum *sum = window_compute(rf->sp, &rf->r.layout, &rf->base,
						  rf->have_labels ? &rf->lab : NULL, start, cur, prev,
						  &prof, &drift, &perf, &levels);
		wdata_free(cur);
		cur = NULL;
		old_levels(rf, start, &old);
		char ws[40];
		mon_fmt_time(ws, start);
		size_t before_len = alerts->len;
		rising(rf, rf->when, ws, &levels, &old, alerts, &oc->high);
		for (size_t k = before_len; k < alerts->len; k++)
			oc->alerts += alerts->data[k] == '\n';
		results_put(b, rf, start, &prof, &drift, &perf, &levels);
		oc->computed++;
		wsum_free(prev);
		prev = sum;
		prev_start = start;
	}
	wsum_free(prev);
	wdata_free(cur);
	buf_free(&prof);
	buf_free(&drift);
	buf_free(&perf);
	buf_free(&levels);
	buf_free(&old);
	return rc;
}

static void refresh_free(struct refresh *rf)
{
	monitor_spec_free(rf->sp);
	mon_record_free(&rf->r);
	profile_free(rf->base.prof);
	for (size_t i = 0; i < rf->base.nslices; i++) {
		free(rf->base.slices[i].key);
		free(rf->base.slices[i].value);
		profile_free(rf->base.slices[i].prof);
	}
	free(rf->base.slices);
	strmap_free(rf->lab.keys);
	strmap_free(rf->lab.texts);
	free(rf->lab.label);
	for (size_t i = 0; i < rf->nwin; i++)
		wdata_free(rf->win[i].rows);
	free(rf->win);
	free(rf->at_col);
	free(rf->field_col);
}

static void put_blocks(struct refresh *rf, struct store_batch *b)
{
	struct buf k = { 0 }, v = { 0 };
	for (size_t i = 0; i < rf->nwin; i++) {
		const struct wdata *w = rf->win[i].rows;
		for (size_t first = 0; first < w->n; first += WDATA_BLOCK_ROWS) {
			size_t n = w->n - first < WDATA_BLOCK_ROWS ? w->n - first : WDATA_BLOCK_ROWS;
			mon_key(&k, 'w', rf->r.did);
			mon_key_time(&k, rf->win[i].start);
			key_put_u64(&k, rf->r.block_seq++);
			buf_reset(&v);
			wdata_encode(w, first, n, &v);
			store_batch_put(b, k.data, k.len, v.data, v.len);
		}
	}
	buf_free(&k);
	buf_free(&v);
}

/* Drop every stored block and result (the table source was replaced). */
static void drop_windows(struct refresh *rf, struct store_batch *b)
{
	struct buf lo = { 0 }, hi = { 0 };
	for (const char *kind = "wr"; *kind; kind++) {
		mon_key(&lo, *kind, rf->r.did);
		mon_key(&hi, *kind, rf->r.did + 1);
		store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	}
	buf_free(&lo);
	buf_free(&hi);
}

static void report(struct refresh *rf, int rc, const struct mlfs_err *err,
		   const struct outcome *oc, int64_t t0_ns)
{
	struct buf *out = &rf->r.report;
	buf_reset(out);
	buf_printf(out, "status %s\ntime %s\nsource %s:%s\n", rc ? "failed" : "ok", rf->when,
		   rf->sp && rf->sp->source_kind == MONITOR_SOURCE_TABLE ? "table" : "endpoint",
		   rf->sp && rf->sp->source ? rf->sp->source : "");
	if (rc) {
		buf_printf(out, "error %s\n", err && err->msg[0] ? err->msg : "failed");
		return;
	}
	buf_printf(out, "baseline %s\nrows_in %" PRIu64 "\nrows_skipped %" PRIu64
		   "\nwindows %zu\nwindows_computed %zu\nalerts_new %zu\nduration_ms %.1f\n",
		   rf->base.tag[0] ? rf->base.tag : "none", rf->rows_in, rf->rows_skipped,
		   oc->windows, oc->computed, oc->alerts,
		   (double)(clock_mono_ns() - t0_ns) / 1e6);
}

static int run(struct refresh *rf, bool full, struct mlfs_err *err, struct outcome *oc)
{
	uint64_t base_version, labels_ver = 0;
	bool from_start = false;
	int64_t *all = NULL, *todo = NULL;
	size_t nall = 0, ntodo = 0;
	struct buf alerts = { 0 };
	struct store_batch *b = NULL;
	int rc = load_baseline(rf, &base_version, err);
	if (!rc && rf->sp->labels_table)
		rc = load_labels(rf, &labels_ver, err);
	if (rc)
		return rc;
	bool rebase = strcmp(rf->r.base_tag, rf->base.tag) != 0;
	bool relabel = rf->sp->labels_table && labels_ver != rf->r.labels_ver;
	decide_layout(rf, base_version, NULL);

	/* the new rows */
	if (rf->sp->source_kind == MONITOR_SOURCE_ENDPOINT) {
		rc = endpoint_log_scan(rf->s, rf->sp->source, &rf->r.log_seq, on_log_row, rf, err);
		if (rc == -ENOENT)
			rc = mlfs_fail(err, -EINVAL, "source: no endpoint '%s'", rf->sp->source);
	} else if (rf->r.layout.set && !(rc = table_fields(rf, err))) {
		rc = table_scan_since(rf->s, rf->sp->source, &rf->r.tcur, &from_start, on_table_row, rf, err);
		if (rc == -ENOENT)
			rc = mlfs_fail(err, -EINVAL, "source: no table '%s'", rf->sp->source);
	}
	if (!rc)
		rc = stored_windows(rf, &all, &nall);
	if (rc)
		goto out;
	b = store_batch_new();
	if (from_start && nall) {
		drop_windows(rf, b);
		rf->dropped = true;
		free(all);
		all = NULL;
		nall = 0;
	}
	/* every window there will be, and those to compute */
	if (!(all = realloc(all, (nall + rf->nwin + 1) * sizeof(int64_t))) ||
	    !(todo = malloc((2 * (nall + rf->nwin) + 1) * sizeof(int64_t))))
		mlfs_oom();
	for (size_t i = 0; i < rf->nwin; i++)
		if (rf->win[i].rows->n && !in_list(all, nall, rf->win[i].start)) {
			all[nall++] = rf->win[i].start;
			qsort(all, nall, sizeof(int64_t), cmp_i64);
		}
	bool everything = full || rebase || relabel || from_start;
	for (size_t i = 0; i < nall; i++) {
		const struct wdata *p = pending_of(rf, all[i]);
		bool got = p && p->n;
		bool after = i > 0 && all[i - 1] == all[i] - rf->sp->granularity_s &&
			     pending_of(rf, all[i - 1]) && pending_of(rf, all[i - 1])->n;
		if (everything || got || after)
			todo[ntodo++] = all[i];
	}
	oc->windows = nall;
	rc = compute(rf, todo, ntodo, all, nall, b, &alerts, oc);
	if (rc)
		goto out;
	put_blocks(rf, b);
	if (alerts.len) {
		struct buf k = { 0 }, v = { 0 };
		mon_key(&k, 'a', rf->r.did);
		key_put_u64(&k, rf->r.alert_seq++);
		codec_enc_map(&v, 3);
		codec_enc_cstr(&v, "t");
		codec_enc_i64(&v, rf->now_ms);
		codec_enc_cstr(&v, "high");
		codec_enc_bool(&v, oc->high);
		codec_enc_cstr(&v, "text");
		codec_enc_str(&v, alerts.data, alerts.len);
		store_batch_put(b, k.data, k.len, v.data, v.len);
		rf->r.high_batches += oc->high;
		buf_free(&k);
		buf_free(&v);
	}
	if (rf->base_built)
		cache_put(rf, b);
	snprintf(rf->r.base_tag, sizeof(rf->r.base_tag), "%s", rf->base.tag);
	rf->r.labels_ver = labels_ver;
out:
	if (!rc) {
		/* the record goes in the same batch (run's caller adds it) */
		rf->batch = b;
		b = NULL;
	}
	store_batch_free(b);
	buf_free(&alerts);
	free(all);
	free(todo);
	return rc;
}

int monitor_refresh(struct store *s, const char *name, bool full,
		    struct mlfs_err *err)
{
	struct refresh rf = { .s = s, .name = name };
	struct outcome oc = { 0 };
	struct mlfs_err e = { 0 };
	int64_t t0 = clock_mono_ns();
	rf.now_ms = clock_now_ms();
	mon_fmt_time_ms(rf.when, rf.now_ms);
	pthread_mutex_lock(mon_lock(s));
	int rc = mon_record_load(s, NULL, name, &rf.r);
	if (rc) {
		pthread_mutex_unlock(mon_lock(s));
		return mlfs_fail(err, rc, "no monitor '%s'", name);
	}
	if (!rf.r.spec.len)
		rc = mlfs_fail(&e, -ENODATA, "no monitor.yaml: write one first");
	else
		rc = monitor_spec_parse(s, rf.r.spec.data, rf.r.spec.len, &rf.sp, &e);
	if (!rc)
		rc = run(&rf, full, &e, &oc);
	/* success: the results and the moved record in one batch; failure:
	 * only the report, on the record as it was */
	if (rc) {
		struct mon_record kept;
		store_batch_free(rf.batch);
		rf.batch = store_batch_new();
		if (!mon_record_load(s, NULL, name, &kept)) {
			mon_record_free(&rf.r);
			rf.r = kept;
		}
	}
	report(&rf, rc, &e, &oc, t0);
	rf.r.last_ms = rf.now_ms;
	if (rf.sp)
		rf.r.gran_s = rf.sp->granularity_s;
	mon_record_put(rf.batch, name, &rf.r);
	int wrc = store_write(s, rf.batch, true, rc ? NULL : &e);
	store_batch_free(rf.batch);
	rf.batch = NULL;
	if (!rc)
		rc = wrc;
	pthread_mutex_unlock(mon_lock(s));
	if (rc && err)
		*err = e;
	refresh_free(&rf);
	return rc;
}
