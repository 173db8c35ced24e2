/* source.c - a refresh's new rows: the layout of the watched columns
 * (decided at the first refresh that can), then the endpoint's log after
 * the record's SEQ or the table after its cursor, each row placed in its
 * window.  No statistics here (window.c), no writing (refresh.c).
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
bool source_decide_layout(struct refresh *rf, uint64_t base_version,
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
	if (!lay->set && !source_decide_layout(rf, 0, row))
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

long mon_field(char **names, uint32_t n, const char *want)
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
		rf->field_col[c] = mon_field(names, n, lay->cols[c]);
	for (size_t j = 0; j < lay->nslices; j++)
		rf->field_slice[j] = mon_field(names, n, lay->slices[j]);
	rf->field_key = mon_field(names, n, rf->sp->labels_key);
	rf->field_ts = mon_field(names, n, rf->sp->timestamp);
	rf->field_model = mon_field(names, n, rf->sp->model_id ? rf->sp->model_id : "model_version");
	rf->field_pred = mon_field(names, n, "prediction");
	rf->field_prob = mon_field(names, n, "probability");
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


int source_read(struct refresh *rf, bool *from_start, struct mlfs_err *err)
{
	int rc = 0;
	*from_start = false;
	if (rf->sp->source_kind == MONITOR_SOURCE_ENDPOINT) {
		rc = endpoint_log_scan(rf->s, rf->sp->source, &rf->r.log_seq, on_log_row, rf, err);
		if (rc == -ENOENT)
			rc = mlfs_fail(err, -EINVAL, "source: no endpoint '%s'", rf->sp->source);
	} else if (rf->r.layout.set && !(rc = table_fields(rf, err))) {
		rc = table_scan_since(rf->s, rf->sp->source, &rf->r.tcur, from_start, on_table_row, rf, err);
		if (rc == -ENOENT)
			rc = mlfs_fail(err, -EINVAL, "source: no table '%s'", rf->sp->source);
	}
	return rc;
}
