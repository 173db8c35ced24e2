/* endpoints.c - /endpoints: serving as files.  An endpoint is a directory
 * holding traffic and config.yaml (properties), predict (an exchange:
 * write a request, read the predictions), and the views log.csv,
 * stats.csv and state.  Maps the tree onto engine/serving/endpoint.h; no
 * serving logic here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "fs_int.h"
#include "traffic.h"

/* ---- traffic, config.yaml ---- */

static int text_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	return endpoint_text_get(fs->store, n->arg[0], n->ops->data, out);
}

static int text_set(struct fs *fs, const struct node *n, const char *data,
		    size_t len, bool apply, struct mlfs_err *err)
{
	return endpoint_text_set(fs->store, n->arg[0], n->ops->data, data, len,
				 apply, err);
}

/* Traffic may name only models its writer may read: the endpoint's
 * predictions and log.csv would show what they answer. */
static int traffic_set(struct fs *fs, const struct node *n, const char *data,
		       size_t len, bool apply, struct mlfs_err *err)
{
	struct traffic t;
	char path[FS_PATH_MAX];
	if (apply && traffic_parse(data, len, &t, NULL) == 0) {
		for (size_t i = 0; i < t.nroutes; i++) {
			snprintf(path, sizeof(path), "/models/%s", t.routes[i].model);
			int rc = fs_caller_may_name(fs, path, err);
			if (rc)
				return rc;
		}
	}
	return text_set(fs, n, data, len, apply, err);
}

static const struct node_ops traffic_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "traffic",
	.get = text_get, .set = traffic_set,
};

static const struct node_ops config_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "config.yaml",
	.get = text_get, .set = text_set,
};

/* ---- predict ---- */

static int predict_validate(struct fs *fs, const struct node *n,
			    const char *req, size_t len, struct mlfs_err *err)
{
	return endpoint_predict_check(fs->store, n->arg[0], req, len, false, err);
}

static int predict_exchange(struct fs *fs, const struct node *n,
			    const char *req, size_t len, struct buf *response,
			    struct mlfs_err *err)
{
	return endpoint_predict(fs->store, n->arg[0], req, len, response, err);
}

/* The endpoint's config.yaml sets the real limit (max_request_bytes, at
 * most 1 GiB); this is the exchange kind's ceiling. */
static const struct node_ops predict_ops = {
	.kind = NK_EXCHANGE, .perm = 0666, .max_request = 1u << 30,
	.validate = predict_validate, .exchange = predict_exchange,
};

/* ---- views ---- */

static int state_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	return endpoint_state_text(fs->store, n->arg[0], out);
}

static int stats_get(struct fs *fs, const struct node *n, struct buf *out,
		     struct mlfs_err *err)
{
	return endpoint_stats_csv(fs->store, n->arg[0], out);
}

static int log_get(struct fs *fs, const struct node *n, struct buf *out,
		   struct mlfs_err *err)
{
	return endpoint_log_csv(fs->store, n->arg[0], out, err);
}

static int log_size(struct fs *fs, const struct node *n, uint64_t *size,
		    int64_t *mtime_ns)
{
	return endpoint_log_csv_size(fs->store, n->arg[0], size, NULL);
}

static const struct node_ops state_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = state_get,
};

static const struct node_ops stats_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = stats_get,
};

static const struct node_ops log_csv_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = log_get, .size = log_size,
};

/* ---- /endpoints/NAME ---- */

static const struct fs_entry endpoint_files[] = {
	{ "config.yaml", &config_ops },
	{ "log.csv", &log_csv_ops },
	{ "predict", &predict_ops },
	{ "state", &state_ops },
	{ "stats.csv", &stats_ops },
	{ "traffic", &traffic_ops },
	{ NULL, NULL },
};

/* The endpoint's creator, mode and creation time, from its record. */
static int endpoint_owner(struct fs *fs, const struct node *n, uid_t *uid,
			  gid_t *gid, mode_t *mode, int64_t *ctime_ns)
{
	struct endpoint_info e;
	int rc = endpoint_stat(fs->store, n->arg[0], &e);
	if (rc)
		return rc;
	*uid = e.uid;
	*gid = e.gid;
	*mode = e.mode;
	*ctime_ns = e.created_ms * 1000000;
	return 0;
}

static const struct node_ops endpoint_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .owner = endpoint_owner,
	.lookup = fs_dir_lookup, .list = fs_dir_list,
	.children = endpoint_files, .children_go_with_dir = true,
};

/* ---- /endpoints ---- */

static bool endpoint_exists(struct store *s, const char *name)
{
	struct endpoint_info e;
	return endpoint_stat(s, name, &e) == 0;
}

static const struct fs_collection endpoints = {
	.exists = endpoint_exists, .list = endpoint_list,
	.make = endpoint_create, .remove = endpoint_delete,
	.child = &endpoint_dir_ops,
};

const struct node_ops ns_endpoints_dir = {
	.kind = NK_DIR, .perm = 0755, .data = &endpoints,
	.lookup = fs_collection_lookup, .list = fs_collection_list,
	.mkdir = fs_collection_mkdir, .rmdir = fs_collection_rmdir,
};
