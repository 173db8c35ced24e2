/* features.c - /features: one directory per feature table, holding
 * keys, timestamp_key, description, tags (properties), data.csv (rows),
 * pipeline.yaml (property, validated), refresh (property that acts),
 * rows/KEY (online lookup views), stats.csv and lineage (views).
 * Maps the tree onto engine/features.h and engine/pipeline.h; no storage
 * logic here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "features.h"
#include "fs_int.h"
#include "registry.h"
#include "spec.h"
#include "pipeline.h"
#include "table.h"
#include "types.h"

/* ---- data.csv ---- */

static int data_stat(struct store *s, const char *name, uint64_t *size,
		     int64_t *mtime_ns)
{
	struct features_info info;
	int rc = features_stat(s, name, &info);
	if (rc)
		return rc;
	*size = info.size;
	*mtime_ns = info.mtime_ns;
	return 0;
}

ROWS_SOURCE_DEFINE(feature_rows, features, data_stat);

static const struct node_ops data_ops = {
	.kind = NK_ROWS, .perm = 0644, .rows = &feature_rows,
	.remove = fs_rows_clear,
};

/* ---- keys, timestamp_key ---- */

static int keys_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	return features_keys_text(fs->store, n->arg[0], out);
}

static int keys_set(struct fs *fs, const struct node *n, const char *data,
		    size_t len, bool apply, struct mlfs_err *err)
{
	return features_set_keys(fs->store, n->arg[0], data, len, apply, err);
}

static const struct node_ops keys_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = keys_get, .set = keys_set,
};

static int ts_get(struct fs *fs, const struct node *n, struct buf *out,
		  struct mlfs_err *err)
{
	return features_ts_text(fs->store, n->arg[0], out);
}

static int ts_set(struct fs *fs, const struct node *n, const char *data,
		  size_t len, bool apply, struct mlfs_err *err)
{
	return features_set_ts(fs->store, n->arg[0], data, len, apply, err);
}

static const struct node_ops ts_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.get = ts_get, .set = ts_set,
};

/* ---- description, tags, lineage, pipeline.yaml: texts ---- */

static const enum features_text field_description = FEATURES_DESCRIPTION,
	field_tags = FEATURES_TAGS,
	field_pipeline = FEATURES_PIPELINE;

/* The text a node's ops->data names (one of the field_ above). */
static int text_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	const enum features_text *what = n->ops->data;
	return features_text_get(fs->store, n->arg[0], *what, out);
}

static int description_set(struct fs *fs, const struct node *n,
			   const char *data, size_t len, bool apply,
			   struct mlfs_err *err)
{
	if (!csv_utf8_valid(data, len) || memchr(data, '\0', len))
		return mlfs_fail(err, -EINVAL, "a description is UTF-8 text");
	if (!apply)
		return 0;
	return features_text_set(fs->store, n->arg[0], FEATURES_DESCRIPTION, data, len, err);
}

static const struct node_ops description_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = &field_description,
	.get = text_get, .set = description_set,
};

static int tags_set(struct fs *fs, const struct node *n, const char *data,
		    size_t len, bool apply, struct mlfs_err *err)
{
	int rc = features_tags_validate(data, len, err);
	if (rc || !apply)
		return rc;
	return features_text_set(fs->store, n->arg[0], FEATURES_TAGS, data, len, err);
}

static const struct node_ops tags_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = &field_tags,
	.get = text_get, .set = tags_set,
};

/* lineage: MODEL@N a line for each registered version that reads this
 * table (the registry keeps the index) and that the reader may list. */
struct lineage_reader {
	struct fs *fs;
	struct buf *out;
	struct fs_reader *r;
};

static int add_lineage(void *ctx, const char *model, uint64_t version)
{
	struct lineage_reader *lr = ctx;
	char path[FS_PATH_MAX];
	snprintf(path, sizeof(path), "/models/%s/versions/%" PRIu64, model, version);
	if (fs_reader_may(lr->fs, lr->r, path))
		buf_printf(lr->out, "%s@%" PRIu64 "\n", model, version);
	return 0;
}

static int lineage_get(struct fs *fs, const struct node *n, struct buf *out,
		       struct mlfs_err *err)
{
	struct lineage_reader lr = { fs, out, fs_reader_new() };
	buf_reset(out);
	int rc = registry_lineage(fs->store, n->arg[0], add_lineage, &lr);
	free(lr.r);
	return rc;
}

static const struct node_ops lineage_ops = {
	.kind = NK_VIEW, .perm = 0444, .per_reader = true, .get = lineage_get,
};

/* ---- pipeline.yaml, refresh ---- */

/* A pipeline may read only a source its writer may read: the feature
 * table would show what it computes from it. */
static int pipeline_put(struct fs *fs, const struct node *n, const char *data,
			size_t len, bool apply, struct mlfs_err *err)
{
	struct pipeline_spec *sp;
	char path[FS_PATH_MAX];
	if (!apply)
		return pipeline_validate_partial(fs->store, n->arg[0], data, len, err);
	if (spec_parse_pipeline(data, len, &sp, NULL) == 0) {
		snprintf(path, sizeof(path), "/tables/%s", sp->source ? sp->source : "");
		int rc = sp->source ? fs_caller_may_name(fs, path, err) : 0;
		pipeline_spec_free(sp);
		if (rc)
			return rc;
	}
	return pipeline_set(fs->store, n->arg[0], data, len, err);
}

static const struct node_ops pipeline_ops = {
	.kind = NK_PROPERTY, .perm = 0644,
	.data = &field_pipeline, .get = text_get, .set = pipeline_put,
};

/* Catch what can be caught in write() (echo ignores errors of close): a
 * word that is not a refresh, no pipeline, or one that no longer fits. */
static int refresh_validate(struct fs *fs, const struct node *n,
			    const char *data, size_t len, struct mlfs_err *err)
{
	struct pipeline_opts opts;
	struct buf spec = { 0 };
	int rc = pipeline_parse_word(data, len, &opts, err);
	if (rc)
		return rc;
	rc = features_text_get(fs->store, n->arg[0], FEATURES_PIPELINE, &spec);
	if (!rc && spec.len == 0)
		rc = mlfs_fail(err, -EINVAL, "no pipeline.yaml: write one first");
	if (!rc)
		rc = pipeline_validate(fs->store, n->arg[0], spec.data, spec.len, err);
	buf_free(&spec);
	return rc;
}

static int refresh_run(struct store *s, const char *name, const char *word, size_t len,
		       struct mlfs_err *err)
{
	struct pipeline_opts opts;
	int rc = pipeline_parse_word(word, len, &opts, err);
	return rc ? rc : pipeline_refresh(s, name, &opts, err);
}

static const struct fs_refresh features_refresh_ops = {
	.run = refresh_run, .report = pipeline_report_text,
};

/* close() of `echo 1 > refresh` returns once the refresh merged, with its
 * error: the flush waits for the job. */
static const struct node_ops refresh_ops = {
	.kind = NK_CONTROL, .perm = 0644, .data = &features_refresh_ops,
	.get = fs_refresh_get, .validate = refresh_validate,
	.start = fs_refresh_start, .wait = true,
};

/* ---- stats.csv ---- */

static int stats_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	return features_stats_csv(fs->store, n->arg[0], out, err);
}

static const struct node_ops stats_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = stats_get,
};

/* ---- rows/KEY ---- */

/* KEY, or KEY@TIME for the version as of TIME; *MTIME_NS (may be NULL)
 * the table's data time, read at the row's snapshot: every change to the
 * table (an append, a replace, a refresh, a removed key) moves it. */
static int row_record(struct fs *fs, const struct node *n, struct buf *out,
		      int64_t *mtime_ns, struct mlfs_err *err)
{
	char key[FS_NAME_MAX + 1];
	bool as_of = false;
	int64_t at = 0;
	node_strcpy(key, sizeof(key), n->arg[1]);
	char *t = strrchr(key, '@');
	if (t) {
		int32_t d;
		if (value_parse_date(t + 1, strlen(t + 1), &d)) {
			at = (int64_t)d * 86400000000LL;
			as_of = true;
		} else if (value_parse_timestamp(t + 1, strlen(t + 1), &at)) {
			as_of = true;
		}
		if (as_of)
			*t = '\0';
	}
	int rc = features_row_read(fs->store, n->arg[0], key, as_of, at, out,
				   mtime_ns, err);
	return rc == -EINVAL ? -ENOENT : rc;
}

static int row_get(struct fs *fs, const struct node *n, struct buf *out,
		   struct mlfs_err *err)
{
	return row_record(fs, n, out, NULL, err);
}

static int row_remove(struct fs *fs, const struct node *n,
		      struct mlfs_err *err)
{
	if (strchr(n->arg[1], '@'))
		return mlfs_fail(err, -EPERM, "remove the key itself, not one of its versions");
	return features_delete_key(fs->store, n->arg[0], n->arg[1], err);
}

static const struct node_ops row_ops = {
	.kind = NK_RECORD, .perm = 0444, .get = row_get, .record = row_record,
	.remove = row_remove,
};

static int rows_lookup(struct fs *fs, const struct node *dir, const char *name,
		       struct node *out)
{
	/* Made in OUT itself: a node is some 9 KB, whose copy cost a new
	 * key's lookup 7,000 instructions. */
	node_child(out, dir, name, &row_ops);
	node_strcpy(out->arg[1], sizeof(out->arg[1]), name);
	return fs_record_probe(fs, out);
}

struct keys_ctx {
	fs_add_fn add;
	void *ctx;
};

static int add_key(void *ctx, const char *key, size_t len)
{
	struct keys_ctx *kc = ctx;
	/* Keys that cannot be file names are not listed. */
	if (len == 0 || len > FS_NAME_MAX || memchr(key, '/', len) ||
	    memchr(key, '\0', len) || !strcmp(key, ".") || !strcmp(key, ".."))
		return 0;
	return kc->add(kc->ctx, key, false);
}

static int rows_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		     void *ctx)
{
	struct keys_ctx kc = { add, ctx };
	return features_list_keys(fs->store, dir->arg[0], add_key, &kc, NULL);
}

static const struct node_ops rows_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = rows_lookup, .list = rows_list,
};

/* ---- /features/NAME ---- */

static const struct fs_entry feature_files[] = {
	{ "data.csv", &data_ops },
	{ "description", &description_ops },
	{ "keys", &keys_ops },
	{ "lineage", &lineage_ops },
	{ "pipeline.yaml", &pipeline_ops },
	{ "refresh", &refresh_ops },
	{ "rows", &rows_dir_ops },
	{ "stats.csv", &stats_ops },
	{ "tags", &tags_ops },
	{ "timestamp_key", &ts_ops },
	{ NULL, NULL },
};

/* The feature table's creator, mode and creation time, from its record;
 * a table with none recorded is the daemon's. */
static int feature_owner(struct fs *fs, const struct node *n, uid_t *uid,
			 gid_t *gid, mode_t *mode, int64_t *ctime_ns)
{
	struct features_info info;
	int rc = features_stat(fs->store, n->arg[0], &info);
	if (rc)
		return rc;
	if (!info.mode)
		return -ENOENT;
	*uid = info.uid;
	*gid = info.gid;
	*mode = info.mode;
	*ctime_ns = info.ctime_ns;
	return 0;
}

/* rm -r of a feature table unlinks its files and rows/ first: they go
 * with the table (data.csv and rows/KEY delete rows). */
static const struct node_ops feature_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .owner = feature_owner,
	.lookup = fs_dir_lookup, .list = fs_dir_list,
	.children = feature_files, .children_go_with_dir = true,
};

/* ---- /features ---- */

static bool feature_exists(struct store *s, const char *name)
{
	struct features_info info;
	return features_stat(s, name, &info) == 0;
}

static const struct fs_collection feature_tables = {
	.exists = feature_exists, .list = features_list,
	.make = features_make, .remove = features_remove,
	.child = &feature_dir_ops,
};

/* Like /tables: anyone may create a feature table, its owner drops it. */
const struct node_ops ns_features_dir = {
	.kind = NK_DIR, .perm = 01777, .data = &feature_tables,
	.lookup = fs_collection_lookup, .list = fs_collection_list,
	.mkdir = fs_collection_mkdir, .rmdir = fs_collection_rmdir,
};
