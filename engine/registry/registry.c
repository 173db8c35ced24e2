/* registry.c - registered models: their records, descriptions and tags,
 * and the keys, lock and helpers the registry's other files share
 * (registry_int.h).  Versions are version.c's, aliases and history
 * alias.c's, the consistency check check.c's. */
#include "registry_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrs.h"
#include "blob.h"
#include "clock.h"
#include "codec.h"
#include "csv.h"
#include "features.h"
#include "ids.h"

static const char lock_key;

pthread_mutex_t *reg_lock(struct store *s)
{
	return store_lock(s, &lock_key);
}

void reg_key_model(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_puts(k, "r/m/");
	buf_puts(k, name);
}

void reg_key_id(struct buf *k, char c, uint64_t mid, bool has_n, uint64_t n)
{
	buf_reset(k);
	buf_printf(k, "r/%c/", c);
	key_put_u64(k, mid);
	if (has_n)
		key_put_u64(k, n);
}

void reg_key_alias(struct buf *k, uint64_t mid, const char *alias)
{
	reg_key_id(k, 'a', mid, false, 0);
	buf_puts(k, alias);
}

void reg_pin_holder(char out[64], uint64_t mid, uint64_t n)
{
	snprintf(out, 64, "registry/%" PRIu64 "/%" PRIu64, mid, n);
}

const char *registry_stage_name(enum registry_stage st)
{
	switch (st) {
	case REGISTRY_STAGING: return "Staging";
	case REGISTRY_PRODUCTION: return "Production";
	case REGISTRY_ARCHIVED: return "Archived";
	default: return "None";
	}
}

/* ---- the model record ---- */

#define F(key, m, t, d) CODEC_FIELD(key, struct reg_model, m, CODEC_##t, d)
static const struct codec_field model_fields[] = {
	F("id", id, UINT, 0), F("ctime", ctime, INT, 0),
	F("mtime", mtime, INT, 0), CODEC_OWNER_FIELDS(struct reg_model, 0755),
	F("next", next, UINT, 1), F("hseq", hseq, UINT, 0),
};
#undef F

int reg_model_load(struct store *s, const struct store_snapshot *snap,
		   const char *name, struct reg_model *m)
{
	struct buf k = { 0 };
	if (!names_valid(name))
		return -ENOENT;
	reg_key_model(&k, name);
	int rc = codec_load_fields(s, snap, &k, m, model_fields, 8);
	if (!rc && !m->id)
		rc = -EIO;
	buf_free(&k);
	return rc;
}

void reg_model_put(struct store_batch *b, const char *name,
		   const struct reg_model *m)
{
	struct buf k = { 0 };
	reg_key_model(&k, name);
	codec_put_fields(b, &k, m, model_fields, 8);
	buf_free(&k);
}

/* ---- the generation: bumped after every change of what names resolve
 * to (models, versions, aliases) ---- */

static const char generation_key;

static void *generation_make(void)
{
	uint64_t *g = calloc(1, sizeof(*g));
	if (!g)
		mlfs_oom();
	return g;
}

static uint64_t *generation(struct store *s)
{
	return store_state(s, &generation_key, generation_make, free);
}

uint64_t registry_generation(struct store *s)
{
	return __atomic_load_n(generation(s), __ATOMIC_ACQUIRE);
}

void reg_changed(struct store *s)
{
	__atomic_add_fetch(generation(s), 1, __ATOMIC_RELEASE);
}

int reg_commit(struct store *s, struct store_batch *b, const char *name,
	       struct reg_model *m, struct mlfs_err *err)
{
	m->mtime = clock_now_ms();
	reg_model_put(b, name, m);
	int rc = store_write(s, b, false, err);
	store_batch_free(b);
	reg_changed(s);
	return rc;
}

bool reg_version_exists(struct store *s, const struct store_snapshot *snap,
			uint64_t mid, uint64_t n)
{
	struct buf k = { 0 }, v = { 0 };
	reg_key_id(&k, 'v', mid, true, n);
	bool yes = n > 0 && store_get(s, snap, k.data, k.len, &v, NULL) == 0;
	buf_free(&k);
	buf_free(&v);
	return yes;
}

void reg_delete_model_keys(struct store_batch *b, uint64_t mid, const char *cs)
{
	struct buf lo = { 0 }, hi = { 0 };
	for (; *cs; cs++) {
		reg_key_id(&lo, *cs, mid, false, 0);
		reg_key_id(&hi, *cs, mid + 1, false, 0);
		store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	}
	buf_free(&lo);
	buf_free(&hi);
}

/* ---- registered models ---- */

int registry_model_create(struct store *s, const char *name, uint32_t uid,
			  uint32_t gid, uint32_t mode, const char *attrs,
			  struct mlfs_err *err)
{
	struct reg_model m = { 0 };
	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid model name '%s': " NAMES_RULE, name);
	pthread_mutex_lock(reg_lock(s));
	int rc = reg_model_load(s, NULL, name, &m);
	if (rc == 0)
		rc = mlfs_fail(err, -EEXIST, "model '%s' exists", name);
	else if (rc == -ENOENT)
		rc = ids_next(s, "model", &m.id, err);
	if (!rc) {
		m.ctime = clock_now_ms();
		m.uid = uid;
		m.gid = gid;
		m.mode = mode & 07777;
		m.next = 1;
		struct store_batch *b = store_batch_new();
		if (attrs)
			attrs_batch_delete_tree(b, attrs);
		rc = reg_commit(s, b, name, &m, err);
		if (attrs)
			attrs_batch_written(s);
	}
	pthread_mutex_unlock(reg_lock(s));
	return rc;
}

/* What each version of a model pins: its run's artifact root. */
struct pin_ref {
	uint64_t root, version;
};

struct pin_refs {
	struct pin_ref *v;
	size_t n, cap;
};

/* Collect what each version of model MID pins, and delete its lineage
 * keys into B. */
static int collect_pins(struct store *s, uint64_t mid, struct pin_refs *p,
			struct store_batch *b)
{
	struct buf lo = { 0 }, hi = { 0 };
	reg_key_id(&lo, 'v', mid, false, 0);
	reg_key_id(&hi, 'v', mid + 1, false, 0);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		struct dec *d = codec_dec_new(v, vl);
		if (d && kl == lo.len + 8) {
			if (p->n == p->cap) {
				p->cap = p->cap ? 2 * p->cap : 16;
				p->v = realloc(p->v, p->cap * sizeof(*p->v));
				if (!p->v)
					mlfs_oom();
			}
			struct dval r = codec_dec_root(d), f;
			const char *text;
			size_t len;
			p->v[p->n].root = codec_dget_u64(r, "rid", 0);
			p->v[p->n].version = key_get_u64(k + lo.len);
			if (codec_dval_get(r, "features", &f) && codec_dval_str(f, &text, &len))
				reg_lineage_delete(b, mid, p->v[p->n].version, text, len);
			p->n++;
		}
		codec_dec_free(d);
	}
	int rc = store_iter_status(it, NULL);
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int registry_model_delete(struct store *s, const char *name,
			  const char *attrs, struct mlfs_err *err)
{
	struct reg_model m;
	struct pin_refs p = { 0 };
	struct buf k = { 0 };
	char held_by[REGISTRY_HOLDER_MAX + 1];
	struct store_batch *b = store_batch_new();
	pthread_mutex_lock(reg_lock(s));
	int rc = reg_model_load(s, NULL, name, &m);
	if (rc == -ENOENT)
		rc = mlfs_fail(err, -ENOENT, "no model '%s'", name);
	if (!rc && reg_held(s, m.id, true, 0, held_by))
		rc = mlfs_fail(err, -EBUSY, "%s serves model '%s'", held_by, name);
	if (!rc)
		rc = collect_pins(s, m.id, &p, b);
	if (!rc) {
		reg_delete_model_keys(b, m.id, "vxazhe");
		reg_key_model(&k, name);
		store_batch_delete(b, k.data, k.len);
		if (attrs)
			attrs_batch_delete_tree(b, attrs);
		rc = store_write(s, b, false, err);
		if (attrs)
			attrs_batch_written(s);
		reg_changed(s);
	}
	store_batch_free(b);
	/* The records are gone; now the pins (a crash here leaks a pin, which
	 * registry_check reports, and never breaks a version). */
	for (size_t i = 0; !rc && i < p.n; i++) {
		char holder[64];
		reg_pin_holder(holder, m.id, p.v[i].version);
		blob_root_unpin(s, p.v[i].root, holder, NULL);
	}
	pthread_mutex_unlock(reg_lock(s));
	free(p.v);
	buf_free(&k);
	return rc;
}

static uint64_t latest_version(struct store *s, uint64_t mid)
{
	struct buf lo = { 0 }, hi = { 0 };
	uint64_t n = 0;
	reg_key_id(&lo, 'v', mid, false, 0);
	reg_key_id(&hi, 'v', mid + 1, false, 0);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	store_iter_seek_last(it);
	if (store_iter_valid(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl == lo.len + 8)
			n = key_get_u64(k + lo.len);
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return n;
}

int registry_model_get(struct store *s, const char *name,
		       struct registry_model *out)
{
	struct reg_model m;
	int rc = reg_model_load(s, NULL, name, &m);
	if (rc)
		return rc;
	out->id = m.id;
	out->created_ms = m.ctime;
	out->updated_ms = m.mtime;
	out->uid = m.uid;
	out->gid = m.gid;
	out->mode = m.mode;
	out->next_version = m.next;
	out->latest = latest_version(s, m.id);
	return 0;
}

int registry_model_list(struct store *s,
			int (*fn)(void *ctx, const char *name), void *ctx)
{
	return store_list_names(s, "r/m/", NAMES_MAX, fn, ctx);
}

/* ---- description and tags ---- */

static int text_field(const char *field, char *c)
{
	if (!strcmp(field, "description"))
		*c = 'd';
	else if (!strcmp(field, "tags"))
		*c = 'g';
	else
		return -ENOENT;
	return 0;
}

static void key_text(struct buf *k, uint64_t mid, uint64_t version, char c)
{
	reg_key_id(k, 'x', mid, true, version);
	buf_putc(k, c);
}

int registry_text_get(struct store *s, const char *name, uint64_t version,
		      const char *field, struct buf *out)
{
	struct reg_model m;
	struct buf k = { 0 };
	char c;
	buf_reset(out);
	int rc = text_field(field, &c);
	struct store_snapshot *snap = store_snapshot_new(s);
	if (!rc)
		rc = reg_model_load(s, snap, name, &m);
	if (!rc && version && !reg_version_exists(s, snap, m.id, version))
		rc = -ENOENT;
	if (!rc) {
		key_text(&k, m.id, version, c);
		rc = store_get(s, snap, k.data, k.len, out, NULL);
		if (rc == -ENOENT)
			rc = 0;		/* never set: empty */
	}
	store_snapshot_free(s, snap);
	buf_free(&k);
	return rc;
}

static int text_check(char c, const char *text, size_t len,
		      struct mlfs_err *err)
{
	if (len > REGISTRY_TEXT_MAX)
		return mlfs_fail(err, -EFBIG, "%s: over %u bytes", c == 'd' ? "description" : "tags", REGISTRY_TEXT_MAX);
	if (c == 'g')
		return features_tags_validate(text, len, err);
	if (!csv_utf8_valid(text, len) || memchr(text, '\0', len))
		return mlfs_fail(err, -EINVAL, "description must be UTF-8 text");
	return 0;
}

int registry_text_set(struct store *s, const char *name, uint64_t version,
		      const char *field, const char *text, size_t len,
		      bool apply, struct mlfs_err *err)
{
	struct reg_model m;
	struct buf k = { 0 };
	char c;
	int rc = text_field(field, &c);
	if (rc)
		return mlfs_fail(err, rc, "no text '%s' here", field);
	if ((rc = text_check(c, text, len, err)) || !apply)
		return rc;
	pthread_mutex_lock(reg_lock(s));
	rc = reg_model_load(s, NULL, name, &m);
	if (!rc && version && !reg_version_exists(s, NULL, m.id, version))
		rc = mlfs_fail(err, -ENOENT, "model '%s' has no version %" PRIu64, name, version);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		key_text(&k, m.id, version, c);
		store_batch_put(b, k.data, k.len, text, len);
		rc = reg_commit(s, b, name, &m, err);
	}
	pthread_mutex_unlock(reg_lock(s));
	buf_free(&k);
	return rc;
}
