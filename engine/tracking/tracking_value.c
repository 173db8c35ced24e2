/* tracking_value.c - a run's params and tags: one record per key,
 * x/p/EID/RUN\0KEY and x/t/..., read, set, deleted and listed.  Not
 * metrics (tracking_metric.c) nor the run itself (tracking.c). */
#include "tracking.h"
#include "tracking_int.h"

#include <errno.h>
#include <string.h>

#include "table.h"

static char kind_letter(const char *kind)
{
	return !strcmp(kind, "params") ? 'p' : 't';
}

int tracking_value_get(struct store *s, const char *exp, const char *run,
		       const char *kind, const char *key, struct buf *out)
{
	uint64_t eid;
	struct buf k = { 0 };
	int rc = tracking_exp_id(s, exp, &eid);
	if (rc)
		return rc;
	tracking_key_item(&k, kind_letter(kind), eid, run, key);
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

	len = tracking_chomp(value, len);
	if (strlen(key) > TRACKING_KEY_MAX || !names_valid(key))
		return mlfs_fail(err, -EINVAL, "invalid key '%.64s'", key);
	if (len > max)
		return mlfs_fail(err, -EFBIG, "%s value of %zu bytes: at most %zu", param ? "param" : "tag", len, max);
	if (!csv_utf8_valid(value, len))
		return mlfs_fail(err, -EINVAL, "value is not UTF-8");
	if ((rc = tracking_run_begin(s, exp, run, &eid)))
		return rc;
	if ((rc = tracking_run_load(s, eid, run, &r)))
		goto out;
	tracking_key_item(&k, kind_letter(kind), eid, run, key);
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
		rc = tracking_write_batch(s, b, err);
	}
out:
	tracking_run_end(s, eid, run);
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
	int rc = tracking_run_begin(s, exp, run, &eid);
	if (rc)
		return rc;
	tracking_key_item(&k, 't', eid, run, key);
	rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		store_batch_delete(b, k.data, k.len);
		rc = tracking_write_batch(s, b, err);
	}
	tracking_run_end(s, eid, run);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int tracking_value_list(struct store *s, const char *exp, const char *run,
			const char *kind,
			int (*fn)(void *ctx, const char *key), void *ctx)
{
	return tracking_list_items(s, exp, run, kind_letter(kind), fn, ctx);
}
