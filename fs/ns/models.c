/* models.c - /models: the model registry as a tree.  A model is a
 * directory holding description and tags (properties), register (an
 * exchange: write a run's path, read the new version number), versions/N/
 * (what a version recorded, its model files read-only, score for batch
 * scoring), latest (a
 * read-only link to the newest version), history.csv (every alias
 * change) and its aliases: symlinks to versions/N made with ln -s, moved
 * with ln -sfn or mv, removed with rm.  Maps the tree onto
 * engine/registry/registry.h; no registry logic here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fs_int.h"
#include "registry.h"

/* A version number written by a user: 1-19 digits, no sign, no zero. */
static bool parse_version(const char *s, uint64_t *v)
{
	char *end;
	if (s[0] < '1' || s[0] > '9' || strlen(s) > 19)
		return false;
	*v = strtoull(s, &end, 10);
	return *end == '\0';
}

/* ---- description and tags, of a model (arg[1] empty) or a version ---- */

static uint64_t node_version(const struct node *n)
{
	uint64_t v = 0;
	return parse_version(n->arg[1], &v) ? v : 0;
}

static int text_get(struct fs *fs, const struct node *n, struct buf *out,
		    struct mlfs_err *err)
{
	return registry_text_get(fs->store, n->arg[0], node_version(n),
				 n->ops->data, out);
}

static int text_set(struct fs *fs, const struct node *n, const char *data,
		    size_t len, bool apply, struct mlfs_err *err)
{
	return registry_text_set(fs->store, n->arg[0], node_version(n),
				 n->ops->data, data, len, apply, err);
}

static const struct node_ops description_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "description",
	.get = text_get, .set = text_set,
};

static const struct node_ops tags_ops = {
	.kind = NK_PROPERTY, .perm = 0644, .data = "tags",
	.get = text_get, .set = text_set,
};

/* ---- register ---- */

/* The run a register request names: "experiments/E/runs/R" in any of the
 * forms fs_path_in_mount takes, one line; a run the caller may not read
 * is EACCES (its model, params and metrics would reach the model's
 * readers). */
static int request_run(struct fs *fs, const char *req, size_t len,
		       char exp[FS_NAME_MAX + 1], char run[FS_NAME_MAX + 1],
		       struct mlfs_err *err)
{
	char line[FS_PATH_MAX], rel[FS_PATH_MAX];
	char parts[4][FS_NAME_MAX + 1];
	while (len && (req[len - 1] == '\n' || req[len - 1] == '\r' ||
		       req[len - 1] == ' ' || req[len - 1] == '\t'))
		len--;
	if (!len || len >= sizeof(line) || memchr(req, '\n', len) || memchr(req, '\0', len))
		return mlfs_fail(err, -EINVAL, "write one run path: experiments/EXP/runs/RUN");
	memcpy(line, req, len);
	line[len] = '\0';
	if (fs_path_in_mount(fs, line, rel, sizeof(rel)) ||
	    fs_path_split(rel, parts, 4) != 4 ||
	    strcmp(parts[0], "experiments") || strcmp(parts[2], "runs"))
		return mlfs_fail(err, -EINVAL, "'%s' is not a run: write experiments/EXP/runs/RUN", line);
	memcpy(exp, parts[1], FS_NAME_MAX + 1);
	memcpy(run, parts[3], FS_NAME_MAX + 1);
	snprintf(line, sizeof(line), "/%s", rel);
	return fs_caller_may_name(fs, line, err);
}

static int register_validate(struct fs *fs, const struct node *n,
			     const char *req, size_t len,
			     struct mlfs_err *err)
{
	char exp[FS_NAME_MAX + 1], run[FS_NAME_MAX + 1];
	int rc = request_run(fs, req, len, exp, run, err);
	return rc ? rc : registry_register_check(fs->store, n->arg[0], exp, run, err);
}

static int register_exchange(struct fs *fs, const struct node *n,
			     const char *req, size_t len, struct buf *response,
			     struct mlfs_err *err)
{
	char exp[FS_NAME_MAX + 1], run[FS_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	uint64_t v;
	int rc = request_run(fs, req, len, exp, run, err);
	fs_caller(&uid, &gid);
	if (!rc)
		rc = registry_register(fs->store, n->arg[0], exp, run, uid, &v, err);
	if (!rc) {
		buf_printf(response, "%" PRIu64 "\n", v);
		fs_namespace_changed(fs);
	}
	return rc;
}

static const struct node_ops register_ops = {
	.kind = NK_EXCHANGE, .perm = 0666, .max_request = FS_PATH_MAX,
	.validate = register_validate, .exchange = register_exchange,
};

/* ---- history.csv and latest ---- */

static int history_get(struct fs *fs, const struct node *n, struct buf *out,
		       struct mlfs_err *err)
{
	return registry_history_csv(fs->store, n->arg[0], out);
}

static const struct node_ops history_ops = {
	.kind = NK_VIEW, .perm = 0444, .get = history_get,
};

static int latest_readlink(struct fs *fs, const struct node *n,
			   struct buf *out)
{
	struct registry_model m;
	int rc = registry_model_get(fs->store, n->arg[0], &m);
	if (!rc && !m.latest)
		rc = -ENOENT;
	if (!rc)
		buf_printf(out, "versions/%" PRIu64, m.latest);
	return rc;
}

static const struct node_ops latest_ops = {
	.kind = NK_SYMLINK, .perm = 0777, .readlink = latest_readlink,
};

/* ---- a version: versions/N/ ---- */

static int version_text_get(struct fs *fs, const struct node *n,
			    struct buf *out, struct mlfs_err *err)
{
	return registry_version_text(fs->store, n->arg[0], node_version(n),
				     n->ops->data, out);
}

#define VERSION_VIEW(var, file)						\
static const struct node_ops var = {					\
	.kind = NK_VIEW, .perm = 0444, .data = file,			\
	.get = version_text_get,					\
}
VERSION_VIEW(features_yaml_ops, "features.yaml");
VERSION_VIEW(signature_ops, "signature");
VERSION_VIEW(metrics_ops, "metrics.csv");
VERSION_VIEW(created_ops, "created");
VERSION_VIEW(status_ops, "status");
VERSION_VIEW(stage_ops, "stage");
VERSION_VIEW(aliases_ops, "aliases");

/* run: the source run, relative, from /models/M/versions/N/run. */
static int run_readlink(struct fs *fs, const struct node *n, struct buf *out)
{
	struct registry_version v;
	int rc = registry_version_get(fs->store, n->arg[0], node_version(n), &v);
	if (!rc)
		buf_printf(out, "../../../../experiments/%s/runs/%s", v.exp, v.run);
	return rc;
}

static const struct node_ops run_link_ops = {
	.kind = NK_SYMLINK, .perm = 0777, .readlink = run_readlink,
};

/* score: batch scoring with this version (through an alias too: the
 * alias is a link to versions/N).  cp rows.csv score; cat score. */
static int score_open(struct fs *fs, const struct node *n, void **sess,
		      struct mlfs_err *err)
{
	return batch_open(fs->store, n->arg[0], node_version(n),
			  (struct batch **)sess, err);
}

static int score_write(void *sess, const char *data, size_t len,
		       struct mlfs_err *err)
{
	return batch_write(sess, data, len, err);
}

static int score_finish(void *sess, int *fd, struct mlfs_err *err)
{
	int rc = batch_finish(sess, err);
	*fd = rc ? -1 : batch_spool_fd(sess);
	return rc;
}

static void score_free(void *sess)
{
	batch_free(sess);
}

static const struct exchange_stream score_stream = {
	.open = score_open, .write = score_write, .finish = score_finish,
	.free = score_free,
};

static const struct node_ops score_ops = {
	.kind = NK_EXCHANGE, .perm = 0666, .stream = &score_stream,
};

static const struct fs_entry version_files[] = {
	{ "aliases", &aliases_ops },
	{ "created", &created_ops },
	{ "description", &description_ops },
	{ "features.yaml", &features_yaml_ops },
	{ "metrics.csv", &metrics_ops },
	{ "model", &ns_frozen_dir },
	{ "run", &run_link_ops },
	{ "score", &score_ops },
	{ "signature", &signature_ops },
	{ "stage", &stage_ops },
	{ "status", &status_ops },
	{ "tags", &tags_ops },
	{ NULL, NULL },
};

static int version_lookup(struct fs *fs, const struct node *dir,
			  const char *name, struct node *out)
{
	struct registry_version v;
	int rc = registry_version_get(fs->store, dir->arg[0], node_version(dir), &v);
	if (!rc)
		rc = fs_dir_lookup(fs, dir, name, out);
	if (!rc && out->ops == &ns_frozen_dir)
		out->id = v.model_dir;
	return rc;
}

/* rm -r versions/N unlinks its files first: they go with the version. */
static const struct node_ops version_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = version_lookup, .list = fs_dir_list,
	.children = version_files, .children_go_with_dir = true,
};

/* ---- versions/ ---- */

static int versions_lookup(struct fs *fs, const struct node *dir,
			   const char *name, struct node *out)
{
	struct registry_version v;
	uint64_t n;
	if (!parse_version(name, &n) ||
	    registry_version_get(fs->store, dir->arg[0], n, &v))
		return -ENOENT;
	node_object(out, dir, name, &version_dir_ops, 1);
	return 0;
}

struct version_lister {
	fs_add_fn add;
	void *ctx;
};

static int add_version(void *ctx, uint64_t version)
{
	struct version_lister *l = ctx;
	char name[24];
	snprintf(name, sizeof(name), "%" PRIu64, version);
	return l->add(l->ctx, name, true);
}

static int versions_list(struct fs *fs, const struct node *dir, fs_add_fn add,
			 void *ctx)
{
	struct version_lister l = { add, ctx };
	return registry_version_list(fs->store, dir->arg[0], add_version, &l);
}

static int versions_rmdir(struct fs *fs, const struct node *dir,
			  const char *name, struct mlfs_err *err)
{
	uint64_t n;
	if (!parse_version(name, &n))
		return -ENOENT;
	return registry_version_delete(fs->store, dir->arg[0], n, err);
}

static const struct node_ops versions_dir_ops = {
	.kind = NK_DIR, .perm = 0755,
	.lookup = versions_lookup, .list = versions_list,
	.rmdir = versions_rmdir,
};

/* ---- aliases ---- */

static int alias_readlink(struct fs *fs, const struct node *n,
			  struct buf *out)
{
	uint64_t v;
	int rc = registry_alias_get(fs->store, n->arg[0], n->arg[1], &v);
	if (!rc)
		buf_printf(out, "versions/%" PRIu64, v);
	return rc;
}

static int alias_remove(struct fs *fs, const struct node *n,
			struct mlfs_err *err)
{
	uid_t uid;
	gid_t gid;
	fs_caller(&uid, &gid);
	return registry_alias_remove(fs->store, n->arg[0], n->arg[1], uid, err);
}

static const struct node_ops alias_ops = {
	.kind = NK_SYMLINK, .perm = 0777,
	.readlink = alias_readlink, .remove = alias_remove,
};

/* The version TARGET names for model MODEL: versions/N, relative to the
 * model's folder (./versions/N, ../MODEL/versions/N) or absolute (inside
 * the mount or under the mount point). */
static int target_version(struct fs *fs, const char *model, const char *target,
			  uint64_t *v, struct mlfs_err *err)
{
	char rel[FS_PATH_MAX], parts[4][FS_NAME_MAX + 1];
	const char *t = target;
	int np, first = 0;	/* parts[first] is "versions" */
	if (t[0] == '/') {
		if (fs_path_in_mount(fs, t, rel, sizeof(rel)))
			rel[0] = '\0';
		first = 2;		/* models/MODEL/versions/N */
	} else {
		while (t[0] == '.' && t[1] == '/')
			t += 2;
		if (!strncmp(t, "../", 3)) {
			t += 3;
			first = 1;	/* ../MODEL/versions/N */
		}
		snprintf(rel, sizeof(rel), "%s", t);
		size_t n = strlen(rel);
		while (n && rel[n - 1] == '/')
			rel[--n] = '\0';
	}
	np = rel[0] ? fs_path_split(rel, parts, 4) : -1;
	if (np != first + 2 || strcmp(parts[first], "versions") ||
	    (first == 2 && strcmp(parts[0], "models")))
		return mlfs_fail(err, -EINVAL, "an alias points at versions/N of its model, not at '%s'", target);
	if (first && strcmp(parts[first - 1], model))
		return mlfs_fail(err, -EINVAL, "'%s' is outside model '%s': an alias points at its own model's versions", target, model);
	struct registry_version rv;
	if (!parse_version(parts[first + 1], v) ||
	    registry_version_get(fs->store, model, *v, &rv))
		return mlfs_fail(err, -EINVAL, "model '%s' has no version '%s'", model, parts[first + 1]);
	return 0;
}

static int model_symlink(struct fs *fs, const struct node *dir,
			 const char *name, const char *target,
			 struct mlfs_err *err)
{
	uint64_t v;
	uid_t uid;
	gid_t gid;
	int rc = target_version(fs, dir->arg[0], target, &v, err);
	if (rc)
		return rc;
	if (fs_templink_name(name))
		return -EPERM;	/* held until renamed onto the alias */
	fs_caller(&uid, &gid);
	return registry_alias_set(fs->store, dir->arg[0], name, v, uid, err);
}

static int model_rename(struct fs *fs, const struct node *dir,
			const char *name, const struct node *newdir,
			const char *newname, unsigned int flags,
			struct mlfs_err *err)
{
	struct node child;
	uid_t uid;
	gid_t gid;
	if (strcmp(dir->arg[0], newdir->arg[0]))
		return mlfs_fail(err, -EPERM, "an alias stays in its model's folder");
	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;
	if (fs_dir_lookup(fs, dir, name, &child) == 0)
		return mlfs_fail(err, -EPERM, "'%s' cannot be renamed: only aliases move", name);
	fs_caller(&uid, &gid);
	return registry_alias_rename(fs->store, dir->arg[0], name, newname,
				     flags & RENAME_NOREPLACE, uid, err);
}

/* ---- /models/NAME ---- */

static const struct fs_entry model_files[] = {
	{ "description", &description_ops },
	{ "history.csv", &history_ops },
	{ "latest", &latest_ops },
	{ "register", &register_ops },
	{ "tags", &tags_ops },
	{ "versions", &versions_dir_ops },
	{ NULL, NULL },
};

static int model_lookup(struct fs *fs, const struct node *dir,
			const char *name, struct node *out)
{
	uint64_t v;
	int rc = fs_dir_lookup(fs, dir, name, out);
	if (!rc && out->ops == &latest_ops) {
		struct buf b = { 0 };
		rc = latest_readlink(fs, out, &b);
		buf_free(&b);
	}
	if (rc != -ENOENT || registry_alias_reserved(name))
		return rc;
	if (!names_valid(name) || registry_alias_get(fs->store, dir->arg[0], name, &v))
		return -ENOENT;
	node_child(out, dir, name, &alias_ops);
	snprintf(out->arg[1], sizeof(out->arg[1]), "%s", name);
	return 0;
}

struct alias_lister {
	fs_add_fn add;
	void *ctx;
};

static int add_alias(void *ctx, const char *alias, uint64_t version)
{
	struct alias_lister *l = ctx;
	return l->add(l->ctx, alias, false);
}

static int model_list(struct fs *fs, const struct node *dir, fs_add_fn add,
		      void *ctx)
{
	struct registry_model m;
	struct alias_lister l = { add, ctx };
	int rc = registry_model_get(fs->store, dir->arg[0], &m);
	for (const struct fs_entry *e = model_files; !rc && e->name; e++)
		if (e->ops != &latest_ops || m.latest)
			rc = add(ctx, e->name, e->ops->kind == NK_DIR);
	return rc ? rc : registry_alias_list(fs->store, dir->arg[0], add_alias, &l);
}

/* The model's creator, mode and creation time, from its record. */
static int model_owner(struct fs *fs, const struct node *n, uid_t *uid,
		       gid_t *gid, mode_t *mode, int64_t *ctime_ns)
{
	struct registry_model m;
	int rc = registry_model_get(fs->store, n->arg[0], &m);
	if (rc)
		return rc;
	*uid = m.uid;
	*gid = m.gid;
	*mode = m.mode;
	*ctime_ns = m.created_ms * 1000000;
	return 0;
}

/* rm -r of a model removes its aliases, then its versions, then it. */
static const struct node_ops model_dir_ops = {
	.kind = NK_DIR, .perm = 0755, .owner = model_owner,
	.lookup = model_lookup, .list = model_list, .children = model_files,
	.children_go_with_dir = true,
	.symlink = model_symlink, .rename = model_rename,
};

/* ---- /models ---- */

static bool model_exists(struct store *s, const char *name)
{
	struct registry_model m;
	return registry_model_get(s, name, &m) == 0;
}

static const struct fs_collection models = {
	.exists = model_exists, .list = registry_model_list,
	.make = registry_model_create, .remove = registry_model_delete,
	.child = &model_dir_ops,
};

/* Like /tmp: anyone may register a model, only its owner may delete it. */
const struct node_ops ns_models_dir = {
	.kind = NK_DIR, .perm = 01777, .data = &models,
	.lookup = fs_collection_lookup, .list = fs_collection_list,
	.mkdir = fs_collection_mkdir, .rmdir = fs_collection_rmdir,
};
