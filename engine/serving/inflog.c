/* inflog.c - the inference log: a row per scored request row, queued in
 * memory on the request path, written by the serving thread at least
 * every second as e/l/ID SEQ records (SEQ: microseconds << 12 plus a
 * counter, so keys sort by time and a cut by age is one range), bounded
 * by each endpoint's retention, read back as log.csv. */
#include "serving_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "csv.h"
#include "forest/forest.h"
#include "types.h"

#define SEQ_SHIFT 12
#define LOG_FIELDS 9	/* a record's fields; its rows are the 9th */

void inflog_queue(struct store *s, uint64_t id, const struct log_group *g)
{
	struct serving *sv = serving_get(s);
	const struct served *m = g->m;
	const struct forest *f = m->forest;
	size_t nf = m->nfeatures, nout = served_nout(m);
	struct buf v = { 0 };
	char text[40];
	codec_enc_array(&v, LOG_FIELDS);
	codec_enc_i64(&v, g->time_us);
	codec_enc_cstr(&v, g->request_id);
	codec_enc_cstr(&v, m->model);
	codec_enc_u64(&v, m->version);
	codec_enc_u64(&v, g->role);
	codec_enc_u64(&v, g->latency_us);
	codec_enc_array(&v, (uint32_t)g->nkeys);
	for (size_t k = 0; k < g->nkeys; k++)
		codec_enc_cstr(&v, g->req->names[g->key_cols[k]]);
	codec_enc_array(&v, (uint32_t)nf);
	for (size_t j = 0; j < nf; j++)
		codec_enc_cstr(&v, forest_feature_name(f, j));
	codec_enc_array(&v, (uint32_t)g->n);
	for (size_t r = 0; r < g->n; r++) {
		size_t i = g->at[r];
		const double *x = g->features + i * nf, *p = g->proba + i * nout;
		codec_enc_array(&v, 5);
		codec_enc_cstr(&v, g->misses[i] ? "lookup_miss" : "ok");
		codec_enc_array(&v, (uint32_t)g->nkeys);
		for (size_t k = 0; k < g->nkeys; k++) {
			const char *cell = request_cell(g->req, g->rows[r], (size_t)g->key_cols[k]);
			if (cell)
				codec_enc_cstr(&v, cell);
			else
				codec_enc_nil(&v);
		}
		codec_enc_array(&v, (uint32_t)nf);
		for (size_t j = 0; j < nf; j++) {
			if (isnan(x[j]))
				codec_enc_nil(&v);
			else if (forest_feature_kind(f, j) == FRAME_CATEGORICAL)
				codec_enc_cstr(&v, forest_category_name(f, j, (size_t)x[j]));
			else if (forest_feature_type(f, j) == COL_INT && x[j] == (double)(int64_t)x[j])
				codec_enc_i64(&v, (int64_t)x[j]);
			else
				codec_enc_f64(&v, x[j]);
		}
		codec_enc_cstr(&v, served_label(m, p, text));
		if (served_is_classifier(m))
			codec_enc_f64(&v, nout == 2 ? p[1] : p[forest_argmax(p, nout)]);
		else
			codec_enc_nil(&v);
	}

	char head[12];
	memcpy(head, &id, 8);
	uint32_t len = (uint32_t)v.len;
	memcpy(head + 8, &len, 4);
	pthread_mutex_lock(&sv->lock);
	buf_append(&sv->queue, head, sizeof(head));
	buf_append(&sv->queue, v.data, v.len);
	sv->queued += g->n;
	pthread_mutex_unlock(&sv->lock);
	buf_free(&v);
}

/* The rows of a log record (its array of rows' length), 0 when it is not
 * one. */
static uint64_t record_rows(struct dec **d, const char *p, size_t len)
{
	if (*d ? !codec_dec_reset(*d, p, len) : !(*d = codec_dec_new(p, len)))
		return 0;
	struct dval r = codec_dec_root(*d);
	return codec_dval_len(r) == LOG_FIELDS ? codec_dval_len(codec_dval_at(r, 8)) : 0;
}

/* ---- retention ---- */

static void log_bounds(uint64_t id, struct buf *lo, struct buf *hi)
{
	ep_key(lo, 'l', id);
	ep_key(hi, 'l', id + 1);
}

/* Delete EP's rows older than its retention_days and past its
 * retention_rows newest. */
static int retain(struct store *s, struct ep_live *ep, uint64_t added,
		  struct mlfs_err *err)
{
	struct buf lo = { 0 }, hi = { 0 }, cut = { 0 };
	struct dec *d = NULL;
	pthread_mutex_lock(&ep->lock);
	uint64_t keep_rows = ep->cfg.log_retention_rows;
	uint64_t days = ep->cfg.log_retention_days;
	pthread_mutex_unlock(&ep->lock);
	log_bounds(ep->id, &lo, &hi);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	if (ep->log_rows < 0) {
		ep->log_rows = 0;
		for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
			size_t vl;
			const char *v = store_iter_value(it, &vl);
			ep->log_rows += (int64_t)record_rows(&d, v, vl);
		}
	} else {
		ep->log_rows += (int64_t)added;
	}
	int64_t cutoff = clock_now_ns() / 1000 - (int64_t)days * 86400 * 1000000;
	uint64_t cut_seq = cutoff > 0 ? (uint64_t)cutoff << SEQ_SHIFT : 0;
	uint64_t drop = ep->log_rows > (int64_t)keep_rows ? (uint64_t)ep->log_rows - keep_rows : 0;
	uint64_t dropped = 0, records = 0;
	/* whole records, oldest first, until enough rows are gone and the
	 * rest are young enough */
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it), records++) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl), *v = store_iter_value(it, &vl);
		if (dropped >= drop && (kl != lo.len + 8 || key_get_u64(k + lo.len) >= cut_seq))
			break;
		dropped += record_rows(&d, v, vl);
	}
	int rc = 0;
	if (records) {
		size_t kl = 0;
		const char *k = store_iter_valid(it) ? store_iter_key(it, &kl) : NULL;
		buf_append(&cut, k ? k : hi.data, k ? kl : hi.len);
		struct store_batch *b = store_batch_new();
		store_batch_delete_range(b, lo.data, lo.len, cut.data, cut.len);
		rc = store_write(s, b, false, err);
		store_batch_free(b);
		if (!rc) {
			ep->log_rows -= (int64_t)dropped;
			pthread_mutex_lock(&ep->lock);
			ep->log_gen++;
			pthread_mutex_unlock(&ep->lock);
		}
	}
	codec_dec_free(d);
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&cut);
	return rc;
}

int inflog_flush(struct store *s, struct serving *sv, struct mlfs_err *err)
{
	struct buf q = { 0 }, k = { 0 };
	pthread_mutex_lock(&sv->flush_lock);
	pthread_mutex_lock(&sv->lock);
	q = sv->queue;
	sv->queue = (struct buf){ 0 };
	sv->queued = 0;
	pthread_mutex_unlock(&sv->lock);
	/* rows of an endpoint deleted since they were queued are dropped */
	uint64_t *gone = NULL;
	size_t ngone = 0;
	pthread_mutex_lock(&sv->lock);
	for (struct ep_live *ep = sv->eps; ep; ep = ep->next)
		if (ep->gone) {
			if (!(gone = realloc(gone, (ngone + 1) * sizeof(*gone))))
				mlfs_oom();
			gone[ngone++] = ep->id;
		}
	pthread_mutex_unlock(&sv->lock);
	int rc = 0;
	if (q.len) {
		struct store_batch *b = store_batch_new();
		uint64_t seq = (uint64_t)(clock_now_ns() / 1000) << SEQ_SHIFT;
		if (seq <= sv->log_seq)
			seq = sv->log_seq + 1;
		for (size_t at = 0; at + 12 <= q.len;) {
			uint64_t id;
			uint32_t len;
			memcpy(&id, q.data + at, 8);
			memcpy(&len, q.data + at + 8, 4);
			bool dropped = false;
			for (size_t g = 0; g < ngone; g++)
				dropped |= gone[g] == id;
			ep_key(&k, 'l', id);
			key_put_u64(&k, seq++);
			if (!dropped)
				store_batch_put(b, k.data, k.len, q.data + at + 12, len);
			at += 12 + len;
		}
		sv->log_seq = seq;
		rc = store_write(s, b, false, err);
		store_batch_free(b);
	}
	/* retention of every endpoint that logged (or may hold old rows);
	 * the list only grows at its head */
	struct dec *d = NULL;
	pthread_mutex_lock(&sv->lock);
	struct ep_live *eps = sv->eps;
	pthread_mutex_unlock(&sv->lock);
	for (struct ep_live *ep = eps; !rc && ep; ep = ep->next) {
		if (ep->gone)
			continue;
		uint64_t added = 0;
		for (size_t at = 0; at + 12 <= q.len;) {
			uint64_t id;
			uint32_t len;
			memcpy(&id, q.data + at, 8);
			memcpy(&len, q.data + at + 8, 4);
			if (id == ep->id)
				added += record_rows(&d, q.data + at + 12, len);
			at += 12 + len;
		}
		if (added || ep->log_rows < 0)
			rc = retain(s, ep, added, err);
		if (added) {
			pthread_mutex_lock(&ep->lock);
			ep->log_gen++;
			pthread_mutex_unlock(&ep->lock);
		}
	}
	pthread_mutex_unlock(&sv->flush_lock);
	codec_dec_free(d);
	free(gone);
	buf_free(&q);
	buf_free(&k);
	return rc;
}

/* ---- log.csv ---- */

struct names {
	char **v;
	size_t n;
};

static void names_add(struct names *ns, const char *p, size_t len)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strlen(ns->v[i]) == len && !memcmp(ns->v[i], p, len))
			return;
	ns->v = realloc(ns->v, (ns->n + 1) * sizeof(char *));
	char *d = malloc(len + 1);
	if (!ns->v || !d)
		mlfs_oom();
	memcpy(d, p, len);
	d[len] = '\0';
	ns->v[ns->n++] = d;
}

static long names_find(const struct names *ns, const char *p, size_t len)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strlen(ns->v[i]) == len && !memcmp(ns->v[i], p, len))
			return (long)i;
	return -1;
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

/* Add the names in list L (an array of strings) to NS, but those in
 * SKIP. */
static void collect(struct dval l, struct names *ns, const struct names *skip)
{
	for (size_t i = 0; i < codec_dval_len(l); i++) {
		const char *p;
		size_t len;
		if (codec_dval_str(codec_dval_at(l, i), &p, &len) &&
		    (!skip || names_find(skip, p, len) < 0))
			names_add(ns, p, len);
	}
}

static void put_value(struct buf *out, struct dval v)
{
	const char *p;
	size_t len;
	double d;
	int64_t i;
	if (codec_dval_str(v, &p, &len))
		csv_put_field(out, p, len);
	else if (codec_dval_i64(v, &i))
		buf_put_int(out, i);
	else if (codec_dval_f64(v, &d))
		buf_put_double(out, d);
}

static void put_str(struct buf *out, struct dval v)
{
	const char *p;
	size_t len;
	if (codec_dval_str(v, &p, &len))
		csv_put_field(out, p, len);
}

/* For each name of list L, its column in NS (-1: none). */
static void map_columns(struct dval l, const struct names *ns, long *col)
{
	for (size_t i = 0; i < codec_dval_len(l); i++) {
		const char *p;
		size_t len;
		col[i] = codec_dval_str(codec_dval_at(l, i), &p, &len) ? names_find(ns, p, len) : -1;
	}
}

/* VALUES (a row's list) in the columns NS by COL, each followed by ','. */
static void put_columns(struct buf *out, struct dval values, const long *col,
			const struct names *ns, struct dval *cells)
{
	for (size_t i = 0; i < ns->n; i++)
		cells[i] = (struct dval){ 0 };
	for (size_t i = 0; i < codec_dval_len(values); i++)
		if (col[i] >= 0)
			cells[col[i]] = codec_dval_at(values, i);
	for (size_t i = 0; i < ns->n; i++) {
		if (cells[i].o)
			put_value(out, cells[i]);
		buf_putc(out, ',');
	}
}

/* Every row of record R as log.csv lines. */
static void put_record(struct buf *out, const char *endpoint, struct dval r,
		       const struct names *keys, const struct names *feats,
		       struct dval *cells)
{
	int64_t t = 0;
	uint64_t version = 0, role = 0, latency = 0;
	char when[40];
	struct dval kn = codec_dval_at(r, 6), fn = codec_dval_at(r, 7), rows = codec_dval_at(r, 8);
	long *kcol = calloc(codec_dval_len(kn) + 1, sizeof(long));
	long *fcol = calloc(codec_dval_len(fn) + 1, sizeof(long));
	if (!kcol || !fcol)
		mlfs_oom();
	map_columns(kn, keys, kcol);
	map_columns(fn, feats, fcol);
	codec_dval_i64(codec_dval_at(r, 0), &t);
	codec_dval_u64(codec_dval_at(r, 3), &version);
	codec_dval_u64(codec_dval_at(r, 4), &role);
	codec_dval_u64(codec_dval_at(r, 5), &latency);
	fmt_timestamp(when, t);
	for (size_t i = 0; i < codec_dval_len(rows); i++) {
		struct dval row = codec_dval_at(rows, i);
		buf_puts(out, when);
		buf_putc(out, ',');
		put_str(out, codec_dval_at(r, 1));
		buf_putc(out, ',');
		csv_put_field(out, endpoint, strlen(endpoint));
		buf_putc(out, ',');
		put_str(out, codec_dval_at(r, 2));
		buf_printf(out, ",%" PRIu64 ",%s,%" PRIu64 ",", version,
			   role == ROLE_SHADOW ? "shadow" : "served", latency);
		put_str(out, codec_dval_at(row, 0));
		buf_putc(out, ',');
		put_columns(out, codec_dval_at(row, 1), kcol, keys, cells);
		put_columns(out, codec_dval_at(row, 2), fcol, feats, cells);
		put_str(out, codec_dval_at(row, 3));
		buf_putc(out, ',');
		put_value(out, codec_dval_at(row, 4));
		buf_putc(out, '\n');
	}
	free(kcol);
	free(fcol);
}

int inflog_csv(struct store *s, uint64_t id, const char *name,
	       struct buf *out, struct mlfs_err *err)
{
	struct buf lo = { 0 }, hi = { 0 };
	struct names keys = { 0 }, feats = { 0 };
	struct store_snapshot *snap = store_snapshot_new(s);
	log_bounds(id, &lo, &hi);
	struct store_iter *it = store_iter_new(s, snap, lo.data, lo.len, hi.data, hi.len);
	struct dec *d = NULL;
	for (int pass = 0; pass < 2; pass++) {
		struct dval *cells = NULL;
		if (pass) {
			buf_puts(out, "timestamp,request_id,endpoint,model,version,role,latency_us,status,");
			for (size_t i = 0; i < keys.n; i++) {
				csv_put_field(out, keys.v[i], strlen(keys.v[i]));
				buf_putc(out, ',');
			}
			for (size_t i = 0; i < feats.n; i++) {
				csv_put_field(out, feats.v[i], strlen(feats.v[i]));
				buf_putc(out, ',');
			}
			buf_puts(out, "prediction,probability\n");
			cells = calloc(keys.n + feats.n + 1, sizeof(*cells));
			if (!cells)
				mlfs_oom();
		}
		for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
			size_t vl;
			const char *v = store_iter_value(it, &vl);
			if (!record_rows(&d, v, vl))
				continue;
			struct dval r = codec_dec_root(d);
			if (!pass) {
				collect(codec_dval_at(r, 6), &keys, NULL);
				collect(codec_dval_at(r, 7), &feats, &keys);
			} else {
				put_record(out, name, r, &keys, &feats, cells);
			}
		}
		free(cells);
	}
	int rc = store_iter_status(it, err);
	codec_dec_free(d);
	store_iter_free(it);
	store_snapshot_free(s, snap);
	names_free(&keys);
	names_free(&feats);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

/* ---- rows, for the monitors ---- */

static void to_cell(struct dval v, struct endpoint_cell *c)
{
	int64_t i;
	*c = (struct endpoint_cell){ ENDPOINT_CELL_NULL, NAN, NULL, 0 };
	if (codec_dval_str(v, &c->str, &c->len))
		c->kind = ENDPOINT_CELL_STR;
	else if (codec_dval_i64(v, &i))
		c->kind = ENDPOINT_CELL_NUM, c->num = (double)i;
	else if (codec_dval_f64(v, &c->num))
		c->kind = ENDPOINT_CELL_NUM;
}

/* The cells of list L into the first N of CELLS (grown as needed). */
static struct endpoint_cell *list_cells(struct dval l, struct endpoint_cell *cells,
					size_t *cap, size_t *n)
{
	*n = codec_dval_len(l);
	if (*n > *cap) {
		*cap = *n;
		if (!(cells = realloc(cells, *cap * sizeof(*cells))))
			mlfs_oom();
	}
	for (size_t i = 0; i < *n; i++)
		to_cell(codec_dval_at(l, i), &cells[i]);
	return cells;
}

/* FN for every row of decoded record R. */
static int scan_record(struct dval r, uint64_t seq, char *model, size_t model_cap,
		       struct endpoint_cell **cells, size_t *caps,
		       int (*fn)(void *ctx, const struct endpoint_log_row *row),
		       void *ctx)
{
	struct endpoint_log_row row = { .record = seq };
	uint64_t role = 0;
	const char *p;
	size_t len, nrows;
	struct dval rows = codec_dval_at(r, 8);
	codec_dval_i64(codec_dval_at(r, 0), &row.time_us);
	model[0] = '\0';
	if (codec_dval_str(codec_dval_at(r, 2), &p, &len) && len < model_cap) {
		memcpy(model, p, len);
		model[len] = '\0';
	}
	row.model = model;
	codec_dval_u64(codec_dval_at(r, 3), &row.version);
	codec_dval_u64(codec_dval_at(r, 4), &role);
	row.shadow = role == ROLE_SHADOW;
	cells[0] = list_cells(codec_dval_at(r, 6), cells[0], &caps[0], &row.nkeys);
	cells[1] = list_cells(codec_dval_at(r, 7), cells[1], &caps[1], &row.nfeatures);
	row.key_names = cells[0];
	row.feature_names = cells[1];
	nrows = codec_dval_len(rows);
	for (size_t i = 0; i < nrows; i++) {
		struct dval one = codec_dval_at(rows, i);
		size_t nk, nf;
		row.lookup_miss = codec_dval_str(codec_dval_at(one, 0), &p, &len) &&
				  len == 11 && !memcmp(p, "lookup_miss", 11);
		cells[2] = list_cells(codec_dval_at(one, 1), cells[2], &caps[2], &nk);
		cells[3] = list_cells(codec_dval_at(one, 2), cells[3], &caps[3], &nf);
		if (nk != row.nkeys || nf != row.nfeatures)
			continue;	/* not a row of this record's shape */
		row.keys = cells[2];
		row.features = cells[3];
		to_cell(codec_dval_at(one, 3), &row.prediction);
		if (!codec_dval_f64(codec_dval_at(one, 4), &row.probability))
			row.probability = NAN;
		int rc = fn(ctx, &row);
		if (rc)
			return rc;
	}
	return 0;
}

int inflog_scan(struct store *s, uint64_t id, uint64_t *seq,
		int (*fn)(void *ctx, const struct endpoint_log_row *row),
		void *ctx, struct mlfs_err *err)
{
	struct buf lo = { 0 }, hi = { 0 };
	struct endpoint_cell *cells[4] = { 0 };
	size_t caps[4] = { 0 };
	char model[256];
	struct dec *d = NULL;
	int rc = 0;
	log_bounds(id, &lo, &hi);
	if (*seq) {
		buf_reset(&lo);
		ep_key(&lo, 'l', id);
		key_put_u64(&lo, *seq + 1);
	}
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl), *v = store_iter_value(it, &vl);
		if (kl >= 8)
			*seq = key_get_u64(k + kl - 8);
		if (record_rows(&d, v, vl))
			rc = scan_record(codec_dec_root(d), *seq, model, sizeof(model), cells, caps, fn, ctx);
	}
	if (!rc)
		rc = store_iter_status(it, err);
	codec_dec_free(d);
	store_iter_free(it);
	for (int i = 0; i < 4; i++)
		free(cells[i]);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int inflog_names(struct store *s, uint64_t id, struct buf *out)
{
	struct buf lo = { 0 }, hi = { 0 };
	struct dec *d = NULL;
	int rc = -ENODATA;
	log_bounds(id, &lo, &hi);
	buf_reset(out);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	store_iter_seek_last(it);
	if (store_iter_valid(it)) {
		size_t vl;
		const char *v = store_iter_value(it, &vl);
		if (record_rows(&d, v, vl)) {
			struct dval r = codec_dec_root(d);
			for (int l = 6; l <= 7; l++)
				for (size_t i = 0; i < codec_dval_len(codec_dval_at(r, l)); i++) {
					const char *p;
					size_t len;
					if (codec_dval_str(codec_dval_at(codec_dval_at(r, l), i), &p, &len)) {
						buf_append(out, p, len);
						buf_putc(out, '\0');
					}
				}
			rc = 0;
		}
	}
	codec_dec_free(d);
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}
