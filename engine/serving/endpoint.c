/* endpoint.c - endpoint records and their texts: create, delete, list,
 * traffic (checked against the registry, with holds on what it names)
 * and config.yaml.  Scoring, routing and statistics are live.c's; the
 * inference log is inflog.c's. */
#include "serving_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrs.h"
#include "clock.h"
#include "codec.h"
#include "ids.h"
#include "names.h"
#include "registry.h"
#include "spec.h"
#include "types.h"

static const char lock_key;

static pthread_mutex_t *ep_lock(struct store *s)
{
	return store_lock(s, &lock_key);
}

static void key_record(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_puts(k, "e/m/");
	buf_puts(k, name);
}

void ep_key(struct buf *k, char kind, uint64_t id)
{
	buf_reset(k);
	buf_printf(k, "e/%c/", kind);
	key_put_u64(k, id);
}

/* ---- config.yaml ---- */

void endpoint_config_default(struct endpoint_config *c)
{
	memset(c, 0, sizeof(*c));
	c->log = true;
	c->log_sample = 1;
	c->log_retention_rows = 1000000;
	c->log_retention_days = 30;
	c->max_request_bytes = 16u << 20;
}

static int want_u64(const struct spec_node *v, const char *key, uint64_t lo,
		    uint64_t hi, uint64_t *out, struct mlfs_err *err)
{
	int64_t i;
	if (v->kind != SPEC_SCALAR || !value_parse_int(v->str, v->len, &i) ||
	    i < (int64_t)lo || (uint64_t)i > hi)
		return spec_fail_at(err, v, -EINVAL, "%s is a whole number from %" PRIu64 " to %" PRIu64,
				    key, lo, hi);
	*out = (uint64_t)i;
	return 0;
}

static int config_value(const struct spec_node *k, const struct spec_node *v,
			struct endpoint_config *c, struct mlfs_err *err)
{
	const char *key = k->str;
	if (!strcmp(key, "idle_unload"))
		return want_u64(v, key, 0, 365u * 86400, &c->idle_unload, err);
	if (!strcmp(key, "log_retention_rows"))
		return want_u64(v, key, 1, UINT64_C(1) << 40, &c->log_retention_rows, err);
	if (!strcmp(key, "log_retention_days"))
		return want_u64(v, key, 1, 36500, &c->log_retention_days, err);
	if (!strcmp(key, "max_request_bytes"))
		return want_u64(v, key, 64, 1u << 30, &c->max_request_bytes, err);
	if (!strcmp(key, "seed"))
		return want_u64(v, key, 0, INT64_MAX, &c->seed, err);
	if (v->kind != SPEC_SCALAR)
		return spec_fail_at(err, v, -EINVAL, "%s is a single value", key);
	if (!strcmp(key, "log")) {
		if (!value_parse_bool(v->str, v->len, &c->log))
			return spec_fail_at(err, v, -EINVAL, "log is true or false");
		return 0;
	}
	if (!strcmp(key, "log_sample")) {
		if (!value_parse_float(v->str, v->len, &c->log_sample) ||
		    !(c->log_sample >= 0 && c->log_sample <= 1))
			return spec_fail_at(err, v, -EINVAL, "log_sample is a fraction from 0 to 1");
		return 0;
	}
	/* sticky_key */
	bool none = !v->len || !strcmp(v->str, "~") || !strcmp(v->str, "null");
	if (!none && (v->len >= sizeof(c->sticky_key) || strchr(v->str, '\n')))
		return spec_fail_at(err, v, -EINVAL, "sticky_key is a column name");
	snprintf(c->sticky_key, sizeof(c->sticky_key), "%s", none ? "" : v->str);
	return 0;
}

int endpoint_config_parse(const char *text, size_t len,
			  struct endpoint_config *out, struct mlfs_err *err)
{
	static const char *const keys[] = { "idle_unload", "sticky_key", "log",
		"log_sample", "log_retention_rows", "log_retention_days",
		"max_request_bytes", "seed", NULL };
	struct endpoint_config c;
	struct spec_doc *doc = NULL;
	endpoint_config_default(&c);
	int rc = spec_parse_yaml(text, len, &doc, err);
	const struct spec_node *root = doc ? spec_doc_root(doc) : NULL;
	if (!rc && root && root->kind != SPEC_MAP)
		rc = spec_fail_at(err, root, -EINVAL, "config.yaml is a map of settings");
	if (!rc && root)
		rc = spec_check_keys(root, keys, "config.yaml", err);
	for (size_t i = 0; !rc && root && i < root->n; i++)
		rc = config_value(root->kids[2 * i], root->kids[2 * i + 1], &c, err);
	spec_doc_free(doc);
	if (!rc)
		*out = c;
	return rc;
}

/* ---- records ---- */

#define F(key, m, t) CODEC_FIELD(key, struct endpoint_info, m, CODEC_##t, 0)
static const struct codec_field record_fields[] = {
	F("id", id, UINT), F("ctime", created_ms, INT), F("mtime", updated_ms, INT),
	CODEC_OWNER_FIELDS(struct endpoint_info, 0755),
};
#undef F
#define RECORD_FIELDS (sizeof(record_fields) / sizeof(record_fields[0]))

static void encode_record(struct buf *v, const struct endpoint_info *e)
{
	buf_reset(v);
	codec_enc_fields(v, e, record_fields, RECORD_FIELDS, 0);
}

int ep_record(struct store *s, const char *name, struct endpoint_info *out)
{
	struct buf k = { 0 }, v = { 0 };
	if (!names_valid(name))
		return -ENOENT;
	key_record(&k, name);
	int rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	if (!rc) {
		struct dec *d = codec_dec_new(v.data, v.len);
		codec_dec_fields(codec_dec_root(d), out, record_fields, RECORD_FIELDS);
		codec_dec_free(d);
		rc = out->id ? 0 : -EIO;
	}
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int endpoint_stat(struct store *s, const char *name, struct endpoint_info *out)
{
	return ep_record(s, name, out);
}

int ep_text(struct store *s, uint64_t id, char field, struct buf *out)
{
	struct buf k = { 0 };
	ep_key(&k, field, id);
	buf_reset(out);
	int rc = store_get(s, NULL, k.data, k.len, out, NULL);
	buf_free(&k);
	return rc == -ENOENT ? 0 : rc;
}

int endpoint_create(struct store *s, const char *name, uint32_t uid,
		    uint32_t gid, uint32_t mode, const char *attrs,
		    struct mlfs_err *err)
{
	struct endpoint_info e = { 0 };
	struct buf k = { 0 }, v = { 0 };
	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "'%s' is not a valid endpoint name", name);
	pthread_mutex_lock(ep_lock(s));
	int rc = ep_record(s, name, &e) == 0 ? mlfs_fail(err, -EEXIST, "endpoint %s exists", name) : 0;
	if (!rc)
		rc = ids_next(s, "endpoint", &e.id, err);
	if (!rc) {
		e.created_ms = e.updated_ms = clock_now_ms();
		e.uid = uid;
		e.gid = gid;
		e.mode = mode & 07777;
		struct store_batch *b = store_batch_new();
		key_record(&k, name);
		encode_record(&v, &e);
		store_batch_put(b, k.data, k.len, v.data, v.len);
		rc = attrs_batch_write(s, b, attrs, true, err);
	}
	pthread_mutex_unlock(ep_lock(s));
	buf_free(&k);
	buf_free(&v);
	return rc;
}

static void holder_name(char out[REGISTRY_HOLDER_MAX + 1], const char *name)
{
	snprintf(out, REGISTRY_HOLDER_MAX + 1, "endpoint/%s", name);
}

/* The version a route's REF names: a number, or an alias's target. */
static bool ref_number(const char *ref, uint64_t *n)
{
	int64_t i;
	if (!value_parse_int(ref, strlen(ref), &i) || i <= 0)
		return false;
	*n = (uint64_t)i;
	return true;
}

/* Hold (or release) what route R names: its version, or the model by
 * its alias. */
static int hold_route(struct store *s, const char *name,
		      const struct traffic_route *r, bool hold,
		      struct mlfs_err *err)
{
	char holder[REGISTRY_HOLDER_MAX + 1];
	uint64_t n;
	holder_name(holder, name);
	if (!ref_number(r->ref, &n))
		return registry_hold_alias(s, r->model, r->ref, holder, hold, err);
	return hold ? registry_hold(s, r->model, n, holder, err)
		    : registry_release(s, r->model, n, holder, err);
}

static int hold_routes(struct store *s, const char *name, const struct traffic *t,
		       bool hold, struct mlfs_err *err)
{
	for (size_t i = 0; i < t->nroutes; i++) {
		int rc = hold_route(s, name, &t->routes[i], hold, err);
		if (rc && hold)
			return rc;
	}
	return 0;
}

/* Release what FROM holds and KEEP does not. */
static void release_unless(struct store *s, const char *name,
			   const struct traffic *from, const struct traffic *keep)
{
	for (size_t i = 0; i < from->nroutes; i++) {
		const struct traffic_route *r = &from->routes[i];
		bool kept = false;
		for (size_t j = 0; j < keep->nroutes; j++)
			kept |= !strcmp(r->model, keep->routes[j].model) &&
				!strcmp(r->ref, keep->routes[j].ref);
		if (!kept)
			hold_route(s, name, r, false, NULL);
	}
}

/* Every MODEL@REF of T exists now. */
static int check_routes(struct store *s, const struct traffic *t,
			struct mlfs_err *err)
{
	for (size_t i = 0; i < t->nroutes; i++) {
		const struct traffic_route *r = &t->routes[i];
		struct registry_version v;
		uint64_t n;
		struct registry_model rm;
		if (registry_model_get(s, r->model, &rm))
			return mlfs_fail(err, -ENOENT, "line %zu: no model '%s'", i + 1, r->model);
		if (ref_number(r->ref, &n)) {
			if (registry_version_get(s, r->model, n, &v))
				return mlfs_fail(err, -ENOENT, "model %s has no version %s", r->model, r->ref);
		} else if (registry_alias_get(s, r->model, r->ref, &n)) {
			return mlfs_fail(err, -ENOENT, "model %s has no alias or version '%s'", r->model, r->ref);
		}
	}
	return 0;
}

static int touch_record(struct store *s, const char *name, struct endpoint_info *e,
			struct store_batch *b)
{
	struct buf k = { 0 }, v = { 0 };
	e->updated_ms = clock_now_ms();
	key_record(&k, name);
	encode_record(&v, e);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
	return 0;
}

static int set_traffic(struct store *s, const char *name, struct endpoint_info *e,
		       const char *text, size_t len, bool apply, struct mlfs_err *err)
{
	struct traffic nt, ot;
	struct buf old = { 0 }, canon = { 0 }, k = { 0 };
	/* A check (a write still arriving) lets the sum grow to 100 later:
	 * bash's printf writes a line at a time; close() checks the whole. */
	int rc = apply ? traffic_parse(text, len, &nt, err)
		       : traffic_parse_partial(text, len, &nt, err);
	if (!rc)
		rc = check_routes(s, &nt, err);
	if (rc || !apply)
		return rc;
	rc = ep_text(s, e->id, 't', &old);
	if (!rc && traffic_parse(old.data ? old.data : "", old.len, &ot, NULL))
		ot.nroutes = 0;
	if (!rc)
		rc = hold_routes(s, name, &nt, true, err);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		traffic_format(&nt, &canon);
		ep_key(&k, 't', e->id);
		store_batch_put(b, k.data, k.len, canon.data ? canon.data : "", canon.len);
		touch_record(s, name, e, b);
		rc = store_write(s, b, true, err);
		store_batch_free(b);
	}
	if (rc) {	/* give back what this change alone held */
		release_unless(s, name, &nt, &ot);
	} else {
		release_unless(s, name, &ot, &nt);
	}
	buf_free(&old);
	buf_free(&canon);
	buf_free(&k);
	return rc;
}

static int set_config(struct store *s, const char *name, struct endpoint_info *e,
		      const char *text, size_t len, bool apply, struct mlfs_err *err)
{
	struct endpoint_config c;
	struct buf k = { 0 };
	if (len > ENDPOINT_TEXT_MAX)
		return mlfs_fail(err, -EFBIG, "config.yaml is at most %u bytes", ENDPOINT_TEXT_MAX);
	int rc = endpoint_config_parse(text, len, &c, err);
	if (rc || !apply)
		return rc;
	struct store_batch *b = store_batch_new();
	ep_key(&k, 'c', e->id);
	store_batch_put(b, k.data, k.len, text, len);
	touch_record(s, name, e, b);
	rc = store_write(s, b, true, err);
	store_batch_free(b);
	buf_free(&k);
	return rc;
}

int endpoint_text_get(struct store *s, const char *name, const char *field,
		      struct buf *out)
{
	struct endpoint_info e;
	int rc = ep_record(s, name, &e);
	if (rc)
		return rc;
	if (!strcmp(field, "traffic"))
		return ep_text(s, e.id, 't', out);
	if (!strcmp(field, "config.yaml"))
		return ep_text(s, e.id, 'c', out);
	return -ENOENT;
}

int endpoint_text_set(struct store *s, const char *name, const char *field,
		      const char *text, size_t len, bool apply,
		      struct mlfs_err *err)
{
	struct endpoint_info e;
	if (len > ENDPOINT_TEXT_MAX)
		return mlfs_fail(err, -EFBIG, "%s is at most %u bytes", field, ENDPOINT_TEXT_MAX);
	pthread_mutex_lock(ep_lock(s));
	int rc = ep_record(s, name, &e);
	if (rc)
		rc = mlfs_fail(err, -ENOENT, "no endpoint '%s'", name);
	else if (!strcmp(field, "traffic"))
		rc = set_traffic(s, name, &e, text, len, apply, err);
	else if (!strcmp(field, "config.yaml"))
		rc = set_config(s, name, &e, text, len, apply, err);
	else
		rc = mlfs_fail(err, -ENOENT, "endpoints have no file '%s'", field);
	pthread_mutex_unlock(ep_lock(s));
	if (!rc && apply)
		ep_live_update(s, name);
	return rc;
}

int endpoint_delete(struct store *s, const char *name, const char *attrs,
		    struct mlfs_err *err)
{
	struct endpoint_info e;
	struct traffic t;
	struct buf k = { 0 }, hi = { 0 }, old = { 0 };
	pthread_mutex_lock(ep_lock(s));
	int rc = ep_record(s, name, &e);
	if (rc)
		rc = mlfs_fail(err, -ENOENT, "no endpoint '%s'", name);
	bool holds = !rc && !ep_text(s, e.id, 't', &old) &&
		     !traffic_parse(old.data ? old.data : "", old.len, &t, NULL);
	if (!rc) {
		ep_live_drop(s, name);
		struct store_batch *b = store_batch_new();
		key_record(&k, name);
		store_batch_delete(b, k.data, k.len);
		static const char kinds[] = { 't', 'c', 'l', 's' };
		for (size_t i = 0; i < sizeof(kinds); i++) {
			ep_key(&k, kinds[i], e.id);
			ep_key(&hi, kinds[i], e.id + 1);
			store_batch_delete_range(b, k.data, k.len, hi.data, hi.len);
		}
		rc = attrs_batch_write(s, b, attrs, true, err);
	}
	/* After the record: a crash between leaves only holds of a gone
	 * endpoint, which keep a model from deletion (endpoint_check). */
	if (!rc && holds)
		hold_routes(s, name, &t, false, NULL);
	pthread_mutex_unlock(ep_lock(s));
	buf_free(&k);
	buf_free(&hi);
	buf_free(&old);
	return rc;
}

int endpoint_list(struct store *s, int (*fn)(void *ctx, const char *name),
		  void *ctx)
{
	return store_list_names(s, "e/m/", NAMES_MAX, fn, ctx);
}
