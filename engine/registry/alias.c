/* alias.c - aliases of model versions, the stage they give a version
 * (MLflow's archive rule) and the history of every alias change.
 *
 * Each change (set, rename, remove) is one batch under the registry lock
 * holding: the alias records, a history line per alias touched (SEQ from
 * the model's hseq, so the history's order is the order of the changes),
 * and the Archived marks: a version Production or Staging leaves gets
 * r/z/MID N, a version any alias arrives at loses it (leaves first, then
 * arrivals, in the same batch). */
#include "registry_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "clock.h"
#include "codec.h"
#include "csv.h"
#include "types.h"
#include "tracking.h"

static const char *const reserved[] = {
	"versions", "register", "history.csv", "description", "tags", "latest",
	NULL,
};

bool registry_alias_reserved(const char *alias)
{
	for (size_t i = 0; reserved[i]; i++)
		if (!strcmp(alias, reserved[i]))
			return true;
	return false;
}

static int alias_check(const char *alias, struct mlfs_err *err)
{
	if (!names_valid(alias))
		return mlfs_fail(err, -EINVAL, "invalid alias '%s': " NAMES_RULE, alias);
	if (registry_alias_reserved(alias))
		return mlfs_fail(err, -EINVAL, "'%s' is a reserved name in a model's folder, not an alias", alias);
	return 0;
}

static bool is_production(const char *alias)
{
	return !strcasecmp(alias, "Production");
}

static bool is_stage(const char *alias)
{
	return is_production(alias) || !strcasecmp(alias, "Staging");
}

/* The version ALIAS points at.  -ENOENT. */
static int alias_load(struct store *s, const struct store_snapshot *snap,
		      uint64_t mid, const char *alias, uint64_t *version)
{
	struct buf k = { 0 }, v = { 0 };
	reg_key_alias(&k, mid, alias);
	int rc = store_get(s, snap, k.data, k.len, &v, NULL);
	if (!rc && v.len != 8)
		rc = -EIO;
	if (!rc)
		*version = key_get_u64(v.data);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

bool reg_alias_exists(struct store *s, uint64_t mid, const char *alias)
{
	uint64_t v;
	return alias_load(s, NULL, mid, alias, &v) == 0;
}

int reg_alias_walk(struct store *s, const struct store_snapshot *snap,
		   uint64_t mid,
		   int (*fn)(void *ctx, const char *alias, uint64_t version),
		   void *ctx)
{
	struct buf lo = { 0 }, hi = { 0 };
	char alias[NAMES_MAX + 1];
	int rc = 0;
	reg_key_id(&lo, 'a', mid, false, 0);
	reg_key_id(&hi, 'a', mid + 1, false, 0);
	struct store_iter *it = store_iter_new(s, snap, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		if (kl - lo.len > NAMES_MAX || vl != 8)
			continue;
		memcpy(alias, k + lo.len, kl - lo.len);
		alias[kl - lo.len] = '\0';
		rc = fn(ctx, alias, key_get_u64(v));
	}
	return store_iter_end(it, rc, &lo, &hi);
}

/* ---- one change: its batch, history lines and Archived marks ---- */

struct change {
	struct store_batch *b;
	struct reg_model *m;
	uint32_t uid;
	const char *by;		/* what made the change ("job:NAME/ID"), or NULL */
	int64_t now;
};

static void history_put(struct change *ch, const char *alias, uint64_t from,
			uint64_t to)
{
	struct buf k = { 0 }, v = { 0 };
	reg_key_id(&k, 'h', ch->m->id, true, ch->m->hseq++);
	codec_enc_map(&v, ch->by ? 6 : 5);
	codec_enc_cstr(&v, "t");
	codec_enc_i64(&v, ch->now);
	codec_enc_cstr(&v, "alias");
	codec_enc_cstr(&v, alias);
	codec_enc_cstr(&v, "from");
	codec_enc_u64(&v, from);
	codec_enc_cstr(&v, "to");
	codec_enc_u64(&v, to);
	codec_enc_cstr(&v, "uid");
	codec_enc_u64(&v, ch->uid);
	if (ch->by) {
		codec_enc_cstr(&v, "by");
		codec_enc_cstr(&v, ch->by);
	}
	store_batch_put(ch->b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

static void alias_put(struct change *ch, const char *alias, uint64_t version)
{
	struct buf k = { 0 };
	char v[8];
	for (int i = 0; i < 8; i++)
		v[i] = (char)(version >> (56 - 8 * i));
	reg_key_alias(&k, ch->m->id, alias);
	store_batch_put(ch->b, k.data, k.len, v, 8);
	buf_free(&k);
}

static void alias_delete(struct change *ch, const char *alias)
{
	struct buf k = { 0 };
	reg_key_alias(&k, ch->m->id, alias);
	store_batch_delete(ch->b, k.data, k.len);
	buf_free(&k);
}

/* ALIAS left VERSION: Archived-eligible when ALIAS is a stage. */
static void leave(struct change *ch, const char *alias, uint64_t version)
{
	struct buf k = { 0 };
	if (!version || !is_stage(alias))
		return;
	reg_key_id(&k, 'z', ch->m->id, true, version);
	store_batch_put(ch->b, k.data, k.len, "", 0);
	buf_free(&k);
}

/* An alias arrived at VERSION: not Archived any more. */
static void arrive(struct change *ch, uint64_t version)
{
	struct buf k = { 0 };
	reg_key_id(&k, 'z', ch->m->id, true, version);
	store_batch_delete(ch->b, k.data, k.len);
	buf_free(&k);
}

/* Lock, load model NAME and start a change; -ENOENT with ERR. */
static int change_begin(struct store *s, const char *name, struct reg_model *m,
			struct change *ch, uint32_t uid, struct mlfs_err *err)
{
	pthread_mutex_lock(reg_lock(s));
	int rc = reg_model_load(s, NULL, name, m);
	if (rc) {
		pthread_mutex_unlock(reg_lock(s));
		return rc == -ENOENT ? mlfs_fail(err, rc, "no model '%s'", name) : rc;
	}
	ch->b = store_batch_new();
	ch->m = m;
	ch->uid = uid;
	ch->by = NULL;
	ch->now = clock_now_ms();
	return 0;
}

/* Commit the change when RC is 0 (else drop it) and unlock. */
static int change_end(struct store *s, const char *name, struct change *ch,
		      int rc, struct mlfs_err *err)
{
	if (!rc)
		rc = reg_commit(s, ch->b, name, ch->m, err);
	else
		store_batch_free(ch->b);
	pthread_mutex_unlock(reg_lock(s));
	return rc;
}

int registry_alias_set(struct store *s, const char *name, const char *alias,
		       uint64_t version, uint32_t uid, struct mlfs_err *err)
{
	return registry_alias_set_by(s, name, alias, version, uid, NULL, err);
}

int registry_alias_set_by(struct store *s, const char *name, const char *alias,
			  uint64_t version, uint32_t uid, const char *by,
			  struct mlfs_err *err)
{
	struct reg_model m;
	struct change ch;
	uint64_t old = 0;
	int rc = alias_check(alias, err);
	if (rc || (rc = change_begin(s, name, &m, &ch, uid, err)))
		return rc;
	ch.by = by;
	if (!reg_version_exists(s, NULL, m.id, version))
		rc = mlfs_fail(err, -EINVAL, "model '%s' has no version %" PRIu64, name, version);
	if (!rc) {
		alias_load(s, NULL, m.id, alias, &old);
		alias_put(&ch, alias, version);
		history_put(&ch, alias, old, version);
		if (old != version)
			leave(&ch, alias, old);
		arrive(&ch, version);
	}
	return change_end(s, name, &ch, rc, err);
}

/* -EBUSY when something serves model NAME by ALIAS. */
static int alias_busy(struct store *s, const struct reg_model *m,
		      const char *name, const char *alias, struct mlfs_err *err)
{
	char holder[REGISTRY_HOLDER_MAX + 1];
	if (!reg_alias_held(s, m->id, alias, holder))
		return 0;
	return mlfs_fail(err, -EBUSY, "%s serves %s@%s: change its traffic first (the alias may move, not go)",
			 holder, name, alias);
}

int registry_alias_rename(struct store *s, const char *name, const char *from,
			  const char *to, bool noreplace, uint32_t uid,
			  struct mlfs_err *err)
{
	struct reg_model m;
	struct change ch;
	uint64_t v, w = 0;
	int rc = alias_check(to, err);
	if (rc || (rc = change_begin(s, name, &m, &ch, uid, err)))
		return rc;
	if (alias_load(s, NULL, m.id, from, &v))
		rc = mlfs_fail(err, -ENOENT, "model '%s' has no alias '%s'", name, from);
	else if (strcmp(from, to) && (rc = alias_busy(s, &m, name, from, err)))
		;
	else if (alias_load(s, NULL, m.id, to, &w) == 0 && noreplace && strcmp(from, to))
		rc = mlfs_fail(err, -EEXIST, "alias '%s' exists", to);
	if (!rc && strcmp(from, to)) {
		alias_delete(&ch, from);
		alias_put(&ch, to, v);
		history_put(&ch, from, v, 0);
		history_put(&ch, to, w, v);
		leave(&ch, from, v);
		if (w != v)
			leave(&ch, to, w);
		arrive(&ch, v);
	}
	return change_end(s, name, &ch, rc, err);
}

int registry_alias_remove(struct store *s, const char *name,
			  const char *alias, uint32_t uid,
			  struct mlfs_err *err)
{
	struct reg_model m;
	struct change ch;
	uint64_t old;
	int rc = change_begin(s, name, &m, &ch, uid, err);
	if (rc)
		return rc;
	if (!names_valid(alias) || alias_load(s, NULL, m.id, alias, &old))
		rc = mlfs_fail(err, -ENOENT, "model '%s' has no alias '%s'", name, alias);
	if (!rc)
		rc = alias_busy(s, &m, name, alias, err);
	if (!rc) {
		alias_delete(&ch, alias);
		history_put(&ch, alias, old, 0);
		leave(&ch, alias, old);
	}
	return change_end(s, name, &ch, rc, err);
}

int registry_alias_get(struct store *s, const char *name, const char *alias,
		       uint64_t *version)
{
	struct reg_model m;
	int rc = reg_model_load(s, NULL, name, &m);
	if (!rc && !names_valid(alias))
		rc = -ENOENT;
	return rc ? rc : alias_load(s, NULL, m.id, alias, version);
}

int registry_resolve(struct store *s, const char *name, const char *ref,
		     uint64_t *version, struct mlfs_err *err)
{
	struct reg_model m;
	struct registry_version v;
	int64_t n;
	if (reg_model_load(s, NULL, name, &m))
		return mlfs_fail(err, -ENOENT, "no model '%s'", name);
	if (value_parse_int(ref, strlen(ref), &n) && n > 0) {
		if (registry_version_get(s, name, (uint64_t)n, &v))
			return mlfs_fail(err, -ENOENT, "model %s has no version %s", name, ref);
		*version = (uint64_t)n;
		return 0;
	}
	if (!names_valid(ref) || alias_load(s, NULL, m.id, ref, version))
		return mlfs_fail(err, -ENOENT, "model %s has no alias or version '%s'", name, ref);
	return 0;
}

int registry_alias_list(struct store *s, const char *name,
			int (*fn)(void *ctx, const char *alias, uint64_t version),
			void *ctx)
{
	struct reg_model m;
	int rc = reg_model_load(s, NULL, name, &m);
	return rc ? rc : reg_alias_walk(s, NULL, m.id, fn, ctx);
}

/* ---- stage and aliases of a version ---- */

struct pointing {
	uint64_t version;
	struct buf *names;	/* may be NULL */
	bool production, staging;
};

static int add_pointing(void *ctx, const char *alias, uint64_t version)
{
	struct pointing *p = ctx;
	if (version != p->version)
		return 0;
	if (p->names)
		buf_printf(p->names, "%s\n", alias);
	if (is_production(alias))
		p->production = true;
	else if (is_stage(alias))
		p->staging = true;
	return 0;
}

static enum registry_stage stage_of(struct store *s,
				    const struct store_snapshot *snap,
				    uint64_t mid, struct pointing *p)
{
	struct buf k = { 0 }, v = { 0 };
	if (reg_alias_walk(s, snap, mid, add_pointing, p))
		return REGISTRY_NONE;
	if (p->production)
		return REGISTRY_PRODUCTION;
	if (p->staging)
		return REGISTRY_STAGING;
	reg_key_id(&k, 'z', mid, true, p->version);
	bool archived = store_get(s, snap, k.data, k.len, &v, NULL) == 0;
	buf_free(&k);
	buf_free(&v);
	return archived ? REGISTRY_ARCHIVED : REGISTRY_NONE;
}

int reg_version_alias_text(struct store *s, const char *name, uint64_t version,
			   const char *file, struct buf *out)
{
	struct reg_model m;
	struct pointing p = { version, NULL, false, false };
	bool stage = !strcmp(file, "stage");
	struct store_snapshot *snap = store_snapshot_new(s);
	int rc = reg_model_load(s, snap, name, &m);
	if (!rc && !reg_version_exists(s, snap, m.id, version))
		rc = -ENOENT;
	if (!rc && stage)
		buf_printf(out, "%s\n", registry_stage_name(stage_of(s, snap, m.id, &p)));
	else if (!rc) {
		p.names = out;
		rc = reg_alias_walk(s, snap, m.id, add_pointing, &p);
	}
	store_snapshot_free(s, snap);
	return rc;
}

enum registry_stage registry_version_stage(struct store *s, const char *name,
					   uint64_t version)
{
	struct reg_model m;
	struct pointing p = { version, NULL, false, false };
	enum registry_stage st = REGISTRY_NONE;
	struct store_snapshot *snap = store_snapshot_new(s);
	if (reg_model_load(s, snap, name, &m) == 0 &&
	    reg_version_exists(s, snap, m.id, version))
		st = stage_of(s, snap, m.id, &p);
	store_snapshot_free(s, snap);
	return st;
}

/* ---- history.csv ---- */

static void history_line(struct buf *out, struct dval r)
{
	char t[32], alias[NAMES_MAX + 1] = "";
	tracking_fmt_time(t, codec_dget_i64(r, "t", 0));
	codec_dget_str(r, "alias", alias, sizeof(alias));
	buf_printf(out, "%s,%s,", t, alias);
	uint64_t from = codec_dget_u64(r, "from", 0);
	uint64_t to = codec_dget_u64(r, "to", 0);
	if (from)
		buf_printf(out, "%" PRIu64, from);
	buf_putc(out, ',');
	if (to)
		buf_printf(out, "%" PRIu64, to);
	char by[2 * NAMES_MAX + 32] = "";
	codec_dget_str(r, "by", by, sizeof(by));
	buf_printf(out, ",%" PRIu64 ",", codec_dget_u64(r, "uid", 0));
	csv_put_field(out, by, strlen(by));
	buf_putc(out, '\n');
}

int registry_history_csv(struct store *s, const char *name, struct buf *out)
{
	struct reg_model m;
	struct buf lo = { 0 }, hi = { 0 };
	buf_reset(out);
	struct store_snapshot *snap = store_snapshot_new(s);
	int rc = reg_model_load(s, snap, name, &m);
	if (rc || cache_get(s, CACHE_MODEL_HISTORY, m.id, m.hseq, out))
		goto out;	/* history lines never change: hseq versions it */
	buf_puts(out, "time,alias,from,to,uid,by\n");
	reg_key_id(&lo, 'h', m.id, false, 0);
	reg_key_id(&hi, 'h', m.id + 1, false, 0);
	struct store_iter *it = store_iter_new(s, snap, lo.data, lo.len, hi.data, hi.len);
	struct dec *d = NULL;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t vl;
		const char *v = store_iter_value(it, &vl);
		if (!d)
			d = codec_dec_new(v, vl);
		else if (!codec_dec_reset(d, v, vl))
			continue;
		if (d)
			history_line(out, codec_dec_root(d));
	}
	rc = store_iter_status(it, NULL);
	codec_dec_free(d);
	store_iter_free(it);
	if (!rc)
		cache_put(s, CACHE_MODEL_HISTORY, m.id, m.hseq, out);
out:
	store_snapshot_free(s, snap);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}
