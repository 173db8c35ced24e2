/* monitors.c - /monitors: drift monitors as files.  A monitor is a
 * directory holding monitor.yaml (property), refresh (control) and the
 * views profile.csv, drift.csv, performance.csv and alerts.  Maps the
 * tree onto engine/monitor/monitor.h; no monitoring logic here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"
#include "monitor.h"
#include "monitor_spec.h"

/* ---- monitor.yaml ---- */

static int spec_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	return monitor_spec_get(fs->store, n->arg[0], out);
}

/* The tables, endpoint and model a whole spec SP reads: the monitor's
 * views would show their data, so its writer must be able to read them. */
static int spec_may_read(struct fs *fs, const struct monitor_spec *sp,
			 struct mlfs_err *err)
{
	char path[FS_PATH_MAX];
	snprintf(path, sizeof(path), "/%s/%s", sp->source_kind == MONITOR_SOURCE_ENDPOINT ?
		 "endpoints" : "tables", sp->source);
	int rc = fs_caller_may_name(fs, path, err);
	if (!rc && sp->base_kind != MONITOR_BASE_NONE) {
		snprintf(path, sizeof(path), "/%s/%s", sp->base_kind == MONITOR_BASE_MODEL ?
			 "models" : "tables", sp->base_name);
		rc = fs_caller_may_name(fs, path, err);
	}
	if (!rc && sp->labels_table) {
		snprintf(path, sizeof(path), "/tables/%s", sp->labels_table);
		rc = fs_caller_may_name(fs, path, err);
	}
	return rc;
}

static int spec_set(struct fs *fs, const struct node *n, const char *data,
		    size_t len, bool apply, struct mlfs_err *err)
{
	struct monitor_spec *sp = NULL;
	if (apply && monitor_spec_parse(NULL, data, len, &sp, NULL) == 0) {
		int rc = spec_may_read(fs, sp, err);
		monitor_spec_free(sp);
		if (rc)
			return rc;
	}
	return monitor_spec_set(fs->store, n->arg[0], data, len, apply, err);
}

static const struct node_ops spec_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .get = spec_get, .set = spec_set,
};

/* ---- refresh ---- */

/* A word that is not a refresh, or no monitor.yaml: refused in write(). */
static int refresh_validate(struct fs *fs, const struct node *n,
			    const char *data, size_t len, struct mlfs_err *err)
{
	struct buf spec = { 0 };
	bool full;
	int rc = monitor_parse_word(data, len, &full, err);
	if (!rc)
		rc = monitor_spec_get(fs->store, n->arg[0], &spec);
	if (!rc && spec.len == 0)
		rc = mlfs_fail(err, -EINVAL, "no monitor.yaml: write one first");
	buf_free(&spec);
	return rc;
}

static int refresh_run(struct store *s, const char *name, const char *word, size_t len,
		       struct mlfs_err *err)
{
	bool full;
	int rc = monitor_parse_word(word, len, &full, err);
	return rc ? rc : monitor_refresh(s, name, full, err);
}

static const struct fs_refresh monitor_refresh_ops = {
	.run = refresh_run, .report = monitor_report,
};

/* close() of `echo 1 > refresh` returns once the refresh is applied. */
static const struct node_ops refresh_ops = {
	.kind = NK_CONTROL, .perm = 0644, .data = &monitor_refresh_ops,
	.get = fs_refresh_get, .validate = refresh_validate,
	.start = fs_refresh_start, .wait = true,
};

/* ---- views ---- */

static int profile_get(struct fs *fs, const struct node *n, struct buf *out,
		       struct mlfs_err *err)
{
	return monitor_profile_csv(fs->store, n->arg[0], out);
}

static int drift_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	return monitor_drift_csv(fs->store, n->arg[0], out);
}

static int performance_get(struct fs *fs, const struct node *n,
			   struct buf *out, struct mlfs_err *err)
{
	return monitor_performance_csv(fs->store, n->arg[0], out);
}

static int alerts_get(struct fs *fs, const struct node *n, struct buf *out,
		      struct mlfs_err *err)
{
	return monitor_alerts_csv(fs->store, n->arg[0], out);
}

static const struct node_ops profile_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = profile_get,
};

static const struct node_ops drift_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = drift_get,
};

static const struct node_ops performance_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = performance_get,
};

static const struct node_ops alerts_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = alerts_get,
};

/* ---- /monitors/NAME ---- */

static const struct fs_entry monitor_files[] = {
	{ "alerts", &alerts_ops },
	{ "drift.csv", &drift_ops },
	{ "monitor.yaml", &spec_ops },
	{ "performance.csv", &performance_ops },
	{ "profile.csv", &profile_ops },
	{ "refresh", &refresh_ops },
	{ NULL, NULL },
};

/* The monitor's creator, mode and creation time, from its record. */
static int monitor_owner(struct fs *fs, const struct node *n, uid_t *uid,
			 gid_t *gid, mode_t *mode, int64_t *ctime_ns)
{
	struct monitor_info m;
	int rc = monitor_stat(fs->store, n->arg[0], &m);
	if (rc)
		return rc;
	*uid = m.uid;
	*gid = m.gid;
	*mode = m.mode;
	*ctime_ns = m.ctime_ms * 1000000;
	return 0;
}

static const struct node_ops monitor_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .owner = monitor_owner,
	.lookup = fs_dir_lookup, .list = fs_dir_list,
	.children = monitor_files, .children_go_with_dir = true,
};

/* ---- /monitors ---- */

static bool monitor_exists(struct store *s, const char *name)
{
	struct monitor_info m;
	return monitor_stat(s, name, &m) == 0;
}

static const struct fs_collection monitors = {
	.exists = monitor_exists, .list = monitor_list,
	.make = monitor_create, .remove = monitor_delete,
	.child = &monitor_dir_ops,
};

const struct node_ops ns_monitors_dir = {
	.kind = NK_DIR, .perm = 0755, .data = &monitors,
	.lookup = fs_collection_lookup, .list = fs_collection_list,
	.mkdir = fs_collection_mkdir, .rmdir = fs_collection_rmdir,
};
