/* tracking.c - experiments and runs: their records and keys, and the
 * per-store state and lock all of tracking shares.  Not params and tags
 * (tracking_value.c), metric series (tracking_metric.c), runs.csv
 * (tracking_runs_csv.c) nor the consistency check (tracking_check.c).
 *
 * Records (keys in docs/store-format.md):
 *   x/e/NAME                 experiment {id, description, tags, ctime}
 *   x/r/EID/RUN              run {status, start, end, parent, uid, gid, mode,
 *                            art}, made in one batch with its artifact root
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
 * (one record a run instead of one a metric).  Every writer of a run
 * holds its run's lock and every writer of an experiment record holds
 * the experiments' lock (tracking_int.h), so read-modify-write of a run
 * or a summary never interleaves, and runs of one experiment change in
 * parallel. */
#include "tracking.h"
#include "tracking_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attrs.h"
#include "blob.h"
#include "codec.h"
#include "hash.h"
#include "ids.h"
#include "table.h"

static const char state_key;

static void *state_new(void)
{
	struct tracking_state *t = calloc(1, sizeof(*t));
	if (t) {
		pthread_rwlock_init(&t->exps, NULL);
		for (size_t i = 0; i < TRACKING_STRIPES; i++)
			pthread_mutex_init(&t->runs[i], NULL);
		pthread_mutex_init(&t->cache_lock, NULL);
		pthread_mutex_init(&t->memo_lock, NULL);
	}
	return t;
}

static void state_free(void *p)
{
	struct tracking_state *t = p;
	buf_free(&t->cache_text);
	pthread_rwlock_destroy(&t->exps);
	for (size_t i = 0; i < TRACKING_STRIPES; i++)
		pthread_mutex_destroy(&t->runs[i]);
	pthread_mutex_destroy(&t->cache_lock);
	tracking_memo_free(t->memo);
	pthread_mutex_destroy(&t->memo_lock);
	free(t);
}

struct tracking_state *tracking_state_get(struct store *s)
{
	return store_state(s, &state_key, state_new, state_free);
}

size_t tracking_run_stripe(uint64_t eid, const char *run)
{
	return (size_t)(hash64(run, strlen(run), eid) % TRACKING_STRIPES);
}

int tracking_run_begin(struct store *s, const char *exp, const char *run,
		       uint64_t *eid)
{
	struct tracking_state *t = tracking_state_get(s);
	pthread_rwlock_rdlock(&t->exps);
	int rc = tracking_exp_id(s, exp, eid);
	if (rc) {
		pthread_rwlock_unlock(&t->exps);
		return rc;
	}
	pthread_mutex_lock(&t->runs[tracking_run_stripe(*eid, run)]);
	return 0;
}

void tracking_run_lock(struct store *s, uint64_t eid, const char *run)
{
	struct tracking_state *t = tracking_state_get(s);
	pthread_rwlock_rdlock(&t->exps);
	pthread_mutex_lock(&t->runs[tracking_run_stripe(eid, run)]);
}

void tracking_run_end(struct store *s, uint64_t eid, const char *run)
{
	struct tracking_state *t = tracking_state_get(s);
	pthread_mutex_unlock(&t->runs[tracking_run_stripe(eid, run)]);
	pthread_rwlock_unlock(&t->exps);
}

/* The experiments' lock, for writing (tracking_int.h). */
static void exps_lock(struct store *s)
{
	pthread_rwlock_wrlock(&tracking_state_get(s)->exps);
}

static void exps_unlock(struct store *s)
{
	pthread_rwlock_unlock(&tracking_state_get(s)->exps);
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

void tracking_key_run(struct buf *k, char kind, uint64_t eid, const char *run)
{
	buf_reset(k);
	buf_printf(k, "x/%c/", kind);
	key_put_u64(k, eid);
	buf_putc(k, '/');
	if (run)
		buf_puts(k, run);
}

/* x/KIND/EID/RUN\0KEY (KEY may be NULL: the prefix of the run). */
void tracking_key_item(struct buf *k, char kind, uint64_t eid, const char *run,
		       const char *key)
{
	tracking_key_run(k, kind, eid, run);
	buf_putc(k, '\0');
	if (key)
		buf_puts(k, key);
}

/* ---- experiments ---- */

struct exp {
	uint64_t id;
	int64_t ctime;
	struct buf description, tags;
	uint32_t uid, gid, mode;	/* creator; mode 0: none recorded */
};

static void exp_free(struct exp *e)
{
	buf_free(&e->description);
	buf_free(&e->tags);
}

#define F(key, m, t, d) CODEC_FIELD(key, struct exp, m, CODEC_##t, d)
static const struct codec_field exp_fields[] = {
	F("id", id, UINT, 0), F("ctime", ctime, INT, 0),
	F("description", description, BUF, 0), F("tags", tags, BUF, 0),
	CODEC_OWNER_FIELDS(struct exp, 0),
};
#undef F
#define EXP_FIELDS (sizeof(exp_fields) / sizeof(exp_fields[0]))

static int exp_load(struct store *s, const char *name, struct exp *e)
{
	struct buf k = { 0 };
	memset(e, 0, sizeof(*e));
	key_exp(&k, name);
	int rc = codec_load_fields(s, NULL, &k, e, exp_fields, EXP_FIELDS);
	buf_free(&k);
	return rc;
}

static void exp_put(struct store_batch *b, const char *name, const struct exp *e)
{
	struct buf k = { 0 };
	key_exp(&k, name);
	codec_put_fields(b, &k, e, exp_fields, EXP_FIELDS);
	buf_free(&k);
}

int tracking_write_batch(struct store *s, struct store_batch *b,
			 struct mlfs_err *err)
{
	int rc = store_write(s, b, false, err);
	store_batch_free(b);
	atomic_fetch_add(&tracking_state_get(s)->version, 1);
	return rc;
}

int tracking_experiment_make(struct store *s, const char *name, uint32_t uid,
			     uint32_t gid, uint32_t mode, const char *attrs,
			     struct mlfs_err *err)
{
	struct exp e;
	int rc;

	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, name);
	exps_lock(s);
	if (exp_load(s, name, &e) == 0) {
		exp_free(&e);
		rc = mlfs_fail(err, -EEXIST, "experiment '%s' exists", name);
		goto out;
	}
	memset(&e, 0, sizeof(e));
	if ((rc = ids_next_key(s, "x/n", 3, &e.id, err)))
		goto out;
	e.ctime = (int64_t)time(NULL) * 1000;
	e.uid = uid;
	e.gid = gid;
	e.mode = mode & 07777;
	struct store_batch *b = store_batch_new();
	exp_put(b, name, &e);
	if (attrs)
		attrs_batch_delete_tree(b, attrs);
	rc = tracking_write_batch(s, b, err);
	if (attrs)
		attrs_batch_written(s);
out:
	exps_unlock(s);
	return rc;
}

int tracking_experiment_create(struct store *s, const char *name,
			       struct mlfs_err *err)
{
	return tracking_experiment_make(s, name, 0, 0, 0, NULL, err);
}

int tracking_experiment_owner(struct store *s, const char *name,
			      uint32_t *uid, uint32_t *gid, uint32_t *mode,
			      int64_t *ctime_ms)
{
	struct exp e;
	int rc = exp_load(s, name, &e);
	if (rc)
		return rc;
	if (!e.mode)
		rc = -ENOENT;
	*uid = e.uid;
	*gid = e.gid;
	*mode = e.mode;
	*ctime_ms = e.ctime;
	exp_free(&e);
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

int tracking_experiment_remove(struct store *s, const char *name,
			       const char *attrs, struct mlfs_err *err)
{
	struct exp e;
	struct buf k = { 0 };
	exps_lock(s);
	int rc = exp_load(s, name, &e);
	if (!rc) {
		tracking_key_run(&k, 'r', e.id, NULL);
		if (has_prefix(s, &k)) {
			rc = mlfs_fail(err, -ENOTEMPTY, "experiment '%s' still has runs", name);
		} else {
			struct store_batch *b = store_batch_new();
			key_exp(&k, name);
			store_batch_delete(b, k.data, k.len);
			if (attrs)
				attrs_batch_delete_tree(b, attrs);
			rc = tracking_write_batch(s, b, err);
			if (attrs)
				attrs_batch_written(s);
		}
		exp_free(&e);
	}
	exps_unlock(s);
	buf_free(&k);
	return rc;
}

int tracking_experiment_drop(struct store *s, const char *name,
			     struct mlfs_err *err)
{
	return tracking_experiment_remove(s, name, NULL, err);
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
int tracking_list_keys(struct store *s, const struct buf *prefix,
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

int tracking_list_items(struct store *s, const char *exp, const char *run,
			char kind, int (*fn)(void *ctx, const char *key),
			void *ctx)
{
	uint64_t eid;
	struct buf p = { 0 };
	int rc = tracking_exp_id(s, exp, &eid);
	if (rc)
		return rc;
	tracking_key_item(&p, kind, eid, run, NULL);
	rc = tracking_list_keys(s, &p, fn, ctx);
	buf_free(&p);
	return rc;
}

int tracking_experiment_list(struct store *s,
			     int (*fn)(void *ctx, const char *name), void *ctx)
{
	struct buf p = { 0 };
	buf_puts(&p, "x/e/");
	int rc = tracking_list_keys(s, &p, fn, ctx);
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
	exps_lock(s);
	rc = exp_load(s, name, &e);
	if (!rc) {
		struct buf *b = tags ? &e.tags : &e.description;
		buf_reset(b);
		buf_append(b, text, len);
		struct store_batch *bt = store_batch_new();
		exp_put(bt, name, &e);
		rc = tracking_write_batch(s, bt, err);
		exp_free(&e);
	}
	exps_unlock(s);
	return rc;
}

/* ---- runs ---- */

int tracking_exp_id(struct store *s, const char *exp, uint64_t *id)
{
	struct exp e;
	int rc = exp_load(s, exp, &e);
	if (!rc) {
		*id = e.id;
		exp_free(&e);
	}
	return rc;
}

#define F(key, m, t, d) CODEC_FIELD(key, struct run_info, m, CODEC_##t, d)
static const struct codec_field run_fields[] = {
	F("status", status, UINT, RUN_RUNNING), F("start", start_ms, INT, 0),
	F("end", end_ms, INT, 0), F("parent", parent, CSTR, 0),
	CODEC_OWNER_FIELDS(struct run_info, 0755), F("art", artifacts, UINT, 0),
	{ "o", CODEC_CSTR, offsetof(struct run_info, owner), STORE_WRITER_MAX, 0, true },
};
#undef F
#define RUN_FIELDS (sizeof(run_fields) / sizeof(run_fields[0]))

int tracking_run_load(struct store *s, uint64_t eid, const char *run,
		      struct run_info *r)
{
	struct buf k = { 0 };
	memset(r, 0, sizeof(*r));
	tracking_key_run(&k, 'r', eid, run);
	int rc = codec_load_fields(s, NULL, &k, r, run_fields, RUN_FIELDS);
	buf_free(&k);
	return rc;
}

static void run_put(struct store_batch *b, uint64_t eid, const char *run,
		    const struct run_info *r)
{
	struct buf k = { 0 };
	tracking_key_run(&k, 'r', eid, run);
	codec_put_fields(b, &k, r, run_fields, RUN_FIELDS);
	buf_free(&k);
}

/* The one batch of a new run: its record NEW (status, start, owner,
 * mode, artifacts), a new artifacts root when NEW has none, and the
 * removal of the attrs under ATTRS (may be NULL). */
static int run_create(struct store *s, const char *exp, const char *run,
		      struct run_info *new, const char *attrs,
		      struct mlfs_err *err)
{
	uint64_t eid;
	struct run_info old;
	if (!names_valid(run))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, run);
	int rc = tracking_run_begin(s, exp, run, &eid);
	if (rc)
		return rc;
	if (tracking_run_load(s, eid, run, &old) == 0)
		rc = mlfs_fail(err, -EEXIST, "run '%s' exists", run);
	struct store_batch *b = store_batch_new();
	if (!rc && !new->artifacts)
		rc = blob_root_put(s, b, 0755, new->uid, new->gid, &new->artifacts, err);
	if (!rc) {
		if (attrs)
			attrs_batch_delete_tree(b, attrs);
		run_put(b, eid, run, new);
		rc = tracking_write_batch(s, b, err);
		if (attrs)
			attrs_batch_written(s);
	} else {
		store_batch_free(b);
	}
	tracking_run_end(s, eid, run);
	return rc;
}

int tracking_run_create(struct store *s, const char *exp, const char *run,
			int64_t now_ms, uint32_t uid, uint32_t gid,
			uint64_t artifacts, struct mlfs_err *err)
{
	struct run_info r = {
		.status = RUN_RUNNING, .start_ms = now_ms, .uid = uid,
		.gid = gid, .mode = 0755, .artifacts = artifacts,
	};
	return run_create(s, exp, run, &r, NULL, err);
}

int tracking_run_make(struct store *s, const char *exp, const char *run,
		      int64_t now_ms, uint32_t uid, uint32_t gid, uint32_t mode,
		      const char *attrs, struct mlfs_err *err)
{
	struct run_info r = {
		.status = RUN_RUNNING, .start_ms = now_ms, .uid = uid,
		.gid = gid, .mode = mode & 07777,
	};
	return run_create(s, exp, run, &r, attrs, err);
}

static void delete_item_range(struct store_batch *b, char kind, uint64_t eid,
			      const char *run)
{
	struct buf lo = { 0 }, hi = { 0 };
	tracking_key_item(&lo, kind, eid, run, NULL);
	tracking_key_item(&hi, kind, eid, run, NULL);
	hi.data[hi.len - 1] = 1;	/* RUN\0 .. RUN\1 */
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
}

/* Drop run RUN of EXP; RELEASE: with its hold on its artifacts tree and
 * the attrs under ATTRS (may be NULL), all in one batch. */
static int run_drop(struct store *s, const char *exp, const char *run,
		    bool release, const char *attrs, struct mlfs_err *err)
{
	uint64_t eid;
	struct run_info r;
	struct buf k = { 0 };
	int rc = tracking_run_begin(s, exp, run, &eid);
	if (rc)
		return rc;
	rc = tracking_run_load(s, eid, run, &r);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		tracking_key_run(&k, 'r', eid, run);
		store_batch_delete(b, k.data, k.len);
		delete_item_range(b, 'p', eid, run);
		delete_item_range(b, 't', eid, run);
		delete_item_range(b, 'm', eid, run);
		delete_item_range(b, 'l', eid, run);
		tracking_key_run(&k, 'L', eid, run);
		store_batch_delete(b, k.data, k.len);
		if (attrs)
			attrs_batch_delete_tree(b, attrs);
		if (release && r.artifacts) {
			rc = blob_root_release_write(s, r.artifacts, b, err);
			store_batch_free(b);
			atomic_fetch_add(&tracking_state_get(s)->version, 1);
		} else {
			rc = tracking_write_batch(s, b, err);
		}
		if (attrs)
			attrs_batch_written(s);
	}
	tracking_run_end(s, eid, run);
	buf_free(&k);
	return rc;
}

int tracking_run_drop(struct store *s, const char *exp, const char *run,
		      struct mlfs_err *err)
{
	return run_drop(s, exp, run, false, NULL, err);
}

int tracking_run_remove(struct store *s, const char *exp, const char *run,
			const char *attrs, struct mlfs_err *err)
{
	return run_drop(s, exp, run, true, attrs, err);
}

int tracking_run_get(struct store *s, const char *exp, const char *run,
		     struct run_info *out)
{
	uint64_t eid;
	int rc = tracking_exp_id(s, exp, &eid);
	return rc ? rc : tracking_run_load(s, eid, run, out);
}

int tracking_run_list(struct store *s, const char *exp,
		      int (*fn)(void *ctx, const char *run), void *ctx)
{
	uint64_t eid;
	struct buf p = { 0 };
	int rc = tracking_exp_id(s, exp, &eid);
	if (rc)
		return rc;
	tracking_key_run(&p, 'r', eid, NULL);
	rc = tracking_list_keys(s, &p, fn, ctx);
	buf_free(&p);
	return rc;
}

/* Strip one trailing "\n" (and a "\r" before it). */
size_t tracking_chomp(const char *text, size_t len)
{
	if (len && text[len - 1] == '\n')
		len--;
	if (len && text[len - 1] == '\r')
		len--;
	return len;
}

/* Rewrite RUN's record with NEW's status and end time, or (OWNER) its
 * owner, in one batch. */
static int run_update(struct store *s, const char *exp, const char *run,
		      const struct run_info *new, bool owner, struct mlfs_err *err)
{
	uint64_t eid;
	struct run_info r;
	int rc = tracking_run_begin(s, exp, run, &eid);
	if (rc)
		return rc;
	rc = tracking_run_load(s, eid, run, &r);
	if (!rc) {
		if (owner) {
			memcpy(r.owner, new->owner, sizeof(r.owner));
		} else {
			r.status = new->status;
			r.end_ms = new->end_ms;
		}
		struct store_batch *b = store_batch_new();
		run_put(b, eid, run, &r);
		rc = tracking_write_batch(s, b, err);
	}
	tracking_run_end(s, eid, run);
	return rc;
}

int tracking_run_set_status(struct store *s, const char *exp, const char *run,
			    const char *text, size_t len, int64_t now_ms,
			    bool apply, struct mlfs_err *err)
{
	static const enum run_status ends[] = { RUN_FINISHED, RUN_FAILED, RUN_KILLED };
	enum run_status st = 0;
	len = tracking_chomp(text, len);
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
	struct run_info r = { .status = st, .end_ms = now_ms };
	return run_update(s, exp, run, &r, false, err);
}

int tracking_run_set_owner(struct store *s, const char *exp, const char *run,
			   const char *owner, struct mlfs_err *err)
{
	struct run_info r = { 0 };
	snprintf(r.owner, sizeof(r.owner), "%s", owner);
	return run_update(s, exp, run, &r, true, err);
}

int tracking_run_set_parent(struct store *s, const char *exp, const char *run,
			    const char *parent, struct mlfs_err *err)
{
	uint64_t eid;
	struct run_info r, p;
	exps_lock(s);
	int rc = tracking_exp_id(s, exp, &eid);
	if (!rc)
		rc = tracking_run_load(s, eid, run, &r);
	if (!rc && parent && tracking_run_load(s, eid, parent, &p))
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
			if (tracking_run_load(s, eid, cur, &p))
				break;
			snprintf(cur, sizeof(cur), "%s", p.parent);
		}
	}
	if (!rc) {
		snprintf(r.parent, sizeof(r.parent), "%s", parent ? parent : "");
		struct store_batch *b = store_batch_new();
		run_put(b, eid, run, &r);
		rc = tracking_write_batch(s, b, err);
	}
	exps_unlock(s);
	return rc;
}
