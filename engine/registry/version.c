/* version.c - model versions: registering a finished run's model (a pin
 * on the run's files, never a copy), reading what a version recorded, and
 * deleting a version no alias points at.  Aliases and stages are
 * alias.c's. */
#include "registry_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "clock.h"
#include "codec.h"
#include "tracking.h"
#include "train.h"

/* What a registration reads from the run before taking the lock. */
struct source {
	struct run_info run;
	uint64_t model_dir;
	struct buf features, signature;
	struct buf metrics;	/* msgpack array of [key, value text] */
	size_t nmetrics;
};

static void source_free(struct source *src)
{
	buf_free(&src->features);
	buf_free(&src->signature);
	buf_free(&src->metrics);
}

/* File NAME of directory DIR into OUT, at most MAX bytes (-EFBIG past
 * it); -ENOENT when missing. */
static int read_file(struct store *s, uint64_t dir, const char *name,
		     uint64_t max, struct buf *out, struct mlfs_err *err)
{
	struct blob_stat st;
	buf_reset(out);
	if (blob_lookup(s, dir, name, &st) || st.dir)
		return -ENOENT;
	if (st.size > max)
		return mlfs_fail(err, -EFBIG, "the run's model/%s is over %llu bytes", name,
				 (unsigned long long)max);
	buf_reserve(out, st.size + 1);
	long n = blob_read(s, st.id, 0, out->data, st.size, err);
	if (n < 0)
		return (int)n;
	out->len = (size_t)n;
	out->data[out->len] = '\0';
	return 0;
}

/* A text of the run's model/ into OUT: empty when missing. */
static int read_small(struct store *s, uint64_t dir, const char *name,
		      struct buf *out, struct mlfs_err *err)
{
	int rc = read_file(s, dir, name, REGISTRY_TEXT_MAX, out, err);
	return rc == -ENOENT ? 0 : rc;
}

int registry_version_file(struct store *s, const struct registry_version *v,
			  const char *file, struct buf *out,
			  struct mlfs_err *err)
{
	int rc = read_file(s, v->model_dir, file, UINT64_MAX, out, err);
	if (rc == -ENOENT)
		return mlfs_fail(err, -ENOENT, "version %llu has no model file '%s'",
				 (unsigned long long)v->version, file);
	return rc;
}

/* The model/ folder a training left in the run's artifacts (train.h). */
static int find_model(struct store *s, const char *exp, const char *run,
		      uint64_t root, uint64_t *dir, struct mlfs_err *err)
{
	struct blob_stat st;
	if (blob_lookup(s, root, TRAIN_DIR, &st) || !st.dir ||
	    blob_lookup(s, st.id, "model", &st) || !st.dir)
		return mlfs_fail(err, -EINVAL, "run %s/%s holds no model/ (train it with train.yaml)", exp, run);
	*dir = st.id;
	return 0;
}

struct metric_ctx {
	struct store *s;
	const char *exp, *run;
	struct source *src;
	struct buf text;
};

/* The value text of the latest point of a series: by step, then time,
 * the later line winning ties (tracking.h's "latest"). */
static bool latest_point(const char *text, const char **val, size_t *vl)
{
	long long best_step = 0, best_ts = 0;
	bool found = false;
	for (const char *p = text; *p; ) {
		const char *nl = strchr(p, '\n');
		const char *end = nl ? nl : p + strlen(p);
		char *q;
		long long ts = strtoll(p, &q, 10);
		const char *v = q + (*q == ' ');
		const char *sp = memchr(v, ' ', (size_t)(end - v));
		if (sp) {
			long long step = strtoll(sp + 1, NULL, 10);
			if (!found || step > best_step ||
			    (step == best_step && ts >= best_ts)) {
				best_step = step;
				best_ts = ts;
				*val = v;
				*vl = (size_t)(sp - v);
				found = true;
			}
		}
		p = nl ? nl + 1 : end;
	}
	return found;
}

static int add_metric(void *ctx, const char *key)
{
	struct metric_ctx *mc = ctx;
	const char *val;
	size_t vl;
	int rc = tracking_metric_text(mc->s, mc->exp, mc->run, key, &mc->text);
	if (rc || !latest_point(mc->text.data ? mc->text.data : "", &val, &vl))
		return rc == -ENOENT ? 0 : rc;
	codec_enc_array(&mc->src->metrics, 2);
	codec_enc_cstr(&mc->src->metrics, key);
	codec_enc_str(&mc->src->metrics, val, vl);
	mc->src->nmetrics++;
	return 0;
}

/* EINVAL unless run EXP/RUN exists, is FINISHED and holds a model/:
 * its record into RUN, the model folder's id into MODEL_DIR. */
static int source_check(struct store *s, const char *exp, const char *run,
			struct run_info *r, uint64_t *model_dir,
			struct mlfs_err *err)
{
	if (!names_valid(exp) || !names_valid(run) ||
	    tracking_run_get(s, exp, run, r))
		return mlfs_fail(err, -EINVAL, "no run %s/%s", exp, run);
	if (r->status != RUN_FINISHED)
		return mlfs_fail(err, -EINVAL, "run %s/%s is %s, not FINISHED", exp, run, run_status_name(r->status));
	return find_model(s, exp, run, r->artifacts, model_dir, err);
}

int registry_register_check(struct store *s, const char *name,
			    const char *exp, const char *run,
			    struct mlfs_err *err)
{
	struct reg_model m;
	struct run_info r;
	uint64_t dir;
	int rc = reg_model_load(s, NULL, name, &m);
	if (rc)
		return rc == -ENOENT ? mlfs_fail(err, rc, "no model '%s'", name) : rc;
	return source_check(s, exp, run, &r, &dir, err);
}

/* Everything a version records about run EXP/RUN: EINVAL unless it is
 * FINISHED with a model. */
static int source_read(struct store *s, const char *exp, const char *run,
		       struct source *src, struct mlfs_err *err)
{
	struct metric_ctx mc = { s, exp, run, src, { 0 } };
	struct buf list = { 0 };
	int rc = source_check(s, exp, run, &src->run, &src->model_dir, err);
	if (!rc)
		rc = read_small(s, src->model_dir, "features.yaml", &src->features, err);
	if (!rc)
		rc = read_small(s, src->model_dir, "signature", &src->signature, err);
	if (!rc)
		rc = tracking_metric_list(s, exp, run, add_metric, &mc);
	/* The metric pairs were encoded without their array header. */
	codec_enc_array(&list, (uint32_t)src->nmetrics);
	buf_append(&list, src->metrics.data, src->metrics.len);
	buf_free(&src->metrics);
	src->metrics = list;
	buf_free(&mc.text);
	return rc;
}

static void version_put(struct store_batch *b, uint64_t mid, uint64_t n,
			const char *exp, const char *run,
			const struct source *src, uint32_t uid)
{
	struct buf k = { 0 }, v = { 0 };
	reg_key_id(&k, 'v', mid, true, n);
	codec_enc_map(&v, 9);
	codec_enc_cstr(&v, "exp");
	codec_enc_cstr(&v, exp);
	codec_enc_cstr(&v, "run");
	codec_enc_cstr(&v, run);
	codec_enc_cstr(&v, "rid");
	codec_enc_u64(&v, src->run.artifacts);
	codec_enc_cstr(&v, "model");
	codec_enc_u64(&v, src->model_dir);
	codec_enc_cstr(&v, "ctime");
	codec_enc_i64(&v, clock_now_ms());
	codec_enc_cstr(&v, "uid");
	codec_enc_u64(&v, uid);
	codec_enc_cstr(&v, "metrics");
	buf_append(&v, src->metrics.data, src->metrics.len);
	codec_enc_cstr(&v, "features");
	codec_enc_str(&v, src->features.data, src->features.len);
	codec_enc_cstr(&v, "signature");
	codec_enc_str(&v, src->signature.data, src->signature.len);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

int registry_register(struct store *s, const char *name, const char *exp,
		      const char *run, uint32_t uid, uint64_t *version,
		      struct mlfs_err *err)
{
	struct source src = { 0 };
	struct reg_model m;
	char holder[64];
	int rc = source_read(s, exp, run, &src, err);
	if (rc)
		goto out;
	pthread_mutex_lock(reg_lock(s));
	rc = reg_model_load(s, NULL, name, &m);
	if (rc == -ENOENT)
		rc = mlfs_fail(err, -ENOENT, "no model '%s'", name);
	if (!rc) {
		reg_pin_holder(holder, m.id, m.next);
		rc = blob_root_pin(s, src.run.artifacts, holder, NULL);
		if (rc)
			rc = mlfs_fail(err, -EINVAL, "run %s/%s was deleted meanwhile", exp, run);
	}
	if (!rc) {
		struct store_batch *b = store_batch_new();
		uint64_t n = m.next++;
		version_put(b, m.id, n, exp, run, &src, uid);
		reg_lineage_put(b, name, m.id, n, src.features.data, src.features.len);
		rc = reg_commit(s, b, name, &m, err);
		if (rc)
			blob_root_unpin(s, src.run.artifacts, holder, NULL);
		else
			*version = n;
	}
	pthread_mutex_unlock(reg_lock(s));
out:
	source_free(&src);
	return rc;
}

/* The record of version N of model MID at SNAP, decoded into *D (free
 * with codec_dec_free) with its raw value kept in V. */
static int version_load(struct store *s, const struct store_snapshot *snap,
			uint64_t mid, uint64_t n, struct buf *v,
			struct dec **d)
{
	struct buf k = { 0 };
	reg_key_id(&k, 'v', mid, true, n);
	int rc = n ? store_get(s, snap, k.data, k.len, v, NULL) : -ENOENT;
	buf_free(&k);
	if (!rc && !(*d = codec_dec_new(v->data, v->len)))
		rc = -EIO;
	return rc;
}

int registry_version_get(struct store *s, const char *name, uint64_t version,
			 struct registry_version *out)
{
	struct reg_model m;
	struct buf v = { 0 };
	struct dec *d = NULL;
	int rc = reg_model_load(s, NULL, name, &m);
	if (!rc)
		rc = version_load(s, NULL, m.id, version, &v, &d);
	if (!rc) {
		struct dval r = codec_dec_root(d);
		memset(out, 0, sizeof(*out));
		out->version = version;
		codec_dget_str(r, "exp", out->exp, sizeof(out->exp));
		codec_dget_str(r, "run", out->run, sizeof(out->run));
		out->run_id = codec_dget_u64(r, "rid", 0);
		out->model_dir = codec_dget_u64(r, "model", 0);
		out->created_ms = codec_dget_i64(r, "ctime", 0);
		out->uid = (uint32_t)codec_dget_u64(r, "uid", 0);
	}
	codec_dec_free(d);
	buf_free(&v);
	return rc;
}

int registry_version_list(struct store *s, const char *name,
			  int (*fn)(void *ctx, uint64_t version), void *ctx)
{
	struct reg_model m;
	struct buf lo = { 0 }, hi = { 0 };
	int rc = reg_model_load(s, NULL, name, &m);
	if (rc)
		return rc;
	reg_key_id(&lo, 'v', m.id, false, 0);
	reg_key_id(&hi, 'v', m.id + 1, false, 0);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl == lo.len + 8)
			rc = fn(ctx, key_get_u64(k + lo.len));
	}
	return store_iter_end(it, rc, &lo, &hi);
}

struct busy {
	uint64_t version;
	char alias[NAMES_MAX + 1];
};

static int find_alias_of(void *ctx, const char *alias, uint64_t version)
{
	struct busy *b = ctx;
	if (version != b->version)
		return 0;
	snprintf(b->alias, sizeof(b->alias), "%s", alias);
	return 1;
}

int registry_version_delete(struct store *s, const char *name,
			    uint64_t version, struct mlfs_err *err)
{
	struct reg_model m;
	struct registry_version v;
	struct busy busy = { version, "" };
	struct buf lo = { 0 }, hi = { 0 }, rec = { 0 };
	struct dec *d = NULL;
	char held_by[REGISTRY_HOLDER_MAX + 1];
	pthread_mutex_lock(reg_lock(s));
	int rc = registry_version_get(s, name, version, &v);
	if (rc)
		rc = mlfs_fail(err, -ENOENT, "model '%s' has no version %" PRIu64, name, version);
	if (!rc)
		rc = reg_model_load(s, NULL, name, &m);
	if (!rc && reg_alias_walk(s, NULL, m.id, find_alias_of, &busy) == 1)
		rc = mlfs_fail(err, -EBUSY, "alias '%s' points at version %" PRIu64 " of '%s': move or remove it first", busy.alias, version, name);
	if (!rc && reg_held(s, m.id, false, version, held_by))
		rc = mlfs_fail(err, -EBUSY, "%s serves version %" PRIu64 " of '%s'", held_by, version, name);
	if (!rc)
		rc = version_load(s, NULL, m.id, version, &rec, &d);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		struct dval f;
		const char *p;
		size_t n;
		if (codec_dval_get(codec_dec_root(d), "features", &f) && codec_dval_str(f, &p, &n))
			reg_lineage_delete(b, m.id, version, p, n);
		reg_key_id(&lo, 'v', m.id, true, version);
		store_batch_delete(b, lo.data, lo.len);
		reg_key_id(&lo, 'z', m.id, true, version);
		store_batch_delete(b, lo.data, lo.len);
		reg_key_id(&lo, 'x', m.id, true, version);
		reg_key_id(&hi, 'x', m.id, true, version + 1);
		store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
		rc = reg_commit(s, b, name, &m, err);
	}
	if (!rc) {
		char holder[64];
		reg_pin_holder(holder, m.id, version);
		blob_root_unpin(s, v.run_id, holder, NULL);
	}
	pthread_mutex_unlock(reg_lock(s));
	codec_dec_free(d);
	buf_free(&rec);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

bool registry_version_run_exists(struct store *s,
				 const struct registry_version *v)
{
	struct run_info r;
	return tracking_run_get(s, v->exp, v->run, &r) == 0 &&
	       r.artifacts == v->run_id;
}

/* metrics.csv from the record's [key, value text] pairs. */
static void metrics_csv(struct dval r, struct buf *out)
{
	struct dval list;
	buf_puts(out, "metric,value\n");
	if (!codec_dval_get(r, "metrics", &list))
		return;
	for (size_t i = 0; i < codec_dval_len(list); i++) {
		struct dval pair = codec_dval_at(list, i);
		const char *k, *v;
		size_t kl, vl;
		if (codec_dval_str(codec_dval_at(pair, 0), &k, &kl) &&
		    codec_dval_str(codec_dval_at(pair, 1), &v, &vl)) {
			buf_append(out, k, kl);
			buf_putc(out, ',');
			buf_append(out, v, vl);
			buf_putc(out, '\n');
		}
	}
}

/* A file of the version's record: features.yaml, signature, metrics.csv,
 * created, status. */
static int record_text(struct dval r, const char *file, struct buf *out)
{
	const char *p;
	size_t n;
	if (!strcmp(file, "metrics.csv")) {
		metrics_csv(r, out);
	} else if (!strcmp(file, "created")) {
		char t[32];
		tracking_fmt_time(t, codec_dget_i64(r, "ctime", 0));
		buf_printf(out, "%s\n", t);
	} else if (!strcmp(file, "status")) {
		buf_puts(out, "READY\n");
	} else if (!strcmp(file, "features.yaml") || !strcmp(file, "signature")) {
		struct dval f;
		if (codec_dval_get(r, !strcmp(file, "signature") ? "signature" : "features", &f) &&
		    codec_dval_str(f, &p, &n))
			buf_append(out, p, n);
	} else {
		return -ENOENT;
	}
	return 0;
}

int registry_version_text(struct store *s, const char *name, uint64_t version,
			  const char *file, struct buf *out)
{
	struct reg_model m;
	struct buf v = { 0 };
	struct dec *d = NULL;
	buf_reset(out);
	if (!strcmp(file, "stage") || !strcmp(file, "aliases"))
		return reg_version_alias_text(s, name, version, file, out);
	struct store_snapshot *snap = store_snapshot_new(s);
	int rc = reg_model_load(s, snap, name, &m);
	if (!rc)
		rc = version_load(s, snap, m.id, version, &v, &d);
	if (!rc)
		rc = record_text(codec_dec_root(d), file, out);
	codec_dec_free(d);
	buf_free(&v);
	store_snapshot_free(s, snap);
	return rc;
}

int registry_register_trained(struct store *s, const char *model, const char *exp,
			      const char *run, bool search, uint32_t uid, uint32_t gid,
			      uint64_t *version, struct mlfs_err *err)
{
	struct buf best = { 0 };
	char line[2 * NAMES_MAX + 32];
	const char *which = run;
	int rc = 0;
	if (search) {
		rc = tracking_value_get(s, exp, run, "tags", "best_run", &best);
		if (rc)
			rc = mlfs_fail(err, -EINVAL, "register: the search has no best trial");
		which = best.data;
	}
	if (!rc && (rc = registry_model_create(s, model, uid, gid, 0755, NULL, NULL)) == -EEXIST)
		rc = 0;
	if (!rc)
		rc = registry_register(s, model, exp, which, uid, version, err);
	if (!rc) {
		int n = snprintf(line, sizeof(line), "%s@%" PRIu64, model, *version);
		rc = tracking_value_set(s, exp, run, "tags", "mlfs.registered_version", line,
					(size_t)n, true, err);
	}
	buf_free(&best);
	return rc;
}
