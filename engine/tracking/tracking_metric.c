/* tracking_metric.c - a run's metric series: points parsed from lines
 * and logged in blocks (x/m) with a summary each (x/l) and the run's
 * latest values (x/L), all in one batch; the series read back as text.
 * Not runs.csv (tracking_runs_csv.c), which reads x/L. */
#include "tracking.h"
#include "tracking_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "table.h"
#include "types.h"

struct point {
	int64_t ts;
	double value;
	int64_t step;
};

struct summary {
	struct point latest;
	uint64_t n, bytes;
	int64_t mtime;
};

/* Split LINE into at most 3 space/tab separated tokens. */
static int tokens(const char *p, size_t len, const char *tok[3], size_t tl[3])
{
	int n = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (n == 3)
			return 4;
		size_t start = i;
		while (i < len && p[i] != ' ' && p[i] != '\t')
			i++;
		tok[n] = p + start;
		tl[n++] = i - start;
	}
	return n;
}

static int parse_point(const char *p, size_t len, unsigned line,
		       int64_t now_ms, struct point *pt, struct mlfs_err *err)
{
	const char *tok[3];
	size_t tl[3];
	int n = tokens(p, len, tok, tl);
	int vi = n == 3 ? 1 : 0;

	pt->ts = now_ms;
	pt->step = 0;
	if (n < 1 || n > 3)
		return mlfs_fail(err, -EINVAL, "line %u: expected VALUE, VALUE STEP or TIMESTAMP_MS VALUE STEP", line);
	if (!value_parse_float(tok[vi], tl[vi], &pt->value))
		return mlfs_fail(err, -EINVAL, "line %u: '%.*s' is not a number", line,
				 (int)(tl[vi] > 64 ? 64 : tl[vi]), tok[vi]);
	/* NaN and +-inf written as such are values (MLflow logs them); a
	 * finite number too large for a double is not silently inf. */
	if (isinf(pt->value) && value_infer(tok[vi], tl[vi]) != COL_STRING)
		return mlfs_fail(err, -EINVAL, "line %u: '%.*s' is beyond the range of a double (+-1.8e308)",
				 line, (int)(tl[vi] > 64 ? 64 : tl[vi]), tok[vi]);
	if (n >= 2 && !value_parse_int(tok[n - 1], tl[n - 1], &pt->step))
		return mlfs_fail(err, -EINVAL, "line %u: step '%.*s' is not an integer", line,
				 (int)(tl[n - 1] > 64 ? 64 : tl[n - 1]), tok[n - 1]);
	if (n == 3 && (!value_parse_int(tok[0], tl[0], &pt->ts) || pt->ts < 0))
		return mlfs_fail(err, -EINVAL, "line %u: timestamp '%.*s' is not a non-negative integer (ms)",
				 line, (int)(tl[0] > 64 ? 64 : tl[0]), tok[0]);
	return 0;
}

/* Call FN for each non-blank line's point.  0 or the first error. */
static int each_point(const char *text, size_t len, int64_t now_ms,
		      int (*fn)(void *ctx, const struct point *pt), void *ctx,
		      struct mlfs_err *err)
{
	size_t pos = 0;
	unsigned line = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t l = end - pos;
		line++;
		if (l && text[pos + l - 1] == '\r')
			l--;
		struct point pt;
		bool blank = true;
		for (size_t i = 0; i < l && blank; i++)
			blank = text[pos + i] == ' ' || text[pos + i] == '\t';
		if (!blank) {
			int rc = parse_point(text + pos, l, line, now_ms, &pt, err);
			if (!rc && fn)
				rc = fn(ctx, &pt);
			if (rc)
				return rc;
		}
		pos = end + 1;
	}
	return 0;
}

int tracking_metric_check(const char *text, size_t len, struct mlfs_err *err)
{
	return each_point(text, len, 0, NULL, NULL, err);
}

static size_t point_text(char *out, size_t n, const struct point *pt)
{
	char v[40];
	buf_fmt_double(v, pt->value);
	return (size_t)snprintf(out, n, "%" PRId64 " %s %" PRId64 "\n", pt->ts, v, pt->step);
}

/* x/l: the summary; its "vt", the latest value's text, is written
 * beside these for runs.csv and not read back. */
#define F(key, m, t, d) CODEC_FIELD(key, struct summary, m, CODEC_##t, d)
static const struct codec_field summary_fields[] = {
	F("ts", latest.ts, INT, 0), F("v", latest.value, F64, 0),
	F("step", latest.step, INT, 0), F("n", n, UINT, 0),
	F("bytes", bytes, UINT, 0), F("mtime", mtime, INT, 0),
};
#undef F

static int summary_load(struct store *s, const struct store_snapshot *snap,
			const struct buf *k, struct summary *sm)
{
	memset(sm, 0, sizeof(*sm));
	return codec_load_fields(s, snap, k, sm, summary_fields, 6);
}

struct log_ctx {
	struct summary sm;
	struct buf block;	/* the formatted lines of this write */
};

static int log_point(void *ctx, const struct point *pt)
{
	struct log_ctx *lc = ctx;
	char line[96];
	struct point *l = &lc->sm.latest;
	if (lc->sm.n == 0 || pt->step > l->step || (pt->step == l->step && pt->ts >= l->ts))
		*l = *pt;
	lc->sm.n++;
	size_t n = point_text(line, sizeof(line), pt);
	lc->sm.bytes += n;
	return buf_append(&lc->block, line, n);
}

/* *V: the run's x/L record OLD (len 0: none yet) with KEY's latest
 * value text set to VT.  0 or -EIO (OLD undecodable). */
static int latest_row(const struct buf *old, const char *key, const char *vt,
		      size_t vtl, struct buf *v)
{
	struct dec *d = NULL;
	size_t n = 0, keyl = strlen(key);
	bool have = false;
	int rc = 0;
	if (old->len) {
		d = codec_dec_new(old->data, old->len);
		if (!d)
			return -EIO;
		n = codec_dval_len(codec_dec_root(d));
	}
	for (size_t i = 0; i < n; i++) {
		const char *kp;
		size_t kl;
		if (codec_dval_str(codec_dval_key_at(codec_dec_root(d), i), &kp, &kl) &&
		    kl == keyl && !memcmp(kp, key, kl))
			have = true;
	}
	buf_reset(v);
	codec_enc_map(v, (uint32_t)(n + !have));
	for (size_t i = 0; i < n && !rc; i++) {
		const char *kp, *vp;
		size_t kl, vl;
		if (!codec_dval_str(codec_dval_key_at(codec_dec_root(d), i), &kp, &kl) ||
		    !codec_dval_str(codec_dval_val_at(codec_dec_root(d), i), &vp, &vl)) {
			rc = -EIO;
			break;
		}
		codec_enc_str(v, kp, kl);
		if (kl == keyl && !memcmp(kp, key, kl))
			codec_enc_str(v, vt, vtl);
		else
			codec_enc_str(v, vp, vl);
	}
	if (!have) {
		codec_enc_cstr(v, key);
		codec_enc_str(v, vt, vtl);
	}
	codec_dec_free(d);
	return rc;
}

/* What logging a point of one metric reads before it writes: the
 * experiment's id, the summary and the run's x/L record (the run itself
 * only needs to exist). */
struct log_base {
	uint64_t eid;
	struct summary sm;
	struct buf latest;	/* x/L as stored; len 0: none */
};

/* What the next point of the metric last logged in a store would read,
 * kept from that point's write while the tracking version has not moved
 * since: every change of an experiment or a run moves it (a drop, a run
 * made again, another point of the run, a status), and then the next
 * point reads the store again.  Its write held the run's lock, so the
 * version read after it covers the run as written.  Not on a remote
 * store, where other hosts' batches do not move the version. */
struct tracking_memo {
	uint64_t version;	/* 0: nothing kept */
	struct buf exp, run, key;
	struct log_base base;
};

void tracking_memo_free(struct tracking_memo *m)
{
	if (!m)
		return;
	buf_free(&m->exp);
	buf_free(&m->run);
	buf_free(&m->key);
	buf_free(&m->base.latest);
	free(m);
}

static bool same_name(const struct buf *b, const char *s)
{
	size_t l = strlen(s);
	return b->len == l && !memcmp(b->data, s, l);
}

static void set_name(struct buf *b, const char *s)
{
	buf_reset(b);
	buf_append(b, s, strlen(s));
}

/* *B from the memo of EXP/RUN/KEY; *VERSION the version it holds for.
 * False when it keeps another metric or none. */
static bool memo_take(struct store *s, const char *exp, const char *run,
		      const char *key, struct log_base *b, uint64_t *version)
{
	struct tracking_state *t = tracking_state_get(s);
	bool hit = false;
	pthread_mutex_lock(&t->memo_lock);
	struct tracking_memo *m = t->memo;
	if (m && m->version && same_name(&m->key, key) &&
	    same_name(&m->run, run) && same_name(&m->exp, exp)) {
		b->eid = m->base.eid;
		b->sm = m->base.sm;
		buf_reset(&b->latest);
		hit = !buf_append(&b->latest, m->base.latest.data, m->base.latest.len);
		*version = m->version;
	}
	pthread_mutex_unlock(&t->memo_lock);
	return hit;
}

/* Keep B (its latest record taken) as what EXP/RUN/KEY's next point
 * reads; the caller holds the run's lock, its write just ended. */
static void memo_put(struct store *s, const char *exp, const char *run,
		     const char *key, struct log_base *b)
{
	struct tracking_state *t = tracking_state_get(s);
	pthread_mutex_lock(&t->memo_lock);
	if (!t->memo && !(t->memo = calloc(1, sizeof(*t->memo))))
		mlfs_oom();
	struct tracking_memo *m = t->memo;
	set_name(&m->exp, exp);
	set_name(&m->run, run);
	set_name(&m->key, key);
	struct buf old = m->base.latest;
	m->base = *b;
	b->latest = old;
	m->version = atomic_load(&t->version);
	pthread_mutex_unlock(&t->memo_lock);
}

/* Begin logging to EXP/RUN/KEY (tracking_run_begin's locks held on 0):
 * *B from the memo while nothing changed since, else from the store.
 * -ENOENT (no experiment or run), -EIO. */
static int log_begin(struct store *s, const char *exp, const char *run,
		     const char *key, struct log_base *b)
{
	struct tracking_state *t = tracking_state_get(s);
	uint64_t version;
	if (!store_is_remote(s) && memo_take(s, exp, run, key, b, &version)) {
		tracking_run_lock(s, b->eid, run);
		if (atomic_load(&t->version) == version)
			return 0;
		tracking_run_end(s, b->eid, run);
	}
	struct run_info r;
	struct buf k = { 0 };
	int rc = tracking_run_begin(s, exp, run, &b->eid);
	if (rc)
		return rc;
	rc = tracking_run_load(s, b->eid, run, &r);
	if (!rc) {
		tracking_key_item(&k, 'l', b->eid, run, key);
		rc = summary_load(s, NULL, &k, &b->sm);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (!rc) {
		tracking_key_run(&k, 'L', b->eid, run);
		rc = store_get(s, NULL, k.data, k.len, &b->latest, NULL);
		if (rc == -ENOENT) {
			buf_reset(&b->latest);
			rc = 0;
		}
	}
	buf_free(&k);
	if (rc)
		tracking_run_end(s, b->eid, run);
	return rc;
}

/* Write LC's points (the first of them number FIRST) and the summary and
 * x/L they make, in one batch; B->latest becomes the x/L written. */
static int log_write(struct store *s, const char *run, const char *key,
		     struct log_base *b, struct log_ctx *lc, uint64_t first,
		     int64_t now_ms, struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	char vt[40];
	size_t vtl = (size_t)buf_fmt_double(vt, lc->sm.latest.value);
	lc->sm.mtime = now_ms;
	int rc = latest_row(&b->latest, key, vt, vtl, &v);
	if (rc) {
		buf_free(&v);
		return rc;
	}
	struct store_batch *batch = store_batch_new();
	tracking_key_run(&k, 'L', b->eid, run);
	store_batch_put(batch, k.data, k.len, v.data, v.len);
	buf_free(&b->latest);
	b->latest = v;
	v = (struct buf){ 0 };
	tracking_key_item(&k, 'm', b->eid, run, key);
	buf_putc(&k, '\0');
	key_put_u64(&k, first);
	store_batch_put(batch, k.data, k.len, lc->block.data, lc->block.len);
	tracking_key_item(&k, 'l', b->eid, run, key);
	codec_enc_fields(&v, &lc->sm, summary_fields, 6, 1);
	codec_enc_cstr(&v, "vt");
	codec_enc_str(&v, vt, vtl);
	store_batch_put(batch, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
	rc = tracking_write_batch(s, batch, err);
	b->sm = lc->sm;
	return rc;
}

int tracking_metric_log(struct store *s, const char *exp, const char *run,
			const char *key, const char *text, size_t len,
			int64_t now_ms, struct mlfs_err *err)
{
	struct log_base b = { 0 };
	struct log_ctx lc = { 0 };
	int rc;

	if (strlen(key) > TRACKING_KEY_MAX || !names_valid(key))
		return mlfs_fail(err, -EINVAL, "invalid metric key '%.64s'", key);
	if ((rc = log_begin(s, exp, run, key, &b)))
		goto out;
	/* Every line is checked before anything is written: all or nothing. */
	lc.sm = b.sm;
	uint64_t first = lc.sm.n;
	rc = each_point(text, len, now_ms, log_point, &lc, err);
	if (!rc && lc.sm.n != first) {
		rc = log_write(s, run, key, &b, &lc, first, now_ms, err);
		if (!rc && !store_is_remote(s))
			memo_put(s, exp, run, key, &b);
	}
	tracking_run_end(s, b.eid, run);
out:
	buf_free(&b.latest);
	buf_free(&lc.block);
	return rc;
}

int tracking_metric_text(struct store *s, const char *exp, const char *run,
			 const char *key, struct buf *out)
{
	uint64_t eid;
	struct buf lo = { 0 }, hi = { 0 };
	int rc = tracking_exp_id(s, exp, &eid);
	if (rc)
		return rc;
	tracking_key_item(&lo, 'l', eid, run, key);
	struct summary sm;
	/* The summary and the blocks of one moment: a point appended while
	 * they are read is in neither or both. */
	struct store_snapshot *snap = store_snapshot_new(s);
	if ((rc = summary_load(s, snap, &lo, &sm))) {
		store_snapshot_free(s, snap);
		buf_free(&lo);
		return rc;
	}
	tracking_key_item(&lo, 'm', eid, run, key);
	buf_putc(&lo, '\0');
	tracking_key_item(&hi, 'm', eid, run, key);
	buf_putc(&hi, '\1');
	buf_reset(out);
	buf_reserve(out, sm.bytes);
	struct store_iter *it = store_iter_new(s, snap, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t vl;
		const char *v = store_iter_value(it, &vl);
		buf_append(out, v, vl);
	}
	if (!rc)
		rc = store_iter_status(it, NULL);
	if (!rc && out->len != sm.bytes)
		rc = -EIO;	/* the summary and the blocks disagree */
	store_iter_free(it);
	store_snapshot_free(s, snap);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int tracking_metric_size(struct store *s, const char *exp, const char *run,
			 const char *key, uint64_t *size, int64_t *mtime_ms)
{
	uint64_t eid;
	struct buf k = { 0 };
	struct summary sm;
	int rc = tracking_exp_id(s, exp, &eid);
	if (rc)
		return rc;
	tracking_key_item(&k, 'l', eid, run, key);
	rc = summary_load(s, NULL, &k, &sm);
	buf_free(&k);
	if (!rc) {
		*size = sm.bytes;
		*mtime_ms = sm.mtime;
	}
	return rc;
}

int tracking_metric_list(struct store *s, const char *exp, const char *run,
			 int (*fn)(void *ctx, const char *key), void *ctx)
{
	return tracking_list_items(s, exp, run, 'l', fn, ctx);
}
