/* refresh.c - a monitor's refresh: the new rows (source.c) go to their
 * windows as new blocks, and the windows that changed are recomputed
 * (window.c) - those that got rows, the window after each (consecutive
 * drift), and all of them when the baseline, the labels or the table's
 * rows (a replace) changed - with the alert lines that rose.
 * Everything is one batch: a crash leaves the previous refresh whole. */
#include "monitor_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "tracking.h"
#include "types.h"

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
	int rc = baseline_load(rf, &base_version, err);
	if (!rc && rf->sp->labels_table)
		rc = labels_load(rf, &labels_ver, err);
	if (rc)
		return rc;
	bool rebase = strcmp(rf->r.base_tag, rf->base.tag) != 0;
	bool relabel = rf->sp->labels_table && labels_ver != rf->r.labels_ver;
	source_decide_layout(rf, base_version, NULL);

	/* the new rows */
	rc = source_read(rf, &from_start, err);
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
		baseline_keep(rf, b);
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
	tracking_fmt_time(rf.when, rf.now_ms);
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
