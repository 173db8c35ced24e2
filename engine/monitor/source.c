/* source.c - a refresh's new rows: the layout of the watched columns
 * (decided at the first refresh that can), then the endpoint's log after
 * the record's SEQ or the table after its cursor, each row placed in its
 * window (a table read from its start through its columnar form when it
 * can).  No statistics here (window.c), no writing (refresh.c).
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

#include "columnar.h"
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

static int64_t micros_secs(int64_t us)
{
	return us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
}

static bool field_time(const char *p, size_t len, int64_t *t)
{
	int64_t us;
	int32_t days;
	double secs;
	if (value_parse_timestamp(p, len, &us)) {
		*t = micros_secs(us);
		return true;
	}
	if (value_parse_date(p, len, &days)) {
		*t = (int64_t)days * 86400;
		return true;
	}
	if (value_parse_float(p, len, &secs) && isfinite(secs)) {
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
	if ((size_t)rf->field_ts >= n || !field_time(f[rf->field_ts].p, f[rf->field_ts].len, &t)) {
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


/* ---- reading a table through its columnar form ----
 * A read from the start (the first refresh, a replaced or new table) of a
 * table of columnar_scan_min_bytes or more reads the form (columnar.h):
 * pool threads turn their chunk ranges into each row's time and each
 * watched field's number or text, then the rows go into their windows in
 * row order as on_table_row puts them, so windows, interned strings and
 * stored blocks are the same byte for byte.  A field is read from the form
 * only where the form gives what the text path reads: the exact text
 * (strings; ints and dates written canonically) or the number the text
 * parses to; else, below 1 MiB and for appended rows, the text is read. */

enum prep_kind { PREP_NONE, PREP_NUM, PREP_TEXT };

/* One scanned column of one chunk: numbers (NaN: null), or texts
 * BYTES[OFF[R] .. OFF[R + 1]) (empty: null). */
struct prep_col {
	double *num;
	uint32_t *off;
	struct buf bytes;
};

struct prep_chunk {
	size_t n;
	bool bad;		/* a value the text would read otherwise */
	int64_t *t;		/* the row's time (seconds) */
	uint8_t *has_t;		/* 0: no time, the row is skipped */
	struct prep_col *cols;	/* per scanned column */
};

struct form_scan {
	struct refresh *rf;
	uint32_t cols[TABLE_MAX_COLUMNS];	/* table columns scanned */
	enum prep_kind kind[TABLE_MAX_COLUMNS];	/* per scanned column */
	int pos[TABLE_MAX_COLUMNS];		/* table column -> scanned, -1 */
	size_t ncols;
};

/* The time of row R of V, as field_time reads the row's text. */
static bool vec_time(const struct col_vec *v, size_t r, int64_t *t)
{
	if (col_vec_null(v, r))
		return false;
	switch (v->type) {
	case COL_TIMESTAMP:
		*t = micros_secs(v->i[r]);
		return true;
	case COL_DATE:
		*t = v->i[r] * 86400;
		return true;
	case COL_INT:
		*t = (int64_t)floor((double)v->i[r]);
		return true;
	case COL_FLOAT:
		*t = (int64_t)floor(v->f[r]);
		return isfinite(v->f[r]);
	case COL_BOOL:
		return false;
	default:
		return field_time(v->bytes + v->off[r], v->off[r + 1] - v->off[r], t);
	}
}

static void prep_text(struct prep_col *pc, const struct col_vec *v)
{
	if (!(pc->off = malloc((v->n + 1) * sizeof(uint32_t))))
		mlfs_oom();
	if (v->off) {
		memcpy(pc->off, v->off, (v->n + 1) * sizeof(uint32_t));
		buf_append(&pc->bytes, v->bytes, v->off[v->n]);
		return;
	}
	char tmp[32];
	pc->off[0] = 0;
	for (size_t r = 0; r < v->n; r++) {	/* canonical ints and dates */
		if (!col_vec_null(v, r)) {
			if (v->type == COL_DATE)
				fmt_date(tmp, (int32_t)v->i[r]);
			else
				snprintf(tmp, sizeof(tmp), "%lld", (long long)v->i[r]);
			buf_puts(&pc->bytes, tmp);
		}
		pc->off[r + 1] = (uint32_t)pc->bytes.len;
	}
}

/* Column V as KIND into PC; false for a float the text reads as a text. */
static bool prep_column(struct prep_col *pc, enum prep_kind kind, const struct col_vec *v)
{
	if (kind == PREP_TEXT) {
		prep_text(pc, v);
		return true;
	}
	if (!(pc->num = malloc((v->n + 1) * sizeof(double))))
		mlfs_oom();
	bool ok = true;
	for (size_t r = 0; r < v->n; r++) {
		pc->num[r] = col_vec_null(v, r) ? NAN : v->f ? v->f[r] : (double)v->i[r];
		ok &= col_vec_null(v, r) || !v->f || isfinite(v->f[r]);
	}
	return ok;
}

static void prep_chunk_free(struct prep_chunk *pc, size_t ncols)
{
	for (size_t k = 0; k < ncols; k++) {
		free(pc->cols[k].num);
		free(pc->cols[k].off);
		buf_free(&pc->cols[k].bytes);
	}
	free(pc->cols);
	free(pc->t);
	free(pc->has_t);
	free(pc);
}

/* A chunk's rows prepared (on a pool thread). */
static void *prepare_chunk(void *ctx, uint64_t first, const struct col_vec *cols, size_t n)
{
	struct form_scan *fs = ctx;
	struct prep_chunk *pc = calloc(1, sizeof(*pc));
	if (!pc)
		mlfs_oom();
	(void)first;
	pc->n = n;
	pc->t = malloc((n + 1) * sizeof(int64_t));
	pc->has_t = malloc(n + 1);
	pc->cols = calloc(fs->ncols + 1, sizeof(*pc->cols));
	if (!pc->t || !pc->has_t || !pc->cols)
		mlfs_oom();
	const struct col_vec *tv = &cols[fs->pos[fs->rf->field_ts]];
	for (size_t r = 0; r < n; r++)
		pc->has_t[r] = vec_time(tv, r, &pc->t[r]);
	for (size_t k = 0; k < fs->ncols; k++)
		if (fs->kind[k] != PREP_NONE)
			pc->bad |= !prep_column(&pc->cols[k], fs->kind[k], &cols[k]);
	return pc;
}

/* The text of table column AT in row R of PC (a PREP_TEXT column). */
static bool prep_str(const struct form_scan *fs, const struct prep_chunk *pc, long at,
		     size_t r, const char **p, size_t *len)
{
	if (at < 0)
		return false;
	const struct prep_col *c = &pc->cols[fs->pos[at]];
	*p = c->bytes.data + c->off[r];
	*len = c->off[r + 1] - c->off[r];
	return *len > 0;
}

static uint32_t prep_intern(struct wdata *w, const struct form_scan *fs,
			    const struct prep_chunk *pc, long at, size_t r)
{
	const char *p;
	size_t len;
	return prep_str(fs, pc, at, r, &p, &len) ? wdata_str(w, p, len) : UINT32_MAX;
}

/* Cell I of C from table column AT, as wcol_set_text sets it. */
static void prep_set(struct wdata *w, struct wcol *c, size_t i, const struct form_scan *fs,
		     const struct prep_chunk *pc, long at, size_t r)
{
	const char *p = NULL;
	size_t len = 0;
	if (at < 0)
		return;
	if (fs->kind[fs->pos[at]] == PREP_NUM)
		wcol_set_num(c, i, pc->cols[fs->pos[at]].num[r]);
	else {
		prep_str(fs, pc, at, r, &p, &len);
		wcol_set_text(w, c, i, p, len);
	}
}

/* A prepared chunk's rows into their windows, in row order (on_table_row's
 * work); -EAGAIN for a value the form cannot give as the text. */
static int place_rows(void *ctx, void *made, bool skip)
{
	struct form_scan *fs = ctx;
	struct prep_chunk *pc = made;
	struct refresh *rf = fs->rf;
	const struct mon_layout *lay = &rf->r.layout;
	int rc = pc->bad ? -EAGAIN : 0;
	for (size_t r = 0; !skip && !rc && r < pc->n; r++) {
		if (!pc->has_t[r]) {
			rf->rows_skipped++;
			continue;
		}
		struct wdata *w = window_rows(rf, pc->t[r]);
		size_t i = wdata_add_row(w);
		w->version[i] = prep_intern(w, fs, pc, rf->field_model, r);
		for (size_t c = 0; c < lay->ncols; c++)
			prep_set(w, &w->cols[c], i, fs, pc, rf->field_col[c], r);
		for (size_t j = 0; j < lay->nslices; j++)
			w->slice[j][i] = prep_intern(w, fs, pc, rf->field_slice[j], r);
		w->key[i] = prep_intern(w, fs, pc, rf->field_key, r);
		prep_set(w, &w->pred, i, fs, pc, rf->field_pred, r);
		long at = rf->field_prob;
		const char *p;
		size_t len;
		double v;
		if (at >= 0 && fs->kind[fs->pos[at]] == PREP_NUM)
			w->prob[i] = pc->cols[fs->pos[at]].num[r];
		else if (prep_str(fs, pc, at, r, &p, &len) && value_parse_float(p, len, &v))
			w->prob[i] = v;
		rf->rows_in++;
	}
	prep_chunk_free(pc, fs->ncols);
	return rc;
}

enum field_role { ROLE_TIME, ROLE_TEXT, ROLE_VALUE, ROLE_PROB };

/* Scan table column AT of CF for ROLE; false when the form cannot give
 * what the text path reads there. */
static bool plan_field(struct form_scan *fs, const struct columnar *cf, long at,
		       enum field_role role)
{
	if (at < 0)
		return true;
	if (at >= (long)columnar_ncols(cf))
		return false;
	if (fs->pos[at] < 0) {
		fs->pos[at] = (int)fs->ncols;
		fs->kind[fs->ncols] = PREP_NONE;
		fs->cols[fs->ncols++] = (uint32_t)at;
	}
	enum col_type t = columnar_type(cf, (uint32_t)at);
	bool canon = (t == COL_INT || t == COL_DATE) && columnar_canonical(cf, (uint32_t)at);
	bool text = t == COL_STRING || t == COL_NULL || canon;
	bool num = t == COL_FLOAT || (t == COL_INT && canon) || (t == COL_BOOL && role == ROLE_VALUE);
	enum prep_kind *k = &fs->kind[fs->pos[at]];
	if (role == ROLE_TIME)
		return true;
	if (text && (role == ROLE_TEXT || !num))
		*k = PREP_TEXT;
	else if (num && *k != PREP_TEXT)
		*k = PREP_NUM;
	return text || num;
}

static bool plan_fields(struct form_scan *fs, const struct columnar *cf)
{
	const struct refresh *rf = fs->rf;
	bool ok = plan_field(fs, cf, rf->field_ts, ROLE_TIME) &&
		  plan_field(fs, cf, rf->field_model, ROLE_TEXT) &&
		  plan_field(fs, cf, rf->field_key, ROLE_TEXT) &&
		  plan_field(fs, cf, rf->field_pred, ROLE_VALUE) &&
		  plan_field(fs, cf, rf->field_prob, ROLE_PROB);
	for (size_t j = 0; ok && j < rf->r.layout.nslices; j++)
		ok = plan_field(fs, cf, rf->field_slice[j], ROLE_TEXT);
	for (size_t c = 0; ok && c < rf->r.layout.ncols; c++)
		ok = plan_field(fs, cf, rf->field_col[c], ROLE_VALUE);
	return ok && rf->field_ts >= 0;
}

/* Is the read due one from the start (see table_scan_since)? */
static bool read_from_start(struct refresh *rf)
{
	struct table_reader *r;
	struct table_cursor now;
	struct mlfs_err e;
	if (table_reader_open(rf->s, rf->sp->source, &r, &e))
		return false;
	table_reader_cursor(r, &now);
	table_reader_free(r);
	const struct table_cursor *cur = &rf->r.tcur;
	return !(cur->tid == now.tid && cur->first_seg == now.first_seg && cur->bytes <= now.bytes);
}

/* Drop the windows a pass cut short filled. */
static void drop_pending(struct refresh *rf, uint64_t rows_in, uint64_t rows_skipped)
{
	for (size_t i = 0; i < rf->nwin; i++)
		wdata_free(rf->win[i].rows);
	free(rf->win);
	rf->win = NULL;
	rf->nwin = rf->last = 0;
	rf->rows_in = rows_in;
	rf->rows_skipped = rows_skipped;
}

/* Read the table from the start through its form when that is the read
 * due and the form gives every field as the text would: *USED then, the
 * cursor at the form's end.  Else (and when the form fails or goes
 * meanwhile) nothing is read, for the text path. */
static void source_read_form(struct refresh *rf, bool *used)
{
	struct table_info ti;
	struct columnar *cf = NULL;
	struct mlfs_err e;
	*used = false;
	if (rf->nwin || table_stat(rf->s, rf->sp->source, &ti) ||
	    ti.data_bytes < columnar_scan_min_bytes || !read_from_start(rf) ||
	    columnar_open(rf->s, rf->sp->source, &cf, &e))
		return;
	struct form_scan *fs = calloc(1, sizeof(*fs));
	if (!fs)
		mlfs_oom();
	fs->rf = rf;
	for (size_t i = 0; i < TABLE_MAX_COLUMNS; i++)
		fs->pos[i] = -1;
	uint64_t rows_in = rf->rows_in, rows_skipped = rf->rows_skipped;
	if (plan_fields(fs, cf))
		*used = !columnar_scan_ordered(cf, fs->cols, fs->ncols, prepare_chunk, place_rows,
					       fs, &e);
	if (*used)
		columnar_cursor(cf, &rf->r.tcur);
	else
		drop_pending(rf, rows_in, rows_skipped);
	free(fs);
	columnar_free(cf);
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
		bool used = false;
		source_read_form(rf, &used);
		*from_start = used;
		if (!used)
			rc = table_scan_since(rf->s, rf->sp->source, &rf->r.tcur, from_start, on_table_row, rf, err);
		if (rc == -ENOENT)
			rc = mlfs_fail(err, -EINVAL, "source: no table '%s'", rf->sp->source);
	}
	return rc;
}
