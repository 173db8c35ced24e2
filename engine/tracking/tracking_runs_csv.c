/* tracking_runs_csv.c - runs.csv: one row per run of an experiment with
 * its status, times, params, tags and latest metrics, built from the
 * records and cached per store until the next change.  Writes nothing. */
#include "tracking.h"
#include "tracking_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "csv.h"

struct strset {
	char **v;
	size_t n, cap;
};

static int strset_find(const struct strset *ss, const char *p, size_t n,
		       bool *found)
{
	size_t lo = 0, hi = ss->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(ss->v[mid], p, n);
		if (c == 0 && ss->v[mid][n] != '\0')
			c = 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < ss->n && !strncmp(ss->v[lo], p, n) && ss->v[lo][n] == '\0';
	return (int)lo;
}

static int strset_add(struct strset *ss, const char *p, size_t n)
{
	bool found;
	size_t at = (size_t)strset_find(ss, p, n, &found);
	if (found)
		return 0;
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? 2 * ss->cap : 16;
		char **v = realloc(ss->v, ss->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ss->v = v;
	}
	memmove(ss->v + at + 1, ss->v + at, (ss->n - at) * sizeof(*ss->v));
	ss->v[at] = strndup(p, n);
	ss->n++;
	return ss->v[at] ? 0 : -ENOMEM;
}

static void strset_free(struct strset *ss)
{
	for (size_t i = 0; i < ss->n; i++)
		free(ss->v[i]);
	free(ss->v);
}

/* An iterator over x/KIND/EID/ that runs.csv walks run by run. */
struct item_iter {
	struct store_iter *it;
	struct buf lo, hi;
};

static void item_iter_open(struct item_iter *ii, struct store *s, char kind,
			   uint64_t eid)
{
	memset(ii, 0, sizeof(*ii));
	tracking_key_run(&ii->lo, kind, eid, NULL);
	tracking_key_run(&ii->hi, kind, eid, NULL);
	ii->hi.data[ii->hi.len - 1]++;
	ii->it = store_iter_new(s, NULL, ii->lo.data, ii->lo.len, ii->hi.data, ii->hi.len);
	store_iter_seek_first(ii->it);
}

static void item_iter_close(struct item_iter *ii)
{
	store_iter_free(ii->it);
	buf_free(&ii->lo);
	buf_free(&ii->hi);
}

/* Split the current key into run and item key; false at the end. */
static bool item_at(struct item_iter *ii, const char **run, size_t *rl,
		    const char **key, size_t *kl)
{
	if (!store_iter_valid(ii->it))
		return false;
	size_t len;
	const char *k = store_iter_key(ii->it, &len);
	const char *p = k + ii->lo.len;
	size_t n = len - ii->lo.len;
	const char *nul = memchr(p, '\0', n);
	if (!nul)
		return false;
	*run = p;
	*rl = (size_t)(nul - p);
	*key = nul + 1;
	*kl = n - *rl - 1;
	return true;
}

/* Whether the run P[0..N) is one of SHOWN (NULL: every run is). */
static bool shown_has(const struct strset *shown, const char *p, size_t n)
{
	bool found = true;
	if (shown)
		strset_find(shown, p, n, &found);
	return found;
}

static int collect_keys(struct item_iter *ii, const struct strset *shown,
			struct strset *ss)
{
	const char *run, *key;
	size_t rl, kl;
	int rc = 0;
	for (; !rc && item_at(ii, &run, &rl, &key, &kl); store_iter_next(ii->it))
		if (shown_has(shown, run, rl))
			rc = strset_add(ss, key, kl);
	store_iter_seek_first(ii->it);
	return rc;
}

/* Add every metric key of the x/L records of the runs SHOWN (NULL: all)
 * to SS. */
static int collect_latest_keys(struct store *s, uint64_t eid,
			       const struct strset *shown, struct strset *ss,
			       struct dec *dec)
{
	struct buf lo = { 0 }, hi = { 0 };
	int rc = 0;
	tracking_key_run(&lo, 'L', eid, NULL);
	tracking_key_run(&hi, 'L', eid, NULL);
	hi.data[hi.len - 1]++;
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vl;
		const char *k = store_iter_key(it, &klen);
		if (!shown_has(shown, k + lo.len, klen - lo.len))
			continue;
		const char *v = store_iter_value(it, &vl);
		if (!codec_dec_reset(dec, v, vl))
			continue;
		size_t n = codec_dval_len(codec_dec_root(dec));
		for (size_t i = 0; !rc && i < n; i++) {
			const char *kp;
			size_t kl;
			if (codec_dval_str(codec_dval_key_at(codec_dec_root(dec), i), &kp, &kl))
				rc = strset_add(ss, kp, kl);
		}
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

/* Fill CELLS (columns of SS) from RUN's x/L record, IT walking the
 * experiment's records in run order alongside the runs. */
static void take_latest(struct store_iter *it, size_t prefix, const char *run,
			const struct strset *ss, struct buf *cells, bool *has,
			struct dec *dec)
{
	size_t runl = strlen(run);
	while (store_iter_valid(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *r = k + prefix;
		size_t rl = kl - prefix;
		int c = memcmp(r, run, rl < runl ? rl : runl);
		if (c == 0)
			c = (rl > runl) - (rl < runl);
		if (c > 0)
			break;
		if (c == 0) {
			const char *v = store_iter_value(it, &vl);
			size_t n = codec_dec_reset(dec, v, vl) ? codec_dval_len(codec_dec_root(dec)) : 0;
			size_t guess = 0;
			for (size_t i = 0; i < n; i++) {
				const char *kp, *vp;
				size_t klen, vlen, col;
				bool found = true;
				if (!codec_dval_str(codec_dval_key_at(codec_dec_root(dec), i), &kp, &klen) ||
				    !codec_dval_str(codec_dval_val_at(codec_dec_root(dec), i), &vp, &vlen))
					continue;
				/* Keys are usually logged in column order: try the
				 * next column before searching. */
				if (guess < ss->n && !strncmp(ss->v[guess], kp, klen) &&
				    ss->v[guess][klen] == '\0')
					col = guess;
				else
					col = (size_t)strset_find(ss, kp, klen, &found);
				if (!found)
					continue;
				guess = col + 1;
				buf_reset(&cells[col]);
				buf_append(&cells[col], vp, vlen);
				has[col] = true;
			}
		}
		store_iter_next(it);
	}
}

struct cell {
	size_t col;
	struct buf text;
};

/* Advance II over RUN's params, filling CELLS (by column of SS). */
static void take_cells(struct item_iter *ii, const char *run,
		       const struct strset *ss, struct buf *cells, bool *has)
{
	const char *r, *key;
	size_t rl, kl;
	size_t runl = strlen(run);
	while (item_at(ii, &r, &rl, &key, &kl)) {
		int c = strncmp(r, run, rl < runl ? rl : runl);
		if (c == 0)
			c = (rl > runl) - (rl < runl);
		if (c > 0)
			break;
		if (c == 0) {
			bool found;
			size_t col = (size_t)strset_find(ss, key, kl, &found);
			size_t vl;
			const char *v = store_iter_value(ii->it, &vl);
			buf_reset(&cells[col]);
			buf_append(&cells[col], v, vl);
			has[col] = true;
		}
		store_iter_next(ii->it);
	}
}

/* The experiment's runs (SET), and those of them VISIBLE lets the reader
 * see (SHOWN; every run when VISIBLE is NULL). */
struct run_names {
	struct strset set, shown;
	bool (*visible)(void *ctx, const char *run);
	void *ctx;
};

static int add_run_name(void *ctx, const char *run)
{
	struct run_names *rn = ctx;
	int rc = strset_add(&rn->set, run, strlen(run));
	if (!rc && (!rn->visible || rn->visible(rn->ctx, run)))
		rc = strset_add(&rn->shown, run, strlen(run));
	return rc;
}

static int runs_csv_build(struct store *s, const char *exp,
			  bool (*visible)(void *ctx, const char *run),
			  void *vctx, struct buf *out, struct mlfs_err *err)
{
	uint64_t eid;
	struct strset params = { 0 }, metrics = { 0 };
	struct run_names runs = { .visible = visible, .ctx = vctx };
	struct item_iter ip;
	struct buf llo = { 0 }, lhi = { 0 };
	struct store_iter *il = NULL;
	struct dec *dec = codec_dec_new("\xc0", 1);	/* reused for every record */
	int rc = tracking_exp_id(s, exp, &eid);
	if (rc)
		return rc;
	if ((rc = tracking_run_list(s, exp, add_run_name, &runs)))
		return rc;
	item_iter_open(&ip, s, 'p', eid);
	tracking_key_run(&llo, 'L', eid, NULL);
	tracking_key_run(&lhi, 'L', eid, NULL);
	lhi.data[lhi.len - 1]++;
	il = store_iter_new(s, NULL, llo.data, llo.len, lhi.data, lhi.len);
	store_iter_seek_first(il);
	if (!dec) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = collect_keys(&ip, &runs.shown, &params)) ||
	    (rc = collect_latest_keys(s, eid, &runs.shown, &metrics, dec)))
		goto out;

	buf_reset(out);
	buf_puts(out, "run,status,start_time,end_time,duration_s,parent");
	for (size_t i = 0; i < params.n; i++) {
		buf_puts(out, ",params.");
		buf_puts(out, params.v[i]);
	}
	for (size_t i = 0; i < metrics.n; i++) {
		buf_puts(out, ",metrics.");
		buf_puts(out, metrics.v[i]);
	}
	buf_putc(out, '\n');

	struct buf *pc = calloc(params.n + 1, sizeof(*pc));
	struct buf *mc = calloc(metrics.n + 1, sizeof(*mc));
	bool *ph = calloc(params.n + 1, 1), *mh = calloc(metrics.n + 1, 1);
	if (!pc || !mc || !ph || !mh) {
		rc = -ENOMEM;
		goto cells;
	}
	for (size_t i = 0; i < runs.shown.n; i++) {
		const char *run = runs.shown.v[i];
		struct run_info r;
		char t[32];
		if (tracking_run_load(s, eid, run, &r))
			continue;
		csv_put_field(out, run, strlen(run));
		buf_putc(out, ',');
		buf_puts(out, run_status_name(r.status));
		buf_putc(out, ',');
		tracking_fmt_time(t, r.start_ms);
		buf_puts(out, t);
		buf_putc(out, ',');
		if (r.end_ms) {
			tracking_fmt_time(t, r.end_ms);
			buf_printf(out, "%s,%.3f", t, (double)(r.end_ms - r.start_ms) / 1000.0);
		} else {
			buf_putc(out, ',');
		}
		buf_putc(out, ',');
		if (r.parent[0]) {
			bool found;
			strset_find(&runs.set, r.parent, strlen(r.parent), &found);
			buf_puts(out, found ? r.parent : "(deleted)");
		}
		memset(ph, 0, params.n + 1);
		memset(mh, 0, metrics.n + 1);
		take_cells(&ip, run, &params, pc, ph);
		take_latest(il, llo.len, run, &metrics, mc, mh, dec);
		for (size_t c = 0; c < params.n; c++) {
			buf_putc(out, ',');
			if (ph[c])
				csv_put_field(out, pc[c].data, pc[c].len);
		}
		for (size_t c = 0; c < metrics.n; c++) {
			buf_putc(out, ',');
			if (mh[c])
				buf_append(out, mc[c].data, mc[c].len);
		}
		buf_putc(out, '\n');
	}
cells:
	for (size_t c = 0; pc && c < params.n; c++)
		buf_free(&pc[c]);
	for (size_t c = 0; mc && c < metrics.n; c++)
		buf_free(&mc[c]);
	free(pc);
	free(mc);
	free(ph);
	free(mh);
out:
	codec_dec_free(dec);
	item_iter_close(&ip);
	store_iter_free(il);
	buf_free(&llo);
	buf_free(&lhi);
	strset_free(&params);
	strset_free(&metrics);
	strset_free(&runs.set);
	strset_free(&runs.shown);
	return rc;
}

int tracking_runs_csv_visible(struct store *s, const char *exp,
			      bool (*visible)(void *ctx, const char *run),
			      void *ctx, struct buf *out, struct mlfs_err *err)
{
	return runs_csv_build(s, exp, visible, ctx, out, err);
}

/* One cached runs.csv per store: `cat` generates it at lookup and again
 * at open. */
int tracking_runs_csv(struct store *s, const char *exp, struct buf *out,
		      struct mlfs_err *err)
{
	struct tracking_state *t = tracking_state_get(s);
	uint64_t v = atomic_load(&t->version);
	pthread_mutex_lock(&t->cache_lock);
	if (t->cache_version == v && !strcmp(t->cache_exp, exp) && t->cache_text.data) {
		buf_reset(out);
		int rc = buf_append(out, t->cache_text.data, t->cache_text.len);
		pthread_mutex_unlock(&t->cache_lock);
		return rc;
	}
	pthread_mutex_unlock(&t->cache_lock);
	int rc = runs_csv_build(s, exp, NULL, NULL, out, err);
	if (rc)
		return rc;
	bool same = v == atomic_load(&t->version);
	pthread_mutex_lock(&t->cache_lock);
	if (same) {
		t->cache_version = v;
		snprintf(t->cache_exp, sizeof(t->cache_exp), "%s", exp);
		buf_reset(&t->cache_text);
		buf_append(&t->cache_text, out->data, out->len);
	}
	pthread_mutex_unlock(&t->cache_lock);
	return 0;
}
