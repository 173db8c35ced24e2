/* tracking.c - experiments, runs, params, tags and metric series.
 *
 * Records (keys in docs/store-format.md):
 *   x/e/NAME                 experiment {id, description, tags, ctime}
 *   x/r/EID/RUN              run {status, start, end, parent, uid, gid, art}
 *   x/p/EID/RUN\0KEY         param value          x/t/... tag value
 *   x/m/EID/RUN\0KEY\0SEQ    a block of points: their text, "TIMESTAMP_MS VALUE
 *                            STEP" lines, as one write logged them; SEQ is
 *                            the number of points logged before the block
 *   x/l/EID/RUN\0KEY         metric summary {vt, ts, v, step, n, bytes, mtime}
 *   x/L/EID/RUN              the run's latest metrics {KEY: value text, ...}
 *   x/n                      the experiment id counter
 * Invariant: for every metric, x/l says how many points x/m holds (n),
 * the byte length of their text (bytes) and the latest by (step, time);
 * both change in one batch, with the run's x/L record, which runs.csv reads
 * (one record a run instead of one a metric).  All writers take `lock`, so read-modify-write
 * of a run or a summary never interleaves. */
#include "tracking.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "blob.h"
#include "ids.h"
#include "csv.h"
#include "table.h"
#include "types.h"

/* Tracking's state in each store (store_state): two stores in one
 * process share no lock, version or cached runs.csv. */
struct tracking_state {
	pthread_mutex_t lock;	/* serialises changes to this store's runs */
	uint64_t version;	/* bumped by every change (under lock) */
	pthread_mutex_t cache_lock;	/* guards the cached runs.csv below */
	char cache_exp[TRACKING_KEY_MAX + 1];
	uint64_t cache_version;
	struct buf cache_text;
};

static const char state_key;

static void *state_new(void)
{
	struct tracking_state *t = calloc(1, sizeof(*t));
	if (t) {
		pthread_mutex_init(&t->lock, NULL);
		pthread_mutex_init(&t->cache_lock, NULL);
	}
	return t;
}

static void state_free(void *p)
{
	struct tracking_state *t = p;
	buf_free(&t->cache_text);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->cache_lock);
	free(t);
}

static struct tracking_state *tstate(struct store *s)
{
	return store_state(s, &state_key, state_new, state_free);
}

const char *run_status_name(enum run_status s)
{
	switch (s) {
	case RUN_RUNNING: return "RUNNING";
	case RUN_FINISHED: return "FINISHED";
	case RUN_FAILED: return "FAILED";
	case RUN_KILLED: return "KILLED";
	}
	return "RUNNING";
}

void tracking_fmt_time(char out[32], int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* ---- keys ---- */

static void key_exp(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_puts(k, "x/e/");
	buf_puts(k, name);
}

static void key_run(struct buf *k, char kind, uint64_t eid, const char *run)
{
	buf_reset(k);
	buf_printf(k, "x/%c/", kind);
	key_put_u64(k, eid);
	buf_putc(k, '/');
	if (run)
		buf_puts(k, run);
}

/* x/KIND/EID/RUN\0KEY (KEY may be NULL: the prefix of the run). */
static void key_item(struct buf *k, char kind, uint64_t eid, const char *run,
		     const char *key)
{
	key_run(k, kind, eid, run);
	buf_putc(k, '\0');
	if (key)
		buf_puts(k, key);
}

/* ---- experiments ---- */

struct exp {
	uint64_t id;
	int64_t ctime;
	struct buf description, tags;
};

static void exp_free(struct exp *e)
{
	buf_free(&e->description);
	buf_free(&e->tags);
}

static int exp_load(struct store *s, const char *name, struct exp *e)
{
	struct buf k = { 0 }, v = { 0 };
	memset(e, 0, sizeof(*e));
	key_exp(&k, name);
	int rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	if (!rc) {
		struct dec *d = codec_dec_new(v.data, v.len);
		if (!d) {
			rc = -EIO;
		} else {
			struct dval r = codec_dec_root(d), f;
			const char *p;
			size_t n;
			e->id = codec_dget_u64(r, "id", 0);
			e->ctime = codec_dget_i64(r, "ctime", 0);
			if (codec_dval_get(r, "description", &f) && codec_dval_str(f, &p, &n))
				buf_append(&e->description, p, n);
			if (codec_dval_get(r, "tags", &f) && codec_dval_str(f, &p, &n))
				buf_append(&e->tags, p, n);
			codec_dec_free(d);
		}
	}
	buf_free(&k);
	buf_free(&v);
	return rc;
}

static void exp_put(struct store_batch *b, const char *name, const struct exp *e)
{
	struct buf k = { 0 }, v = { 0 };
	key_exp(&k, name);
	codec_enc_map(&v, 4);
	codec_enc_cstr(&v, "id");
	codec_enc_u64(&v, e->id);
	codec_enc_cstr(&v, "ctime");
	codec_enc_i64(&v, e->ctime);
	codec_enc_cstr(&v, "description");
	codec_enc_str(&v, e->description.data ? e->description.data : "", e->description.len);
	codec_enc_cstr(&v, "tags");
	codec_enc_str(&v, e->tags.data ? e->tags.data : "", e->tags.len);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

static int write_batch(struct store *s, struct store_batch *b,
		       struct mlfs_err *err)
{
	tstate(s)->version++;
	int rc = store_write(s, b, false, err);
	store_batch_free(b);
	return rc;
}

int tracking_experiment_create(struct store *s, const char *name,
			       struct mlfs_err *err)
{
	struct exp e;
	struct buf k = { 0 }, v = { 0 };
	int rc;

	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, name);
	pthread_mutex_lock(&tstate(s)->lock);
	if (exp_load(s, name, &e) == 0) {
		exp_free(&e);
		rc = mlfs_fail(err, -EEXIST, "experiment '%s' exists", name);
		goto out;
	}
	memset(&e, 0, sizeof(e));
	if ((rc = ids_next_key(s, "x/n", 3, &e.id, err)))
		goto out;
	e.ctime = (int64_t)time(NULL) * 1000;
	struct store_batch *b = store_batch_new();
	exp_put(b, name, &e);
	rc = write_batch(s, b, err);
out:
	pthread_mutex_unlock(&tstate(s)->lock);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

static bool has_prefix(struct store *s, const struct buf *prefix)
{
	struct buf hi = { 0 };
	buf_append(&hi, prefix->data, prefix->len);
	hi.data[hi.len - 1]++;
	struct store_iter *it = store_iter_new(s, NULL, prefix->data, prefix->len, hi.data, hi.len);
	store_iter_seek_first(it);
	bool any = store_iter_valid(it);
	store_iter_free(it);
	buf_free(&hi);
	return any;
}

int tracking_experiment_drop(struct store *s, const char *name,
			     struct mlfs_err *err)
{
	struct exp e;
	struct buf k = { 0 };
	pthread_mutex_lock(&tstate(s)->lock);
	int rc = exp_load(s, name, &e);
	if (!rc) {
		key_run(&k, 'r', e.id, NULL);
		if (has_prefix(s, &k)) {
			rc = mlfs_fail(err, -ENOTEMPTY, "experiment '%s' still has runs", name);
		} else {
			struct store_batch *b = store_batch_new();
			key_exp(&k, name);
			store_batch_delete(b, k.data, k.len);
			rc = write_batch(s, b, err);
		}
		exp_free(&e);
	}
	pthread_mutex_unlock(&tstate(s)->lock);
	buf_free(&k);
	return rc;
}

bool tracking_experiment_exists(struct store *s, const char *name)
{
	struct exp e;
	if (!names_valid(name) || exp_load(s, name, &e))
		return false;
	exp_free(&e);
	return true;
}

/* Call FN with the part of each key after PREFIX, up to a NUL. */
static int list_keys(struct store *s, const struct buf *prefix,
		     int (*fn)(void *ctx, const char *name), void *ctx)
{
	struct buf hi = { 0 };
	char name[TRACKING_KEY_MAX + 2];
	int rc = 0;
	buf_append(&hi, prefix->data, prefix->len);
	hi.data[hi.len - 1]++;
	struct store_iter *it = store_iter_new(s, NULL, prefix->data, prefix->len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		size_t n = kl - prefix->len;
		const char *p = k + prefix->len;
		const char *nul = memchr(p, '\0', n);
		if (nul)
			n = (size_t)(nul - p);
		if (n == 0 || n > TRACKING_KEY_MAX)
			continue;
		memcpy(name, p, n);
		name[n] = '\0';
		rc = fn(ctx, name);
	}
	store_iter_free(it);
	buf_free(&hi);
	return rc;
}

int tracking_experiment_list(struct store *s,
			     int (*fn)(void *ctx, const char *name), void *ctx)
{
	struct buf p = { 0 };
	buf_puts(&p, "x/e/");
	int rc = list_keys(s, &p, fn, ctx);
	buf_free(&p);
	return rc;
}

int tracking_experiment_text(struct store *s, const char *name,
			     const char *field, struct buf *out)
{
	struct exp e;
	int rc = exp_load(s, name, &e);
	if (rc)
		return rc;
	struct buf *b = !strcmp(field, "tags") ? &e.tags : &e.description;
	buf_reset(out);
	buf_append(out, b->data ? b->data : "", b->len);
	exp_free(&e);
	return 0;
}

/* "key=value" lines: keys valid names, values any UTF-8 text. */
static int check_tag_lines(const char *text, size_t len, struct mlfs_err *err)
{
	size_t pos = 0;
	unsigned line = 0;
	if (!csv_utf8_valid(text, len))
		return mlfs_fail(err, -EINVAL, "tags: not UTF-8");
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		line++;
		if (end > pos) {
			const char *eq = memchr(text + pos, '=', end - pos);
			char key[TRACKING_KEY_MAX + 1];
			size_t kl = eq ? (size_t)(eq - text - pos) : 0;
			if (!eq || kl == 0 || kl > TRACKING_KEY_MAX)
				return mlfs_fail(err, -EINVAL, "line %u: expected key=value", line);
			memcpy(key, text + pos, kl);
			key[kl] = '\0';
			if (!names_valid(key))
				return mlfs_fail(err, -EINVAL, "line %u: invalid tag key '%s'", line, key);
		}
		pos = end + 1;
	}
	return 0;
}

int tracking_experiment_set_text(struct store *s, const char *name,
				 const char *field, const char *text,
				 size_t len, bool apply, struct mlfs_err *err)
{
	bool tags = !strcmp(field, "tags");
	int rc;
	if (tags && (rc = check_tag_lines(text, len, err)))
		return rc;
	if (!tags && !csv_utf8_valid(text, len))
		return mlfs_fail(err, -EINVAL, "description: not UTF-8");
	if (!apply)
		return 0;
	struct exp e;
	pthread_mutex_lock(&tstate(s)->lock);
	rc = exp_load(s, name, &e);
	if (!rc) {
		struct buf *b = tags ? &e.tags : &e.description;
		buf_reset(b);
		buf_append(b, text, len);
		struct store_batch *bt = store_batch_new();
		exp_put(bt, name, &e);
		rc = write_batch(s, bt, err);
		exp_free(&e);
	}
	pthread_mutex_unlock(&tstate(s)->lock);
	return rc;
}

/* ---- runs ---- */

static int exp_id(struct store *s, const char *exp, uint64_t *id)
{
	struct exp e;
	int rc = exp_load(s, exp, &e);
	if (!rc) {
		*id = e.id;
		exp_free(&e);
	}
	return rc;
}

static int run_load(struct store *s, uint64_t eid, const char *run,
		    struct run_info *r)
{
	struct buf k = { 0 }, v = { 0 };
	memset(r, 0, sizeof(*r));
	key_run(&k, 'r', eid, run);
	int rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	if (!rc) {
		struct dec *d = codec_dec_new(v.data, v.len);
		if (!d) {
			rc = -EIO;
		} else {
			struct dval root = codec_dec_root(d);
			r->status = (enum run_status)codec_dget_u64(root, "status", RUN_RUNNING);
			r->start_ms = codec_dget_i64(root, "start", 0);
			r->end_ms = codec_dget_i64(root, "end", 0);
			r->uid = (uint32_t)codec_dget_u64(root, "uid", 0);
			r->gid = (uint32_t)codec_dget_u64(root, "gid", 0);
			r->artifacts = codec_dget_u64(root, "art", 0);
			codec_dget_str(root, "parent", r->parent, sizeof(r->parent));
			codec_dec_free(d);
		}
	}
	buf_free(&k);
	buf_free(&v);
	return rc;
}

static void run_put(struct store_batch *b, uint64_t eid, const char *run,
		    const struct run_info *r)
{
	struct buf k = { 0 }, v = { 0 };
	key_run(&k, 'r', eid, run);
	codec_enc_map(&v, 7);
	codec_enc_cstr(&v, "status");
	codec_enc_u64(&v, r->status);
	codec_enc_cstr(&v, "start");
	codec_enc_i64(&v, r->start_ms);
	codec_enc_cstr(&v, "end");
	codec_enc_i64(&v, r->end_ms);
	codec_enc_cstr(&v, "parent");
	codec_enc_cstr(&v, r->parent);
	codec_enc_cstr(&v, "uid");
	codec_enc_u64(&v, r->uid);
	codec_enc_cstr(&v, "gid");
	codec_enc_u64(&v, r->gid);
	codec_enc_cstr(&v, "art");
	codec_enc_u64(&v, r->artifacts);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

int tracking_run_create(struct store *s, const char *exp, const char *run,
			int64_t now_ms, uint32_t uid, uint32_t gid,
			uint64_t artifacts, struct mlfs_err *err)
{
	uint64_t eid;
	struct run_info r;
	if (!names_valid(run))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, run);
	pthread_mutex_lock(&tstate(s)->lock);
	int rc = exp_id(s, exp, &eid);
	if (!rc && run_load(s, eid, run, &r) == 0)
		rc = mlfs_fail(err, -EEXIST, "run '%s' exists", run);
	if (!rc) {
		memset(&r, 0, sizeof(r));
		r.status = RUN_RUNNING;
		r.start_ms = now_ms;
		r.uid = uid;
		r.gid = gid;
		r.artifacts = artifacts;
		struct store_batch *b = store_batch_new();
		run_put(b, eid, run, &r);
		rc = write_batch(s, b, err);
	}
	pthread_mutex_unlock(&tstate(s)->lock);
	return rc;
}

static void delete_item_range(struct store_batch *b, char kind, uint64_t eid,
			      const char *run)
{
	struct buf lo = { 0 }, hi = { 0 };
	key_item(&lo, kind, eid, run, NULL);
	key_item(&hi, kind, eid, run, NULL);
	hi.data[hi.len - 1] = 1;	/* RUN\0 .. RUN\1 */
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
}

int tracking_run_drop(struct store *s, const char *exp, const char *run,
		      struct mlfs_err *err)
{
	uint64_t eid;
	struct run_info r;
	struct buf k = { 0 };
	pthread_mutex_lock(&tstate(s)->lock);
	int rc = exp_id(s, exp, &eid);
	if (!rc)
		rc = run_load(s, eid, run, &r);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		key_run(&k, 'r', eid, run);
		store_batch_delete(b, k.data, k.len);
		delete_item_range(b, 'p', eid, run);
		delete_item_range(b, 't', eid, run);
		delete_item_range(b, 'm', eid, run);
		delete_item_range(b, 'l', eid, run);
		key_run(&k, 'L', eid, run);
		store_batch_delete(b, k.data, k.len);
		rc = write_batch(s, b, err);
	}
	pthread_mutex_unlock(&tstate(s)->lock);
	buf_free(&k);
	return rc;
}

int tracking_run_get(struct store *s, const char *exp, const char *run,
		     struct run_info *out)
{
	uint64_t eid;
	int rc = exp_id(s, exp, &eid);
	return rc ? rc : run_load(s, eid, run, out);
}

int tracking_run_list(struct store *s, const char *exp,
		      int (*fn)(void *ctx, const char *run), void *ctx)
{
	uint64_t eid;
	struct buf p = { 0 };
	int rc = exp_id(s, exp, &eid);
	if (rc)
		return rc;
	key_run(&p, 'r', eid, NULL);
	rc = list_keys(s, &p, fn, ctx);
	buf_free(&p);
	return rc;
}

/* Strip one trailing "\n" (and a "\r" before it). */
static size_t chomp(const char *text, size_t len)
{
	if (len && text[len - 1] == '\n')
		len--;
	if (len && text[len - 1] == '\r')
		len--;
	return len;
}

int tracking_run_set_status(struct store *s, const char *exp, const char *run,
			    const char *text, size_t len, int64_t now_ms,
			    bool apply, struct mlfs_err *err)
{
	static const enum run_status ends[] = { RUN_FINISHED, RUN_FAILED, RUN_KILLED };
	enum run_status st = 0;
	len = chomp(text, len);
	for (size_t i = 0; i < 3; i++) {
		const char *n = run_status_name(ends[i]);
		if (strlen(n) == len && !memcmp(n, text, len))
			st = ends[i];
	}
	if (!st)
		return mlfs_fail(err, -EINVAL, "status must be FINISHED, FAILED or KILLED, not '%.*s'",
				 (int)(len > 32 ? 32 : len), text);
	if (!apply)
		return 0;
	uint64_t eid;
	struct run_info r;
	pthread_mutex_lock(&tstate(s)->lock);
	int rc = exp_id(s, exp, &eid);
	if (!rc)
		rc = run_load(s, eid, run, &r);
	if (!rc) {
		r.status = st;
		r.end_ms = now_ms;
		struct store_batch *b = store_batch_new();
		run_put(b, eid, run, &r);
		rc = write_batch(s, b, err);
	}
	pthread_mutex_unlock(&tstate(s)->lock);
	return rc;
}

int tracking_run_set_parent(struct store *s, const char *exp, const char *run,
			    const char *parent, struct mlfs_err *err)
{
	uint64_t eid;
	struct run_info r, p;
	pthread_mutex_lock(&tstate(s)->lock);
	int rc = exp_id(s, exp, &eid);
	if (!rc)
		rc = run_load(s, eid, run, &r);
	if (!rc && parent && run_load(s, eid, parent, &p))
		rc = mlfs_fail(err, -EINVAL, "no run '%s' in experiment '%s'", parent, exp);
	if (!rc && parent) {
		/* Walk up from PARENT: reaching RUN would close a cycle.  A
		 * deleted ancestor ends the chain. */
		char cur[129];
		snprintf(cur, sizeof(cur), "%s", parent);
		for (int depth = 0; cur[0]; depth++) {
			if (!strcmp(cur, run) || depth > 100000) {
				rc = mlfs_fail(err, -EINVAL, "'%s' as parent of '%s' makes a cycle", parent, run);
				break;
			}
			if (run_load(s, eid, cur, &p))
				break;
			snprintf(cur, sizeof(cur), "%s", p.parent);
		}
	}
	if (!rc) {
		snprintf(r.parent, sizeof(r.parent), "%s", parent ? parent : "");
		struct store_batch *b = store_batch_new();
		run_put(b, eid, run, &r);
		rc = write_batch(s, b, err);
	}
	pthread_mutex_unlock(&tstate(s)->lock);
	return rc;
}

/* ---- params and tags ---- */

static char kind_letter(const char *kind)
{
	return !strcmp(kind, "params") ? 'p' : 't';
}

int tracking_value_get(struct store *s, const char *exp, const char *run,
		       const char *kind, const char *key, struct buf *out)
{
	uint64_t eid;
	struct buf k = { 0 };
	int rc = exp_id(s, exp, &eid);
	if (rc)
		return rc;
	key_item(&k, kind_letter(kind), eid, run, key);
	rc = store_get(s, NULL, k.data, k.len, out, NULL);
	buf_free(&k);
	return rc;
}

int tracking_value_set(struct store *s, const char *exp, const char *run,
		       const char *kind, const char *key, const char *value,
		       size_t len, bool apply, struct mlfs_err *err)
{
	bool param = kind_letter(kind) == 'p';
	size_t max = param ? TRACKING_PARAM_MAX : TRACKING_TAG_MAX;
	uint64_t eid;
	struct run_info r;
	struct buf k = { 0 }, old = { 0 };
	int rc;

	len = chomp(value, len);
	if (strlen(key) > TRACKING_KEY_MAX || !names_valid(key))
		return mlfs_fail(err, -EINVAL, "invalid key '%.64s'", key);
	if (len > max)
		return mlfs_fail(err, -EFBIG, "%s value of %zu bytes: at most %zu", param ? "param" : "tag", len, max);
	if (!csv_utf8_valid(value, len))
		return mlfs_fail(err, -EINVAL, "value is not UTF-8");
	pthread_mutex_lock(&tstate(s)->lock);
	rc = exp_id(s, exp, &eid);
	if (!rc)
		rc = run_load(s, eid, run, &r);
	if (rc)
		goto out;
	key_item(&k, kind_letter(kind), eid, run, key);
	if (param && store_get(s, NULL, k.data, k.len, &old, NULL) == 0 &&
	    (old.len != len || memcmp(old.data, value, len))) {
		rc = mlfs_fail(err, -EINVAL, "param '%s' was already logged with value '%.*s'; new value '%.*s' rejected (params are written once)",
			       key, (int)(old.len > 200 ? 200 : old.len), old.data,
			       (int)(len > 200 ? 200 : len), value);
		goto out;
	}
	if (apply) {
		struct store_batch *b = store_batch_new();
		store_batch_put(b, k.data, k.len, value, len);
		rc = write_batch(s, b, err);
	}
out:
	pthread_mutex_unlock(&tstate(s)->lock);
	buf_free(&k);
	buf_free(&old);
	return rc;
}

int tracking_value_delete(struct store *s, const char *exp, const char *run,
			  const char *kind, const char *key,
			  struct mlfs_err *err)
{
	uint64_t eid;
	struct buf k = { 0 }, v = { 0 };
	if (kind_letter(kind) == 'p')
		return mlfs_fail(err, -EPERM, "params cannot be deleted (MLflow's rule)");
	pthread_mutex_lock(&tstate(s)->lock);
	int rc = exp_id(s, exp, &eid);
	if (!rc) {
		key_item(&k, 't', eid, run, key);
		rc = store_get(s, NULL, k.data, k.len, &v, NULL);
		if (!rc)
			rc = store_delete(s, k.data, k.len, err);
		tstate(s)->version++;
	}
	pthread_mutex_unlock(&tstate(s)->lock);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int tracking_value_list(struct store *s, const char *exp, const char *run,
			const char *kind,
			int (*fn)(void *ctx, const char *key), void *ctx)
{
	uint64_t eid;
	struct buf p = { 0 };
	int rc = exp_id(s, exp, &eid);
	if (rc)
		return rc;
	key_item(&p, kind_letter(kind), eid, run, NULL);
	rc = list_keys(s, &p, fn, ctx);
	buf_free(&p);
	return rc;
}

/* ---- metrics ---- */

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

static int summary_load(struct store *s, const struct buf *k, struct summary *sm)
{
	struct buf v = { 0 };
	memset(sm, 0, sizeof(*sm));
	int rc = store_get(s, NULL, k->data, k->len, &v, NULL);
	if (!rc) {
		struct dec *d = codec_dec_new(v.data, v.len);
		if (!d) {
			rc = -EIO;
		} else {
			struct dval r = codec_dec_root(d);
			sm->latest.ts = codec_dget_i64(r, "ts", 0);
			sm->latest.value = codec_dget_f64(r, "v", NAN);
			sm->latest.step = codec_dget_i64(r, "step", 0);
			sm->n = codec_dget_u64(r, "n", 0);
			sm->bytes = codec_dget_u64(r, "bytes", 0);
			sm->mtime = codec_dget_i64(r, "mtime", 0);
			codec_dec_free(d);
		}
	}
	buf_free(&v);
	return rc;
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

/* Set KEY's latest value text in the run's x/L record, into batch B. */
static int put_latest_row(struct store *s, struct store_batch *b, uint64_t eid,
			  const char *run, const char *key, const char *vt,
			  size_t vtl)
{
	struct buf k = { 0 }, old = { 0 }, v = { 0 };
	struct dec *d = NULL;
	size_t n = 0;
	bool have = false;
	key_run(&k, 'L', eid, run);
	int rc = store_get(s, NULL, k.data, k.len, &old, NULL);
	if (rc == 0) {
		d = codec_dec_new(old.data, old.len);
		if (!d) {
			rc = -EIO;
			goto out;
		}
		n = codec_dval_len(codec_dec_root(d));
	} else if (rc != -ENOENT) {
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *kp;
		size_t kl;
		if (codec_dval_str(codec_dval_key_at(codec_dec_root(d), i), &kp, &kl) &&
		    kl == strlen(key) && !memcmp(kp, key, kl))
			have = true;
	}
	codec_enc_map(&v, (uint32_t)(n + !have));
	for (size_t i = 0; i < n; i++) {
		const char *kp, *vp;
		size_t kl, vl;
		if (!codec_dval_str(codec_dval_key_at(codec_dec_root(d), i), &kp, &kl) ||
		    !codec_dval_str(codec_dval_val_at(codec_dec_root(d), i), &vp, &vl)) {
			rc = -EIO;
			goto out;
		}
		codec_enc_str(&v, kp, kl);
		if (kl == strlen(key) && !memcmp(kp, key, kl))
			codec_enc_str(&v, vt, vtl);
		else
			codec_enc_str(&v, vp, vl);
	}
	if (!have) {
		codec_enc_cstr(&v, key);
		codec_enc_str(&v, vt, vtl);
	}
	store_batch_put(b, k.data, k.len, v.data, v.len);
out:
	codec_dec_free(d);
	buf_free(&k);
	buf_free(&old);
	buf_free(&v);
	return rc;
}

int tracking_metric_log(struct store *s, const char *exp, const char *run,
			const char *key, const char *text, size_t len,
			int64_t now_ms, struct mlfs_err *err)
{
	uint64_t eid;
	struct run_info r;
	struct buf lk = { 0 };
	struct log_ctx lc = { 0 };
	int rc;

	if (strlen(key) > TRACKING_KEY_MAX || !names_valid(key))
		return mlfs_fail(err, -EINVAL, "invalid metric key '%.64s'", key);
	/* Every line is checked before anything is written: all or nothing. */
	pthread_mutex_lock(&tstate(s)->lock);
	rc = exp_id(s, exp, &eid);
	if (!rc)
		rc = run_load(s, eid, run, &r);
	if (rc)
		goto out;
	key_item(&lk, 'l', eid, run, key);
	if ((rc = summary_load(s, &lk, &lc.sm)) && rc != -ENOENT)
		goto out;
	uint64_t first = lc.sm.n;
	rc = each_point(text, len, now_ms, log_point, &lc, err);
	if (!rc && lc.sm.n == first)
		goto out;	/* only blank lines */
	struct store_batch *b = store_batch_new();
	if (!rc) {
		struct buf bk = { 0 };
		key_item(&bk, 'm', eid, run, key);
		buf_putc(&bk, '\0');
		key_put_u64(&bk, first);
		store_batch_put(b, bk.data, bk.len, lc.block.data, lc.block.len);
		buf_free(&bk);
		struct buf v = { 0 };
		lc.sm.mtime = now_ms;
		char vt[40];
		size_t vtl = (size_t)buf_fmt_double(vt, lc.sm.latest.value);
		if ((rc = put_latest_row(s, b, eid, run, key, vt, vtl)))
			goto done;
		codec_enc_map(&v, 7);
		codec_enc_cstr(&v, "vt");
		codec_enc_str(&v, vt, vtl);
		codec_enc_cstr(&v, "ts");
		codec_enc_i64(&v, lc.sm.latest.ts);
		codec_enc_cstr(&v, "v");
		codec_enc_f64(&v, lc.sm.latest.value);
		codec_enc_cstr(&v, "step");
		codec_enc_i64(&v, lc.sm.latest.step);
		codec_enc_cstr(&v, "n");
		codec_enc_u64(&v, lc.sm.n);
		codec_enc_cstr(&v, "bytes");
		codec_enc_u64(&v, lc.sm.bytes);
		codec_enc_cstr(&v, "mtime");
		codec_enc_i64(&v, lc.sm.mtime);
		store_batch_put(b, lk.data, lk.len, v.data, v.len);
		buf_free(&v);
		tstate(s)->version++;
		rc = store_write(s, b, false, err);
	}
done:
	store_batch_free(b);
out:
	pthread_mutex_unlock(&tstate(s)->lock);
	buf_free(&lk);
	buf_free(&lc.block);
	return rc;
}

int tracking_metric_text(struct store *s, const char *exp, const char *run,
			 const char *key, struct buf *out)
{
	uint64_t eid;
	struct buf lo = { 0 }, hi = { 0 };
	int rc = exp_id(s, exp, &eid);
	if (rc)
		return rc;
	key_item(&lo, 'l', eid, run, key);
	struct summary sm;
	if ((rc = summary_load(s, &lo, &sm))) {
		buf_free(&lo);
		return rc;
	}
	key_item(&lo, 'm', eid, run, key);
	buf_putc(&lo, '\0');
	key_item(&hi, 'm', eid, run, key);
	buf_putc(&hi, '\1');
	buf_reset(out);
	buf_reserve(out, sm.bytes);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
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
	int rc = exp_id(s, exp, &eid);
	if (rc)
		return rc;
	key_item(&k, 'l', eid, run, key);
	rc = summary_load(s, &k, &sm);
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
	uint64_t eid;
	struct buf p = { 0 };
	int rc = exp_id(s, exp, &eid);
	if (rc)
		return rc;
	key_item(&p, 'l', eid, run, NULL);
	rc = list_keys(s, &p, fn, ctx);
	buf_free(&p);
	return rc;
}

/* ---- runs.csv ---- */

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
	key_run(&ii->lo, kind, eid, NULL);
	key_run(&ii->hi, kind, eid, NULL);
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

static int collect_keys(struct item_iter *ii, struct strset *ss)
{
	const char *run, *key;
	size_t rl, kl;
	int rc = 0;
	for (; !rc && item_at(ii, &run, &rl, &key, &kl); store_iter_next(ii->it))
		rc = strset_add(ss, key, kl);
	store_iter_seek_first(ii->it);
	return rc;
}

/* Add every metric key of the runs' x/L records to SS. */
static int collect_latest_keys(struct store *s, uint64_t eid, struct strset *ss,
			       struct dec *dec)
{
	struct buf lo = { 0 }, hi = { 0 };
	int rc = 0;
	key_run(&lo, 'L', eid, NULL);
	key_run(&hi, 'L', eid, NULL);
	hi.data[hi.len - 1]++;
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t vl;
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

struct run_names {
	struct strset set;
};

static int add_run_name(void *ctx, const char *run)
{
	struct run_names *rn = ctx;
	return strset_add(&rn->set, run, strlen(run));
}

static int runs_csv_build(struct store *s, const char *exp, struct buf *out,
			  struct mlfs_err *err)
{
	uint64_t eid;
	struct strset params = { 0 }, metrics = { 0 };
	struct run_names runs = { { 0 } };
	struct item_iter ip;
	struct buf llo = { 0 }, lhi = { 0 };
	struct store_iter *il = NULL;
	struct dec *dec = codec_dec_new("\xc0", 1);	/* reused for every record */
	int rc = exp_id(s, exp, &eid);
	if (rc)
		return rc;
	if ((rc = tracking_run_list(s, exp, add_run_name, &runs)))
		return rc;
	item_iter_open(&ip, s, 'p', eid);
	key_run(&llo, 'L', eid, NULL);
	key_run(&lhi, 'L', eid, NULL);
	lhi.data[lhi.len - 1]++;
	il = store_iter_new(s, NULL, llo.data, llo.len, lhi.data, lhi.len);
	store_iter_seek_first(il);
	if (!dec) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = collect_keys(&ip, &params)) ||
	    (rc = collect_latest_keys(s, eid, &metrics, dec)))
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
	for (size_t i = 0; i < runs.set.n; i++) {
		const char *run = runs.set.v[i];
		struct run_info r;
		char t[32];
		if (run_load(s, eid, run, &r))
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
	return rc;
}

/* One cached runs.csv per store: `cat` generates it at lookup and again
 * at open. */
int tracking_runs_csv(struct store *s, const char *exp, struct buf *out,
		      struct mlfs_err *err)
{
	struct tracking_state *t = tstate(s);
	pthread_mutex_lock(&t->lock);
	uint64_t v = t->version;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&t->cache_lock);
	if (t->cache_version == v && !strcmp(t->cache_exp, exp) && t->cache_text.data) {
		buf_reset(out);
		int rc = buf_append(out, t->cache_text.data, t->cache_text.len);
		pthread_mutex_unlock(&t->cache_lock);
		return rc;
	}
	pthread_mutex_unlock(&t->cache_lock);
	int rc = runs_csv_build(s, exp, out, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->lock);
	bool same = v == t->version;
	pthread_mutex_unlock(&t->lock);
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

/* ---- check ---- */

/* The part of a x/?/EID/RUN\0KEY key after the kind, for messages. */
static void describe(const char *k, size_t kl, char *out, size_t n)
{
	size_t run = 4 + 8 + 1;
	if (kl <= run) {
		snprintf(out, n, "?");
		return;
	}
	snprintf(out, n, "experiment id %llu, run %.*s",
		 (unsigned long long)key_get_u64(k + 4), (int)(kl - run), k + run);
	for (char *p = out; *p; p++)
		if (*p == '\0')
			*p = '/';
}

/* Does x/L/EID/RUN (RUNKEY: the x/l key up to RUN, NUL excluded) map
 * KEY to VT? */
static bool latest_row_has(struct store *s, const char *runkey, size_t rkl,
			   const char *key, size_t kl, const char *vt)
{
	struct buf k = { 0 }, v = { 0 };
	bool ok = false;
	buf_append(&k, runkey, rkl);
	k.data[2] = 'L';
	if (store_get(s, NULL, k.data, k.len, &v, NULL) == 0) {
		struct dec *d = codec_dec_new(v.data, v.len);
		size_t n = d ? codec_dval_len(codec_dec_root(d)) : 0;
		for (size_t i = 0; i < n && !ok; i++) {
			const char *kp, *vp;
			size_t klen, vlen;
			ok = codec_dval_str(codec_dval_key_at(codec_dec_root(d), i), &kp, &klen) &&
			     codec_dval_str(codec_dval_val_at(codec_dec_root(d), i), &vp, &vlen) &&
			     klen == kl && !memcmp(kp, key, kl) &&
			     vlen == strlen(vt) && !memcmp(vp, vt, vlen);
		}
		codec_dec_free(d);
	}
	buf_free(&k);
	buf_free(&v);
	return ok;
}

int tracking_check(struct store *s, struct buf *report, struct mlfs_err *err)
{
	int problems = 0;
	char what[400];
	struct buf lo = { 0 }, hi = { 0 };
	struct dec *d = codec_dec_new("\xc0", 1);

	/* Metric summaries against their blocks. */
	struct store_iter *it = store_iter_new(s, NULL, "x/l/", 4, "x/l0", 4);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		describe(k, kl, what, sizeof(what));
		if (!d || !codec_dec_reset(d, v, vl)) {
			buf_printf(report, "metric (%s): unreadable summary\n", what);
			problems++;
			continue;
		}
		uint64_t n = codec_dget_u64(codec_dec_root(d), "n", 0), bytes = codec_dget_u64(codec_dec_root(d), "bytes", 0);
		buf_reset(&lo);
		buf_append(&lo, k, kl);
		lo.data[2] = 'm';
		buf_putc(&lo, '\0');
		buf_reset(&hi);
		buf_append(&hi, lo.data, lo.len);
		hi.data[hi.len - 1] = 1;
		uint64_t got_bytes = 0, got_points = 0;
		struct store_iter *bi = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
		for (store_iter_seek_first(bi); store_iter_valid(bi); store_iter_next(bi)) {
			size_t bl;
			const char *b = store_iter_value(bi, &bl);
			got_bytes += bl;
			for (size_t i = 0; i < bl; i++)
				got_points += b[i] == '\n';
		}
		store_iter_free(bi);
		if (got_bytes != bytes || got_points != n) {
			buf_printf(report, "metric (%s): %llu points in %llu bytes stored, summary says %llu in %llu\n",
				   what, (unsigned long long)got_points, (unsigned long long)got_bytes,
				   (unsigned long long)n, (unsigned long long)bytes);
			problems++;
		}
		/* The run's latest-metrics record must agree with the summary. */
		char vt[64] = "";
		codec_dget_str(codec_dec_root(d), "vt", vt, sizeof(vt));
		const char *nul = kl > 13 ? memchr(k + 13, '\0', kl - 13) : NULL;
		if (nul && !latest_row_has(s, k, (size_t)(nul - k), nul + 1,
					   kl - (size_t)(nul + 1 - k), vt)) {
			buf_printf(report, "metric (%s): the run's latest-metrics record does not say %s\n",
				   what, vt);
			problems++;
		}
	}
	int rc = store_iter_status(it, err);
	store_iter_free(it);

	/* Runs against their artifact roots. */
	it = store_iter_new(s, NULL, "x/r/", 4, "x/r0", 4);
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		struct blob_stat st;
		uint64_t art = d && codec_dec_reset(d, v, vl) ? codec_dget_u64(codec_dec_root(d), "art", 0) : 0;
		if (art && blob_stat(s, art, &st) == 0 && st.dir)
			continue;
		describe(k, kl, what, sizeof(what));
		buf_printf(report, "run (%s): artifact directory %llu is missing\n",
			   what, (unsigned long long)art);
		problems++;
	}
	if (!rc)
		rc = store_iter_status(it, err);
	store_iter_free(it);
	codec_dec_free(d);
	buf_free(&lo);
	buf_free(&hi);
	return rc ? rc : problems;
}
