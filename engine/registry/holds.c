/* holds.c - holds on a model or one of its versions by whoever serves it
 * (an endpoint's traffic: "endpoint/NAME").  A held model cannot be
 * deleted and a held version cannot be deleted: EBUSY naming the holder.
 * Keys r/e/MID N HOLDER (N 0: the model as a whole, e.g. traffic that
 * names an alias, resolved per request). */
#include "registry_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void key_hold(struct buf *k, uint64_t mid, uint64_t n,
		     const char *holder, const char *alias)
{
	reg_key_id(k, 'e', mid, true, n);
	buf_puts(k, holder);
	if (alias) {	/* HOLDER \0 ALIAS: the model, by this alias */
		buf_putc(k, '\0');
		buf_puts(k, alias);
	}
}

static int hold_change(struct store *s, const char *name, uint64_t version,
		       const char *alias, const char *holder, bool hold,
		       struct mlfs_err *err)
{
	struct reg_model m;
	struct buf k = { 0 };
	size_t hl = strlen(holder);
	if (!hl || hl > REGISTRY_HOLDER_MAX)
		return mlfs_fail(err, -EINVAL, "a holder name is 1-%d bytes", REGISTRY_HOLDER_MAX);
	pthread_mutex_lock(reg_lock(s));
	int rc = reg_model_load(s, NULL, name, &m);
	if (rc == -ENOENT)
		rc = mlfs_fail(err, -ENOENT, "no model '%s'", name);
	else if (!rc && hold && version && !reg_version_exists(s, NULL, m.id, version))
		rc = mlfs_fail(err, -ENOENT, "model '%s' has no version %" PRIu64, name, version);
	else if (!rc && alias && (!names_valid(alias) || (hold && !reg_alias_exists(s, m.id, alias))))
		rc = mlfs_fail(err, -ENOENT, "model '%s' has no alias '%s'", name, alias);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		key_hold(&k, m.id, version, holder, alias);
		if (hold)
			store_batch_put(b, k.data, k.len, "", 0);
		else
			store_batch_delete(b, k.data, k.len);
		rc = store_write(s, b, false, err);
		store_batch_free(b);
	}
	pthread_mutex_unlock(reg_lock(s));
	buf_free(&k);
	return rc;
}

int registry_hold(struct store *s, const char *name, uint64_t version,
		  const char *holder, struct mlfs_err *err)
{
	return hold_change(s, name, version, NULL, holder, true, err);
}

int registry_release(struct store *s, const char *name, uint64_t version,
		     const char *holder, struct mlfs_err *err)
{
	return hold_change(s, name, version, NULL, holder, false, err);
}

int registry_hold_alias(struct store *s, const char *name, const char *alias,
			const char *holder, bool hold, struct mlfs_err *err)
{
	return hold_change(s, name, 0, alias, holder, hold, err);
}

bool reg_alias_held(struct store *s, uint64_t mid, const char *alias,
		    char holder[REGISTRY_HOLDER_MAX + 1])
{
	struct buf lo = { 0 }, hi = { 0 };
	bool found = false;
	size_t al = strlen(alias);
	reg_key_id(&lo, 'e', mid, true, 0);
	reg_key_id(&hi, 'e', mid, true, 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); !found && store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		const char *h = k + lo.len;
		size_t hl = strnlen(h, kl - lo.len);
		if (lo.len + hl + 1 + al != kl || memcmp(h + hl + 1, alias, al))
			continue;
		snprintf(holder, REGISTRY_HOLDER_MAX + 1, "%.*s", (int)hl, h);
		found = true;
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return found;
}

bool reg_held(struct store *s, uint64_t mid, bool any, uint64_t version,
	      char holder[REGISTRY_HOLDER_MAX + 1])
{
	struct buf lo = { 0 }, hi = { 0 };
	bool found = false;
	reg_key_id(&lo, 'e', mid, !any, version);
	if (any)
		reg_key_id(&hi, 'e', mid + 1, false, 0);
	else
		reg_key_id(&hi, 'e', mid, true, version + 1);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	store_iter_seek_first(it);
	if (store_iter_valid(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		size_t at = lo.len + (any ? 8 : 0);
		size_t n = kl > at ? kl - at : 0;
		if (n > REGISTRY_HOLDER_MAX)
			n = REGISTRY_HOLDER_MAX;
		memcpy(holder, k + at, n);
		holder[n] = '\0';
		found = true;
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return found;
}

struct hold_lister {
	struct store *s;
	int (*fn)(void *ctx, const char *model, uint64_t version,
		  const char *alias, const char *holder);
	void *ctx;
};

static int list_model_holds(void *ctx, const char *model)
{
	struct hold_lister *l = ctx;
	struct reg_model m;
	struct buf lo = { 0 }, hi = { 0 };
	char holder[REGISTRY_HOLDER_MAX + 1], alias[NAMES_MAX + 1];
	if (reg_model_load(l->s, NULL, model, &m))
		return 0;
	reg_key_id(&lo, 'e', m.id, false, 0);
	reg_key_id(&hi, 'e', m.id + 1, false, 0);
	struct store_iter *it = store_iter_new(l->s, NULL, lo.data, lo.len, hi.data, hi.len);
	int rc = 0;
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl < lo.len + 8)
			continue;
		uint64_t n = key_get_u64(k + lo.len);
		const char *h = k + lo.len + 8;
		size_t rest = kl - lo.len - 8, hl = strnlen(h, rest);
		snprintf(holder, sizeof(holder), "%.*s", (int)hl, h);
		bool by_alias = hl < rest;
		if (by_alias)
			snprintf(alias, sizeof(alias), "%.*s", (int)(rest - hl - 1), h + hl + 1);
		rc = l->fn(l->ctx, model, n, by_alias ? alias : NULL, holder);
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int registry_hold_list(struct store *s,
		       int (*fn)(void *ctx, const char *model, uint64_t version,
				 const char *alias, const char *holder),
		       void *ctx)
{
	struct hold_lister l = { s, fn, ctx };
	return registry_model_list(s, list_model_holds, &l);
}
